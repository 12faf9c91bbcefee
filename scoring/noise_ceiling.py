"""Per-voxel noise ceilings from repeated measurements.

The ceiling is the reliability of the repetition-averaged response: the share
of its variance across videos that is stimulus-driven,

    c_k = s2 / (s2 + sigma2 / k)

for signal variance ``s2`` and noise variance ``sigma2`` of one repetition, and
``k`` repetitions averaged. Two estimators (``method``):

``"variance"`` (default)
    Variance components with a small-sample correction. ``sigma2`` is the mean
    over videos of the variance between repetitions (ddof 1); the variance of the
    repetition mean across videos ``v`` (ddof 1) estimates ``s2 + sigma2 / k``; and

        c_k = 1 - (sigma2 / k) * (n - 3) / ((n - 1) * v)

    where ``(n - 3) / (n - 1)`` undoes the bias of ``1 / v`` (for Gaussian
    responses ``E[1 / v] = (n - 1) / (n - 3) / E[v]``), ``n`` the number of videos.
``"pairwise"``
    Round one's estimator: the mean Pearson r across videos over all pairs of
    repetitions ``rho``, corrected with Spearman-Brown to the number averaged,
    ``rho_k = k * rho / (1 + (k - 1) * rho)``.

On the simulator, whose true ceilings are known, the pairwise estimator and
the leaderboard's split-half recipe (:func:`leaderboard_ceiling`) both
underestimate: by 0.04 (a third of the ceiling) on 40 validation videos with
realistic noise, by 0.01-0.016 on the 102 test videos; the corrected variance
estimator is within 0.003 (``benchmarks/noise_ceiling_bias.py``, BENCHMARKS.md).
The whole bias is the small-sample one: with 1000 videos all agree.

Voxels with a missing (NaN) repetition use the pairwise estimator, each pair over
the videos where both exist. :func:`present_mean_ceiling` is the variance estimator for the mean
of the repetitions present (BOLD Moments' test scores): per video and voxel, whatever repetitions
exist are averaged, and the ceiling is that average's reliability.

A voxel whose repetitions do not agree gets a ceiling
``<= 0``: it cannot be noise-normalised, and scoring excludes it (see
``lightning_modules/metrics.py``). A constant voxel gets 0.

:func:`leaderboard_ceiling` is the challenge leaderboard's recipe for the test set's ten
repetitions, for comparison: the repetitions are split into two halves in every way,
the halves' means correlated, each r corrected with ``2r / (1 + r)``, and the corrected
values averaged over splits.
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


def noise_ceiling(responses: np.ndarray, n_averaged: int | None = None,
                  method: str = "variance") -> np.ndarray:
    """Noise ceiling of each voxel.

    Parameters
    ----------
    responses : array of shape (n_videos, n_repetitions, n_voxels)
        Measured responses; NaN entries (a missing repetition) are ignored pairwise.
    n_averaged : int, optional
        Number of repetitions the target averages; defaults to ``n_repetitions``.
    method : ``"variance"`` (default, small-sample corrected) or ``"pairwise"``
        See the module docstring.

    Returns
    -------
    ceiling : array of shape (n_voxels,), float64
        Reliability of the mean of ``n_averaged`` repetitions; may be <= 0 for
        unreliable voxels.
    """
    responses = np.asarray(responses, dtype=np.float64)
    if responses.ndim != 3:
        raise ValueError(f"responses must be (n_videos, n_repetitions, n_voxels), got {responses.shape}")
    n_videos, n_reps, n_voxels = responses.shape
    if n_reps < 2:
        raise ValueError(f"a noise ceiling needs at least 2 repetitions, got {n_reps}")
    if n_videos < 3:
        raise ValueError(f"a noise ceiling needs at least 3 videos, got {n_videos}")
    if method not in ("variance", "pairwise"):
        raise ValueError(f"method must be 'variance' or 'pairwise', got {method!r}")
    k = n_reps if n_averaged is None else n_averaged
    holed = np.isnan(responses).any(axis=(0, 1))
    if method == "pairwise" or holed.all() or n_videos < 4:  # the correction needs n > 3
        return spearman_brown(_mean_pairwise_r(responses), k)
    ceiling = np.empty(n_voxels)
    ceiling[holed] = spearman_brown(_mean_pairwise_r(responses[..., holed]), k)
    c = _variance_ceiling(responses[..., ~holed])
    if k != n_reps:  # back to one repetition's reliability, then forward to k
        c = spearman_brown(c / (n_reps - (n_reps - 1) * c), k)
    ceiling[~holed] = c
    return ceiling


def _variance_ceiling(responses: np.ndarray) -> np.ndarray:
    """Small-sample corrected variance-components ceiling of the mean of all repetitions,
    ``(n_videos, n_repetitions, n_voxels)`` without NaN -> ``(n_voxels,)``; 0 for constant voxels."""
    n, k, _ = responses.shape
    noise = responses.var(axis=1, ddof=1).mean(axis=0) / k
    total = responses.mean(axis=1).var(axis=0, ddof=1)
    varies = total > 1e-12 * (1 + noise)
    ratio = np.divide(noise, total, out=np.zeros_like(noise), where=varies)
    return np.where(varies, 1.0 - ratio * (n - 3) / (n - 1), 0.0)


def _mean_pairwise_r(responses: np.ndarray) -> np.ndarray:
    """Mean Pearson r over all pairs of repetitions, (n_voxels,); NaN entries dropped per pair."""
    pair_r = []
    for i, j in itertools.combinations(range(responses.shape[1]), 2):
        a, b = responses[:, i], responses[:, j]
        if np.isnan(a).any() or np.isnan(b).any():
            # Each voxel's correlation over the videos where both repetitions exist.
            both = ~(np.isnan(a) | np.isnan(b))
            r = np.array([_columnwise_r(a[both[:, v], v : v + 1], b[both[:, v], v : v + 1])[0]
                          for v in range(a.shape[1])])
        else:
            r = _columnwise_r(a, b)
        pair_r.append(r)
    return np.mean(pair_r, axis=0)


def leaderboard_ceiling(responses: np.ndarray) -> np.ndarray:
    """The leaderboard's split-half noise ceiling of the mean of all repetitions.

    Every split of the ``n_repetitions`` (even) into two halves of equal size is used once
    (for 10 repetitions, the 126 distinct 5-vs-5 splits): Pearson r across videos between the
    two halves' means, Spearman-Brown ``2r / (1 + r)``, averaged over the splits.

    Parameters
    ----------
    responses : array of shape (n_videos, n_repetitions, n_voxels), no NaN

    Returns
    -------
    ceiling : array of shape (n_voxels,), float64
    """
    responses = np.asarray(responses, dtype=np.float64)
    if responses.ndim != 3:
        raise ValueError(f"responses must be (n_videos, n_repetitions, n_voxels), got {responses.shape}")
    n_reps = responses.shape[1]
    if n_reps < 2 or n_reps % 2:
        raise ValueError(f"split halves need an even number of repetitions >= 2, got {n_reps}")
    reps = range(n_reps)
    corrected = []
    # Splits containing repetition 0 in the first half: each unordered split exactly once.
    for half in itertools.combinations(reps, n_reps // 2):
        if half[0] != 0:
            break
        other = [i for i in reps if i not in half]
        r = _columnwise_r(responses[:, list(half)].mean(axis=1), responses[:, other].mean(axis=1))
        corrected.append(spearman_brown(r, 2))
    return np.mean(corrected, axis=0)


def present_mean_ceiling(responses: np.ndarray) -> np.ndarray:
    """Noise ceiling of the mean of the repetitions present (not NaN), per video and voxel.

    The variance estimator of the module docstring with each video's own count ``k_i`` of present
    repetitions: ``sigma2`` pools the within-video variance (sum of squared deviations from each
    video's mean over ``sum(k_i - 1)``), the mean's noise variance is ``sigma2 * mean(1 / k_i)``,
    i.e. Spearman-Brown to ``k_h`` repetitions, the harmonic mean of the ``k_i``; and

        c = 1 - (sigma2 / k_h) * (n - 3) / ((n - 1) * v)

    with ``v`` the variance (ddof 1) across the ``n`` videos that have a repetition of the means.
    Without NaN this is :func:`noise_ceiling` (``method="variance"``) exactly.

    Parameters
    ----------
    responses : array of shape (n_videos, n_repetitions, n_voxels); NaN = missing repetition

    Returns
    -------
    ceiling : array of shape (n_voxels,), float64; 0 for a constant voxel and for one that cannot
        be estimated (fewer than 4 videos with a repetition, or no video with two)
    """
    responses = np.asarray(responses, dtype=np.float64)
    if responses.ndim != 3:
        raise ValueError("responses must be (n_videos, n_repetitions, n_voxels), got "
                         f"{responses.shape}")
    if responses.shape[1] < 2:
        raise ValueError(f"a noise ceiling needs at least 2 repetitions, got {responses.shape[1]}")
    present = ~np.isnan(responses)
    k = present.sum(axis=1)  # (n_videos, n_voxels)
    seen = k > 0
    n = seen.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(seen, np.where(present, responses, 0.0).sum(axis=1) / np.maximum(k, 1), 0.0)
        within = np.where(present, responses - mean[:, None], 0.0)
        dof = np.maximum(k - 1, 0).sum(axis=0)
        sigma2 = (within ** 2).sum(axis=(0, 1)) / np.maximum(dof, 1)
        noise = sigma2 * np.where(seen, 1.0 / np.maximum(k, 1), 0.0).sum(axis=0) / np.maximum(n, 1)
        grand = mean.sum(axis=0) / np.maximum(n, 1)
        total = np.where(seen, mean - grand, 0.0)
        total = (total ** 2).sum(axis=0) / np.maximum(n - 1, 1)
    ok = (n >= 4) & (dof > 0) & (total > 1e-12 * (1 + noise))
    ratio = np.divide(noise, total, out=np.zeros_like(noise), where=ok)
    correction = (n - 3) / np.maximum(n - 1, 1)
    return np.where(ok, 1.0 - ratio * correction, 0.0)
