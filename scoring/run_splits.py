"""Folds of fMRI time series split by run: every TR of a run lands in the same fold.

Adjacent TRs of one run are correlated (the haemodynamic response and slow noise), so a
split by TR would score a model on TRs whose neighbours it was fitted on. Splitting by run
(episode, film segment) leaves no training TR next to a validation TR.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def run_labels(run_lengths: Sequence[int]) -> np.ndarray:
    """Run index of every TR of runs concatenated in order: ``[3, 2] -> [0, 0, 0, 1, 1]``."""
    lengths = np.asarray(run_lengths, np.int64)
    if lengths.ndim != 1 or len(lengths) == 0 or (lengths < 1).any():
        raise ValueError("run_lengths must be a non-empty list of positive TR counts, "
                         f"got {list(lengths)}")
    return np.repeat(np.arange(len(lengths)), lengths)


def group_kfold_folds(groups: Sequence[int] | np.ndarray,
                      n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-fold ``(train, val)`` index pairs that never split a group (a run) across folds.

    Groups are dealt to folds largest first, each to the fold with the fewest samples so far
    (ties: the lower fold), so folds are about equal in samples whatever the run lengths.
    Deterministic: no randomness.

    Parameters
    ----------
    groups : (n_samples,) int labels, e.g. :func:`run_labels`
    n_folds : 2 <= n_folds <= number of distinct groups

    Returns
    -------
    list of n_folds tuples of sorted int64 arrays ``train`` and ``val``, disjoint, covering
    every sample.
    """
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise ValueError(f"groups must have shape (n_samples,), got {groups.shape}")
    labels, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if not 2 <= n_folds <= len(labels):
        raise ValueError(f"n_folds must be between 2 and the number of runs ({len(labels)}), "
                         f"got {n_folds}")
    fold_of_label = np.empty(len(labels), np.int64)
    load = np.zeros(n_folds, np.int64)
    for label in np.argsort(-counts, kind="stable"):
        fold = int(np.argmin(load))
        fold_of_label[label] = fold
        load[fold] += counts[label]
    fold_of_sample = fold_of_label[inverse]
    everything = np.arange(len(groups), dtype=np.int64)
    return [(everything[fold_of_sample != f], everything[fold_of_sample == f])
            for f in range(n_folds)]


def leave_one_run_out(run_lengths: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """One fold per run: validate on it, train on all the others (the voxelwise tutorials' CV)."""
    labels = run_labels(run_lengths)
    everything = np.arange(len(labels), dtype=np.int64)
    return [(everything[labels != r], everything[labels == r]) for r in range(len(run_lengths))]
