"""Per-voxel noise ceilings from repeated measurements.

The ceiling is the reliability of the repetition-averaged response: the share
of its variance across videos that is stimulus-driven. It is estimated as the
split-half reliability of single repetitions, the mean Pearson r across videos
over all pairs of repetitions ``rho``, corrected with Spearman-Brown to the
number of repetitions averaged:

    rho_k = k * rho / (1 + (k - 1) * rho)

For two repetitions this is exactly the classic split-half estimate; for
three (the release's train set) every repetition pair is one split. A
voxel whose repetitions do not agree (``rho <= 0``) gets ``rho_k <= 0``: it
cannot be noise-normalised, and scoring excludes it (see
``lightning_modules/metrics.py``).
"""

from __future__ import annotations

import itertools

import numpy as np


def _columnwise_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of matching columns, ``(n_videos, n_voxels)`` twice -> ``(n_voxels,)``.

    Columns that are constant in either input give r = 0.
    """
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denom = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    num = (a * b).sum(axis=0)
    return np.divide(num, denom, out=np.zeros_like(num), where=denom > 0)


def spearman_brown(rho: np.ndarray, k: float) -> np.ndarray:
    """Reliability of the mean of ``k`` measurements whose single reliability is ``rho``."""
    rho = np.asarray(rho, dtype=np.float64)
    return k * rho / (1.0 + (k - 1.0) * rho)


def noise_ceiling(responses: np.ndarray, n_averaged: int | None = None) -> np.ndarray:
    """Noise ceiling of each voxel.

    Parameters
    ----------
    responses : array of shape (n_videos, n_repetitions, n_voxels)
        Measured responses; NaN entries (a missing repetition) are ignored pairwise.
    n_averaged : int, optional
        Number of repetitions the target averages; defaults to ``n_repetitions``.

    Returns
    -------
    ceiling : array of shape (n_voxels,), float64
        Spearman-Brown-corrected split-half reliability; may be <= 0 for
        unreliable voxels.
    """
    responses = np.asarray(responses, dtype=np.float64)
    if responses.ndim != 3:
        raise ValueError(f"responses must be (n_videos, n_repetitions, n_voxels), got {responses.shape}")
    n_videos, n_reps, _ = responses.shape
    if n_reps < 2:
        raise ValueError(f"a noise ceiling needs at least 2 repetitions, got {n_reps}")
    if n_videos < 3:
        raise ValueError(f"a noise ceiling needs at least 3 videos, got {n_videos}")
    pair_r = []
    for i, j in itertools.combinations(range(n_reps), 2):
        a, b = responses[:, i], responses[:, j]
        if np.isnan(a).any() or np.isnan(b).any():
            # Each voxel's correlation over the videos where both repetitions exist.
            both = ~(np.isnan(a) | np.isnan(b))
            r = np.array([_columnwise_r(a[both[:, v], v : v + 1], b[both[:, v], v : v + 1])[0]
                          for v in range(a.shape[1])])
        else:
            r = _columnwise_r(a, b)
        pair_r.append(r)
    rho = np.mean(pair_r, axis=0)
    return spearman_brown(rho, n_reps if n_averaged is None else n_averaged)
