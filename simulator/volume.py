"""Where whole-brain voxels sit: a cortex-like shell with each region as a bilateral blob.

Axes of the volume follow the release's ``voxel_mask``: x (left-right), y
(posterior-anterior), z (inferior-superior). The "brain" is the ellipsoid filling
~92% of the volume; voxels are taken from its outer shell (the "cortex"). Each region
is the set of free shell voxels nearest its two (mirrored) centres; the remaining
whole-brain voxels are those nearest the occipital pole, so the mask is a posterior
cap around the visual regions, like a visual-cortex-heavy selection of reliable voxels.
"""

from __future__ import annotations

import numpy as np

#: Region centres (right hemisphere; left mirrors x) as directions from the brain centre.
ROI_DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "V1": (0.08, -1.0, 0.05),
    "V2": (0.2, -0.95, 0.2),
    "V3": (0.32, -0.9, 0.35),
    "V4": (0.35, -0.8, -0.35),
    "LOC": (0.7, -0.7, 0.0),
    "EBA": (0.85, -0.5, 0.15),
    "FFA": (0.45, -0.45, -0.75),
    "STS": (0.95, -0.1, 0.15),
    "PPA": (0.3, -0.3, -0.9),
}
_RADIUS = 0.46  # ellipsoid semi-axes as a fraction of the volume's sides
_SHELL = (0.72, 1.0)  # normalised radii of the "cortex"


def shell_voxels(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (n,) of the shell voxels in C order, and their normalised coordinates (n, 3)."""
    shape = tuple(int(s) for s in shape)
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    q = np.stack([(g.ravel() + 0.5 - s / 2) / (_RADIUS * s) for g, s in zip(grids, shape)], 1)
    r = np.sqrt((q**2).sum(1))
    inside = (r >= _SHELL[0]) & (r <= _SHELL[1])
    return np.flatnonzero(inside), q[inside]


def place_voxels(
    rng: np.random.Generator, counts: dict[str, int], n_wb: int, shape: tuple[int, int, int]
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Choose every whole-brain voxel's place.

    Parameters
    ----------
    counts : ``{roi: n_voxels}`` for the regions in ``ROI_DIRECTIONS``
    n_wb : total whole-brain voxels, at least ``sum(counts.values())``

    Returns
    -------
    mask : bool (X, Y, Z), ``mask.sum() == n_wb``
    roi_columns : ``{roi: int array (n_voxels,)}``, increasing column indices of the region's
        voxels in the whole-brain arrays (columns follow the mask's C order)
    extra_columns : int array (n_wb - n_roi_voxels,), columns of the voxels outside the regions
    """
    flat, q = shell_voxels(shape)
    n_roi = sum(counts.values())
    if n_wb < n_roi:
        raise ValueError(f"n_wb={n_wb} is smaller than the {n_roi} region voxels it must contain")
    if n_wb > len(flat):
        raise ValueError(f"wb_volume_shape {tuple(shape)} has room for {len(flat)} cortex voxels, "
                         f"but {n_wb} are needed: enlarge it or lower voxel_scale")
    free = np.ones(len(flat), bool)
    scale = np.asarray(shape, np.float64) * _RADIUS  # normalised -> voxel units
    chosen: dict[str, np.ndarray] = {}
    for roi, n in counts.items():
        direction = np.asarray(ROI_DIRECTIONS[roi], np.float64)
        centre = direction / np.linalg.norm(direction) * np.mean(_SHELL) + rng.normal(0, 0.03, 3)
        picks = []
        n_right = n // 2 + (n % 2) * int(rng.integers(2))
        for hemi_n, sign in ((n_right, 1.0), (n - n_right, -1.0)):
            c = centre * [sign, 1.0, 1.0]
            dist = np.sqrt((((q - c) * scale) ** 2).sum(1)) + rng.uniform(0, 0.7, len(q))
            dist[~free] = np.inf
            pick = np.argsort(dist, kind="stable")[:hemi_n]
            free[pick] = False
            picks.append(pick)
        chosen[roi] = np.concatenate(picks)
    pole = np.array([0.0, -1.0, 0.0])
    dist = np.sqrt((((q - pole) * scale) ** 2).sum(1)) + rng.uniform(0, 1.5, len(q))
    dist[~free] = np.inf
    extra = np.argsort(dist, kind="stable")[: n_wb - n_roi]

    wb_flat = np.sort(np.concatenate([flat[p] for p in chosen.values()] + [flat[extra]]))
    mask = np.zeros(int(np.prod(shape)), bool)
    mask[wb_flat] = True
    roi_columns = {roi: np.sort(np.searchsorted(wb_flat, flat[p])) for roi, p in chosen.items()}
    extra_columns = np.sort(np.searchsorted(wb_flat, flat[extra]))
    return mask.reshape(shape), roi_columns, extra_columns
