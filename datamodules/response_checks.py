"""Checks every source applies to a response array and a voxel mask read from a file.

A response array is ``(n_stimuli, n_repetitions, n_voxels)``; each check names the file, the key
(``train``, ``test``, ...) and what was expected. Finite values are checked last, by
:func:`datamodules.voxel_checks.check_finite`, after the source has checked the shapes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules.safe_pickle import bounded_array
from datamodules.sources.base import DataLayoutError
from datamodules.voxel_checks import check_finite


def response_array(value, path: Path, key: str) -> np.ndarray:
    """``value`` (from ``path``'s entry ``key``) as a numeric ``(n_stimuli, n_repetitions, n_voxels)``
    array with at least one voxel and stimulus and two repetitions (the noise ceiling needs them)."""
    array = bounded_array(value, path, key)
    if array.ndim != 3 or not np.issubdtype(array.dtype, np.number):
        raise DataLayoutError(f"{path}: '{key}' must be a numeric array (videos, repetitions, voxels), "
                              f"got {array.dtype} of shape {array.shape}")
    if array.shape[2] < 1:
        raise DataLayoutError(f"{path}: '{key}' has 0 voxels, shape {array.shape}; leave this region out "
                              "(data.rois, or data.missing_rois skip after removing the file)")
    if min(array.shape) < 1:
        raise DataLayoutError(f"{path}: '{key}' has an empty dimension, shape {array.shape}")
    if array.shape[1] < 2:
        raise DataLayoutError(f"{path}: '{key}' has {array.shape[1]} repetition per video, shape {array.shape}; "
                              "the noise ceiling (and so val/score) needs at least 2 repetitions of each video")
    return array


def voxel_mask(value, path: Path, n_voxels: int, key: str = "voxel_mask") -> np.ndarray:
    """``value`` as a bool ``(X, Y, Z)`` volume whose ``n_voxels`` True entries are the columns."""
    mask = bounded_array(value, path, key).astype(bool)
    if mask.ndim != 3:
        raise DataLayoutError(f"{path}: {key} must be a 3-D volume (X, Y, Z) whose True entries are the "
                              f"voxels, got shape {mask.shape}")
    if int(mask.sum()) != n_voxels:
        raise DataLayoutError(f"{path}: {key} {mask.shape} has {int(mask.sum())} voxels, "
                              f"but 'train' has {n_voxels} (they must agree)")
    return mask


def finite_float32(array: np.ndarray, path: Path, non_finite: str) -> np.ndarray:
    """``array`` as float32, its infinite or overflowing values refused or masked (``non_finite``).

    The check runs before the cast, so 1e300 is named as such, not as inf."""
    return check_finite(array, path, non_finite).astype(np.float32, copy=False)
