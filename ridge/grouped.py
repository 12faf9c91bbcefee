"""Ridge whose penalty CV keeps groups of samples whole: for time series, every TR of a stimulus
(a run and its repetitions) in one fold, so no validation TR has a training neighbour."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ridge.solver import DEFAULT_ALPHAS, RidgeCV
from scoring.run_splits import group_kfold_folds


def grouped_ridge_cv(X: np.ndarray, Y: np.ndarray, groups: np.ndarray,
                     alphas: Sequence[float] | None = None, max_folds: int = 5) -> RidgeCV:
    """A float64 :class:`RidgeCV` fitted on ``X`` (n_samples, n_features) to ``Y`` (n_samples,
    n_targets), each target's penalty chosen by K-fold CV over at most ``max_folds`` folds that
    never split a group (``groups``: (n_samples,) int labels, at least 2 distinct). ``X`` is
    standardised inside the solver, and its ``coef_`` (n_features, n_targets) and ``intercept_``
    (n_targets,) already act on the raw ``X``: ``X @ coef_ + intercept_`` is its prediction."""
    n_groups = len(np.unique(groups))
    folds = group_kfold_folds(groups, min(max_folds, n_groups))
    return RidgeCV(alphas=tuple(alphas or DEFAULT_ALPHAS), n_folds=folds, standardize=True,
                   dtype=torch.float64).fit(X, Y)
