"""The hidden brain: each voxel is a fixed random mix of its region's features plus noise.

For a region with standardised feature matrix ``Z`` (n_videos, n_features) a voxel's
noise-free response is ``clean = gain * standardise(Z @ w) + offset`` with voxel-specific
weights ``w``. Early visual voxels (V1-V3, partly V4) have a receptive field: ``w``
is a Gaussian bump over a retinotopic grid of edge energies times a random
orientation preference, wider up the hierarchy. Each repetition adds Gaussian noise
of standard deviation ``gain * sigma``, with ``sigma`` set from a target noise ceiling

    ceiling = var(clean) / (var(clean) + noise_var / k) = 1 / (1 + sigma**2 / k)

for the mean of the ``k`` train repetitions, so ``sigma = sqrt(k * (1 / ceiling - 1))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator.features import EDGE_BLOCKS
from simulator.sprites import KINDS


@dataclass(frozen=True)
class RegionModel:
    """What drives a region.

    Attributes
    ----------
    description : one sentence for ``meta.json``
    edges : retinotopic block name (see ``features.EDGE_BLOCKS``) or None
    rf_sigma : receptive-field width in frame sides
    scalars : ``{feature: (mean, sd)}`` of the voxel weights on scalar features
    edge_share : weight of the retinotopic part relative to the scalar part (both standardised)
    ceiling_range : voxel noise ceilings are drawn uniformly from this range
    """

    description: str
    edges: str | None = None
    rf_sigma: float = 0.0
    scalars: dict[str, tuple[float, float]] = field(default_factory=dict)
    edge_share: float = 1.0
    ceiling_range: tuple[float, float] = (0.1, 0.8)


REGIONS: dict[str, RegionModel] = {
    "V1": RegionModel(
        "Oriented edge energy (fine scale) in small receptive fields on a 6x6 retinotopic grid.",
        edges="edges_fine", rf_sigma=0.1, ceiling_range=(0.3, 0.8)),
    "V2": RegionModel(
        "Oriented edge energy at two scales in medium receptive fields (4x4 grid), "
        "a little object area.",
        edges="edges_mid", rf_sigma=0.18, scalars={"fg_area": (0.0, 0.5)}, edge_share=0.85,
        ceiling_range=(0.3, 0.8)),
    "V3": RegionModel(
        "Coarse-scale edge energy in large receptive fields (3x3 grid), "
        "plus image motion and object area.",
        edges="edges_coarse", rf_sigma=0.3,
        scalars={"pixel_motion": (0.5, 0.3), "fg_area": (0.0, 0.5)}, edge_share=0.7,
        ceiling_range=(0.25, 0.75)),
    "V4": RegionModel(
        "Mid-level shape: curved vs angular vs spiky vs elongated object area, "
        "plus coarse edges in quadrant-sized receptive fields.",
        edges="edges_v4", rf_sigma=0.45,
        scalars={"curved_area": (0.6, 0.6), "angular_area": (0.3, 0.6), "spiky_area": (0.3, 0.6),
                 "elongated_area": (0.2, 0.5), "object_size": (0.2, 0.3)},
        edge_share=0.5, ceiling_range=(0.2, 0.7)),
    "LOC": RegionModel(
        "Objects regardless of position: visible area of each object kind (voxels prefer different "
        "kinds), number and size of objects.",
        scalars={"fg_area": (0.8, 0.3), "n_objects": (0.4, 0.3), "object_size": (0.3, 0.3),
                 **{f"{kind}_area": (0.2, 0.6) for kind in KINDS}},
        ceiling_range=(0.15, 0.65)),
    "EBA": RegionModel(
        "Bodies: visible body area and count, more when they walk; faces weakly.",
        scalars={"body_area": (1.0, 0.3), "body_count": (0.6, 0.3), "body_motion": (0.4, 0.3),
                 "face_area": (0.15, 0.2)},
        ceiling_range=(0.15, 0.7)),
    "FFA": RegionModel(
        "Faces: visible face area and count; bodies and other objects weakly.",
        scalars={"face_area": (1.0, 0.3), "face_count": (0.6, 0.3), "body_area": (0.2, 0.2),
                 "fg_area": (0.1, 0.2)},
        ceiling_range=(0.15, 0.7)),
    "STS": RegionModel(
        "Motion: frame-to-frame image change, object speed, walking bodies, background motion; "
        "faces weakly.",
        scalars={"pixel_motion": (0.8, 0.3), "object_motion": (0.7, 0.3), "body_motion": (0.5, 0.3),
                 "background_speed": (0.3, 0.3), "face_area": (0.3, 0.3)},
        ceiling_range=(0.1, 0.55)),
    "PPA": RegionModel(
        "Places: landscape backgrounds, visible buildings, ground-plane structure; "
        "less when objects cover the view.",
        scalars={"place": (1.0, 0.3), "house_area": (0.5, 0.3), "ground_edges": (0.3, 0.3),
                 "fg_area": (-0.3, 0.2)},
        ceiling_range=(0.15, 0.7)),
}

#: Whole-brain voxels outside the nine regions: half carry no signal, half a weak random mix.
EXTRA_SIGNAL_SHARE = 0.5
EXTRA_CEILING_RANGE = (0.02, 0.15)


def standardise(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Z-score along ``axis`` (ddof 0); constant columns become 0."""
    x = np.asarray(x, np.float64)
    sd = x.std(axis=axis, keepdims=True)
    centred = x - x.mean(axis=axis, keepdims=True)
    return np.divide(centred, sd, out=np.zeros_like(x), where=sd > 1e-12)


