"""Averaging repeated measurements where some repetitions are missing (NaN).

BOLD Moments marks a missing repetition with NaN (per video, per voxel). A target is the mean of
the repetitions present; a video with none for a voxel has no target there (NaN), which
:func:`scoring.pearson.pearson_r` skips voxel by voxel.
"""

from __future__ import annotations

import numpy as np


def repetition_counts(responses: np.ndarray) -> np.ndarray:
    """Repetitions present (not NaN) per video and voxel, int (n_videos, n_voxels), of
    ``responses`` (n_videos, n_repetitions, n_voxels)."""
    responses = np.asarray(responses)
    if responses.ndim != 3:
        raise ValueError("responses must be (n_videos, n_repetitions, n_voxels), got "
                         f"{responses.shape}")
    return (~np.isnan(responses)).sum(axis=1)


def repetition_mean(responses: np.ndarray) -> np.ndarray:
    """Mean of the repetitions present, float64 (n_videos, n_voxels); NaN where none is present.

    ``responses``: (n_videos, n_repetitions, n_voxels), NaN = missing repetition.
    """
    responses = np.asarray(responses, dtype=np.float64)
    k = repetition_counts(responses)
    total = np.where(np.isnan(responses), 0.0, responses).sum(axis=1)
    return np.divide(total, k, out=np.full(total.shape, np.nan), where=k > 0)
