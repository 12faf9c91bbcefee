"""Train/validation splits by video, identical for every subject.

All subjects watched the same clips, so a split is a set of video indices;
splitting by video keeps any clip from being both trained on and scored.
"""

from __future__ import annotations

import numpy as np


def kfold_split(n_videos: int, n_folds: int = 10, fold: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``fold``-th of ``n_folds`` shuffled K-fold splits (the 2021 solution's 10-fold CV).

    Returns
    -------
    train_idx, val_idx : int64 arrays, sorted, disjoint, covering ``range(n_videos)``.
    """
    if not 2 <= n_folds <= n_videos:
        raise ValueError(f"n_folds must be between 2 and the number of videos ({n_videos}), got {n_folds}")
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold must be in [0, {n_folds}), got {fold}")
    return kfold_folds(np.random.default_rng(seed).permutation(n_videos), n_folds)[fold]


def kfold_folds(order: np.ndarray, n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-fold ``(train, val)`` index pairs over ``order`` (a permutation of ``range(n)``), as
    scikit-learn's ``KFold`` lays them out: consecutive blocks of ``order``, the first ``n % n_folds``
    one longer. The one K-fold splitter; ridge CV and the video splits both use it.

    Returns
    -------
    list of n_folds tuples of sorted int64 arrays, ``train`` (n - n_val,) and ``val`` (n_val,).
    """
    order = np.asarray(order, dtype=np.int64)
    folds, start = [], 0
    for val in np.array_split(order, n_folds):
        train = np.concatenate([order[:start], order[start + len(val):]])
        folds.append((np.sort(train), np.sort(val)))
        start += len(val)
    return folds


def holdout_split(n_videos: int, n_val: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """The last ``n_val`` videos for validation (the challenge's convention: videos 901-1000)."""
    if not 1 <= n_val < n_videos:
        raise ValueError(f"n_val must be between 1 and {n_videos - 1} (videos with fMRI), got {n_val}")
    return np.arange(n_videos - n_val, dtype=np.int64), np.arange(n_videos - n_val, n_videos, dtype=np.int64)