def _grid_centres(grid: int) -> np.ndarray:
    """(grid * grid, 2) cell centres (x, y) in frame sides, row-major like the feature blocks."""
    c = (np.arange(grid) + 0.5) / grid
    gy, gx = np.meshgrid(c, c, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], 1)


def receptive_field_weights(rng: np.random.Generator, n_channels: int, grid: int, sigma: float,
                            n_voxels: int) -> np.ndarray:
    """Weights (n_channels * grid * grid, n_voxels) on a block of shape (n_channels, grid, grid):
    a Gaussian bump at a random position times a positive random channel preference."""
    centres = rng.uniform(0.05, 0.95, (n_voxels, 2))
    d2 = ((_grid_centres(grid)[None] - centres[:, None]) ** 2).sum(-1)  # (n_voxels, cells)
    bump = np.exp(-d2 / (2 * sigma**2))
    preference = np.abs(rng.normal(1.0, 0.6, (n_voxels, n_channels)))
    return (preference[:, :, None] * bump[:, None, :]).reshape(n_voxels, -1).T


def region_signal(rng: np.random.Generator, model: RegionModel, features: dict[str, np.ndarray],
                  n_voxels: int) -> np.ndarray:
    """Standardised noise-free responses (n_videos, n_voxels) of one region.

    ``features``: ``{name: (n_videos, ...)}`` as from :func:`features.stack`.
    """
    parts, shares = [], []
    if model.edges is not None:
        block = features[model.edges]
        n_channels, grid = block.shape[1], EDGE_BLOCKS[model.edges][1]
        z = standardise(block.reshape(len(block), -1))
        w = receptive_field_weights(rng, n_channels, grid, model.rf_sigma, n_voxels)
        parts.append(standardise(z @ w))
        shares.append(model.edge_share)
    if model.scalars:
        z = standardise(np.stack([features[k] for k in model.scalars], 1))
        mean, sd = np.array(list(model.scalars.values())).T
        w = mean[:, None] + sd[:, None] * rng.standard_normal((len(mean), n_voxels))
        parts.append(standardise(z @ w))
        shares.append(1.0 - model.edge_share if model.edges is not None else 1.0)
    return standardise(sum(s * p for s, p in zip(shares, parts)))


def extra_signal(rng: np.random.Generator, features: dict[str, np.ndarray],
                 n_voxels: int) -> np.ndarray:
    """Weak-signal whole-brain voxels outside the regions: standardised random mixes of all
    features (n_videos, n_voxels), or all-zero columns for voxels without signal."""
    z = standardise(np.concatenate([v.reshape(len(v), -1) for v in features.values()], 1))
    signal = standardise(z @ rng.standard_normal((z.shape[1], n_voxels)))
    signal[:, rng.random(n_voxels) >= EXTRA_SIGNAL_SHARE] = 0.0
    return signal


def noise_sd_for_ceiling(ceiling: np.ndarray, n_averaged: int) -> np.ndarray:
    """Noise standard deviation per repetition that gives ``ceiling`` for a unit-variance signal."""
    ceiling = np.asarray(ceiling, np.float64)
    return np.sqrt(n_averaged * (1.0 / ceiling - 1.0))


def true_ceiling(clean: np.ndarray, noise_sd: np.ndarray, n_averaged: int) -> np.ndarray:
    """``var(clean) / (var(clean) + noise_sd**2 / n_averaged)`` per voxel (n_voxels,).

    ``clean`` (n_videos, n_voxels); ``noise_sd`` (n_voxels,), of one repetition.
    """
    var = np.asarray(clean, np.float64).var(axis=0)
    return var / (var + np.asarray(noise_sd, np.float64) ** 2 / n_averaged)


def add_noise(rng: np.random.Generator, clean: np.ndarray, noise_sd: np.ndarray,
              n_repetitions: int) -> np.ndarray:
    """Noisy repetitions (n_videos, n_repetitions, n_voxels) of ``clean`` (n_videos, n_voxels)."""
    noise = rng.standard_normal((clean.shape[0], n_repetitions, clean.shape[1]))
    return (clean[:, None, :] + noise * noise_sd).astype(np.float32)
