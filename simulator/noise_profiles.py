"""How noisy the simulated brain is: per-voxel noise levels drawn from a named profile.

Every voxel's noise-free signal has unit variance across videos, and each repetition adds
Gaussian noise of standard deviation ``sigma``. Two numbers describe the result:

- the single-repetition reliability ``r1 = 1 / (1 + sigma**2)``: the Pearson r that two
  repetitions reach across infinitely many videos, the quantity the real-data table below gives;
- the noise ceiling of the mean of ``k`` repetitions ``c_k = k r1 / (1 + (k - 1) r1)``
  (Spearman-Brown), equivalently ``1 / (1 + sigma**2 / k)``.

Profiles:

``easy``
    Round one's simulator: each region's ``c_3`` uniform in ``brain.REGIONS[roi].ceiling_range``
    (V1 0.3-0.8, ..., STS 0.1-0.55). Its mean ``r1`` is 0.14-0.34, two and a half to five times
    the real data's. Kept for the small demo, which learns little from 160 videos otherwise.
``realistic``
    Calibrated to the real release: the mean ``r1`` of each region is sub01's figure, computed
    on the real ``mini_track/sub01`` pickles (1000 videos x 3 repetitions, mean over voxels of
    the repetition-pair Pearson r, averaged over the three pairs). Across voxels ``r1`` follows a
    Beta distribution with that mean and shape ``a = 1`` (the density is highest at 0), so many
    voxels carry next to no signal and a few are several times the mean, as in real data.
"""

from __future__ import annotations

import numpy as np

#: Mean single-repetition reliability per region of the real release (sub01, 1000 videos).
REAL_SINGLE_REPETITION_R: dict[str, float] = {
    "V1": 0.060, "V2": 0.076, "V3": 0.076, "V4": 0.076, "LOC": 0.112,
    "EBA": 0.111, "FFA": 0.076, "STS": 0.054, "PPA": 0.077,
}
#: Whole-brain voxels outside the nine regions that carry signal (realistic profile).
REAL_EXTRA_SINGLE_REPETITION_R = 0.03
#: Beta shape ``a`` of the realistic profile; ``b`` follows from the mean.
REALISTIC_BETA_A = 1.0
#: No voxel is more reliable than this in one repetition.
MAX_SINGLE_REPETITION_R = 0.9

NOISE_PROFILES = ("easy", "realistic")


def check_profile(name: str) -> None:
    if name not in NOISE_PROFILES:
        raise ValueError(f"noise_profile must be one of {NOISE_PROFILES}, got {name!r}")


def single_repetition_r(ceiling: np.ndarray, n_averaged: int) -> np.ndarray:
    """Invert Spearman-Brown: ``r1`` whose mean of ``n_averaged`` repetitions has ``ceiling``."""
    ceiling = np.asarray(ceiling, np.float64)
    return ceiling / (n_averaged - (n_averaged - 1) * ceiling)


def draw_realistic_r1(rng: np.random.Generator, mean_r1: float, n_voxels: int) -> np.ndarray:
    """Per-voxel single-repetition reliability (n_voxels,), Beta with mean ``mean_r1``."""
    a = REALISTIC_BETA_A
    b = a * (1.0 - mean_r1) / mean_r1
    return np.clip(rng.beta(a, b, n_voxels), 1e-6, MAX_SINGLE_REPETITION_R)


def draw_ceilings(rng: np.random.Generator, profile: str, roi: str | None, n_voxels: int,
                  n_averaged: int) -> np.ndarray:
    """Target noise ceilings (n_voxels,) of the mean of ``n_averaged`` repetitions.

    ``roi`` is a region of ``MINI_TRACK_ROIS``, or None for whole-brain voxels outside them.
    The ``easy`` profile draws exactly what round one's simulator drew (same random numbers),
    so data generated before profiles existed is reproduced bit for bit.
    """
    from simulator import brain

    check_profile(profile)
    if profile == "easy":
        low, high = brain.EXTRA_CEILING_RANGE if roi is None else brain.REGIONS[roi].ceiling_range
        return rng.uniform(low, high, n_voxels)
    mean_r1 = REAL_EXTRA_SINGLE_REPETITION_R if roi is None else REAL_SINGLE_REPETITION_R[roi]
    r1 = draw_realistic_r1(rng, mean_r1, n_voxels)
    return n_averaged * r1 / (1.0 + (n_averaged - 1) * r1)
