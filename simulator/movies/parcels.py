"""The hidden brain of the movie simulator: Schaefer-style parcels in seven networks.

Each parcel is a fixed random mix of the frame features (:func:`simulator.features.frame_features`)
as one of the clip simulator's regions mixes them (:data:`simulator.brain.REGIONS`): visual
parcels have retinotopic receptive fields on edge energy, the others weigh object, body, face,
motion and place features. Networks differ in which regions they borrow and in how much of
their measured series is signal (:data:`NETWORKS`).

Noise is calibrated by the best attainable score: per parcel, the target ``c`` is the Pearson r
between the noise-free series and a measured one (what a perfect model would score). With a
unit-variance signal that needs noise of standard deviation ``sqrt(1 / c**2 - 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator import brain
from simulator.features import EDGE_BLOCKS, SCALARS

#: Schaefer's seven networks in its label order: (share of parcels, ceiling relative to the
#: mean, the clip simulator's regions whose feature mixes its parcels take). Shares are those of
#: the 1000-parcel atlas, roughly; visual parcels are the most reliable in movie fMRI, limbic the
#: least.
NETWORKS: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "Vis": (0.15, 1.5, ("V1", "V2", "V3", "V4")),
    "SomMot": (0.19, 0.9, ("EBA", "STS")),
    "DorsAttn": (0.13, 1.25, ("LOC", "STS", "V4")),
    "SalVentAttn": (0.12, 0.9, ("STS", "LOC")),
    "Limbic": (0.06, 0.4, ("PPA",)),
    "Cont": (0.13, 0.75, ("LOC", "FFA")),
    "Default": (0.22, 0.9, ("FFA", "PPA", "EBA")),
}
#: Beta concentration (a + b) of the per-parcel ceilings around their network's mean.
CEILING_CONCENTRATION = 12.0
MAX_CEILING = 0.9


def feature_slices() -> dict[str, slice]:
    """Where each frame feature sits in the flattened vector, in ``frame_features`` order."""
    out, start = {}, 0
    for name, (scales, grid) in EDGE_BLOCKS.items():
        size = len(scales) * 4 * grid * grid  # 4 orientations per scale
        out[name] = slice(start, start + size)
        start += size
    for name in SCALARS:
        out[name] = slice(start, start + 1)
        start += 1
    return out


def feature_names() -> list[str]:
    names = []
    for name, sl in feature_slices().items():
        size = sl.stop - sl.start
        names += [name] if size == 1 else [f"{name}_{i}" for i in range(size)]
    return names


def flatten_features(features: dict[str, np.ndarray]) -> np.ndarray:
    """``frame_features`` output -> float32 (n_frames, n_features), :func:`feature_slices` order."""
    return np.concatenate([np.asarray(features[k], np.float32).reshape(len(features[k]), -1)
                           for k in feature_slices()], 1)


@dataclass
class Parcels:
    """Names, networks and mixing weights of the parcels.

    Attributes
    ----------
    names : ``7Networks_LH_Vis_1`` style, (n_parcels,)
    networks : network of each parcel, (n_parcels,)
    regions : the region model each parcel borrows, (n_parcels,)
    weights : float64 (n_features, n_parcels) on standardised features; each parcel's signal
        ``z @ weights`` has unit variance over the frames its covariance came from
    """

    names: list[str]
    networks: list[str]
    regions: list[str]
    weights: np.ndarray


def network_counts(n_per_hemisphere: int) -> dict[str, int]:
    """Parcels per network in one hemisphere: the shares, at least one each (largest remainder)."""
    shares = np.array([s for s, _, _ in NETWORKS.values()])
    raw = shares / shares.sum() * (n_per_hemisphere - len(NETWORKS))
    counts = np.floor(raw).astype(int)
    counts[np.argsort(counts - raw)[: n_per_hemisphere - len(NETWORKS) - counts.sum()]] += 1
    return dict(zip(NETWORKS, (counts + 1).tolist(), strict=True))


def make_parcels(rng: np.random.Generator, n_parcels: int, correlation: np.ndarray) -> Parcels:
    """Draw every parcel's network and feature weights.

    ``correlation`` (n_features, n_features): the frame features' correlation matrix over the
    whole release, so each part of a parcel's mix can be scaled to unit variance.
    """
    slices = feature_slices()
    names, networks, regions, columns = [], [], [], []
    for hemi in ("LH", "RH"):
        for network, count in network_counts(n_parcels // 2).items():
            for i in range(count):
                region = str(rng.choice(NETWORKS[network][2]))
                names.append(f"7Networks_{hemi}_{network}_{i + 1}")
                networks.append(network)
                regions.append(region)
                columns.append(_region_weights(rng, brain.REGIONS[region], slices, correlation))
    return Parcels(names, networks, regions, np.stack(columns, 1))


def _unit(w: np.ndarray, correlation: np.ndarray) -> np.ndarray:
    var = float(w @ correlation @ w)
    return w / np.sqrt(var) if var > 1e-12 else w * 0.0


def _region_weights(rng, model: brain.RegionModel, slices: dict[str, slice],
                    correlation: np.ndarray) -> np.ndarray:
    n = correlation.shape[0]
    total = np.zeros(n)
    if model.edges is not None:
        w = np.zeros(n)
        n_scales, grid = len(EDGE_BLOCKS[model.edges][0]), EDGE_BLOCKS[model.edges][1]
        w[slices[model.edges]] = brain.receptive_field_weights(
            rng, n_scales * 4, grid, model.rf_sigma, 1)[:, 0]
        total += model.edge_share * _unit(w, correlation)
    if model.scalars:
        w = np.zeros(n)
        for name, (mean, sd) in model.scalars.items():
            w[slices[name]] = mean + sd * rng.standard_normal()
        share = 1.0 - model.edge_share if model.edges is not None else 1.0
        total += share * _unit(w, correlation)
    return _unit(total, correlation)


def draw_ceilings(rng: np.random.Generator, networks: list[str], mean_ceiling: float) -> np.ndarray:
    """Per-parcel best attainable r (n_parcels,): Beta around ``mean_ceiling`` times the network's
    relative level, the levels normalised so the expected mean over parcels is ``mean_ceiling``."""
    level = np.array([NETWORKS[n][1] for n in networks])
    mean = np.clip(mean_ceiling * level / level.mean(), 0.02, MAX_CEILING - 0.02)
    a = mean * CEILING_CONCENTRATION
    return np.clip(rng.beta(a, CEILING_CONCENTRATION - a), 0.01, MAX_CEILING)


def noise_sd(ceiling: np.ndarray) -> np.ndarray:
    """Noise SD giving ``r(clean, clean + noise) = ceiling`` for a unit-variance clean series."""
    c = np.asarray(ceiling, np.float64)
    return np.sqrt(1.0 / c**2 - 1.0)


def ar1_noise(rng: np.random.Generator, n_trs: int, sd: np.ndarray, rho: float) -> np.ndarray:
    """Stationary AR(1) noise (n_trs, n_parcels) with per-parcel SD ``sd`` and lag-one
    autocorrelation ``rho``."""
    e = rng.standard_normal((n_trs, len(sd)))
    out = np.empty_like(e)
    out[0] = e[0]
    scale = np.sqrt(1 - rho**2)
    for t in range(1, n_trs):
        out[t] = rho * out[t - 1] + scale * e[t]
    return out * sd


def atlas_volume(rng: np.random.Generator, n_parcels: int) -> tuple[np.ndarray, np.ndarray]:
    """A brain-shaped label volume int16 (X, Y, Z): 0 outside, parcels 1..n_parcels inside, the
    first half in the left hemisphere (x below the middle), each network's parcels together
    from the back of the brain (visual) forwards, as Schaefer's order runs. Also its affine
    (2 mm voxels, MNI-like origin)."""
    from scipy.spatial import cKDTree

    side = max(12, int(np.ceil((20 * n_parcels) ** (1 / 3))))
    shape = (side, int(side * 1.2), side)
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1)
    centre = (np.array(shape) - 1) / 2
    inside = (((grid - centre) / (np.array(shape) / 2)) ** 2).sum(-1) <= 1
    coords = grid[inside]
    labels = np.zeros(len(coords), np.int16)
    seeds, seed_labels = [], []
    half = n_parcels // 2
    for h, in_hemi in enumerate((coords[:, 0] < centre[0], coords[:, 0] >= centre[0])):
        candidates = coords[in_hemi]
        chosen = candidates[rng.choice(len(candidates), half, replace=False)]
        seeds.append(chosen[np.argsort(chosen[:, 1], kind="stable")])  # back to front
        seed_labels.append(np.arange(1, half + 1) + h * half)
    tree = cKDTree(np.concatenate(seeds))
    labels[:] = np.concatenate(seed_labels)[tree.query(coords)[1]]
    volume = np.zeros(shape, np.int16)
    volume[tuple(coords.T)] = labels
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = -centre * 2
    return volume, affine
