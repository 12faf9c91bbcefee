"""Targets a ridge fit reads one column batch at a time, never whole.

A whole-brain release's repetition means are (1000, 1.08M) float32, 4.3 GB, memory-mapped from
disk (:mod:`datamodules.sources.stacked`). :class:`ridge.solver.RidgeCV` fits targets in batches
anyway; given a :class:`TargetRows` instead of an array it reads each batch's columns when it
needs them, so the only full-width arrays of a fit are its outputs (``coef_``: n_features x
n_targets).
"""

from __future__ import annotations

import numpy as np


def fill_column_means(block: np.ndarray) -> np.ndarray:
    """``block`` (n_videos, b) with NaN replaced by its column's mean (0 for an all-NaN column)."""
    nan = np.isnan(block)
    if not nan.any():
        return block
    counts = (~nan).sum(axis=0)
    sums = np.where(nan, 0.0, block).sum(axis=0, dtype=np.float64)
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    return np.where(nan, means.astype(block.dtype), block)


class TargetRows:
    """Rows ``rows`` of ``array`` (n_videos, n_targets) (an ``np.memmap`` is fine), read by column range.

    Parameters
    ----------
    array : (n_videos, n_targets) array
    rows : int array (n,), the rows (videos) of the fit, in that order
    fill_missing : replace NaN by the column's mean over ``rows`` (a ridge fit refuses NaN)

    ``shape`` is ``(n, n_targets)``; ``columns(batch)`` is float32 ``(n, batch width)``.
    """

    def __init__(self, array, rows, fill_missing: bool = True):
        if getattr(array, "ndim", None) != 2:
            raise ValueError(f"targets must have shape (n_videos, n_targets); got {getattr(array, 'shape', None)}")
        self.array = array
        self.rows = np.asarray(rows, dtype=np.int64)
        self.fill_missing = fill_missing
        self.shape = (len(self.rows), int(array.shape[1]))

    def columns(self, batch: slice) -> np.ndarray:
        block = np.asarray(self.array[:, batch][self.rows], dtype=np.float32)
        return fill_column_means(block) if self.fill_missing else block
