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
    order = np.random.default_rng(seed).permutation(n_videos)
    val = np.sort(np.array_split(order, n_folds)[fold])
    train = np.setdiff1d(np.arange(n_videos), val)
    return train.astype(np.int64), val.astype(np.int64)


def holdout_split(n_videos: int, n_val: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """The last ``n_val`` videos for validation (the challenge's convention: videos 901-1000)."""
    if not 1 <= n_val < n_videos:
        raise ValueError(f"n_val must be between 1 and {n_videos - 1} (videos with fMRI), got {n_val}")
    return np.arange(n_videos - n_val, dtype=np.int64), np.arange(n_videos - n_val, n_videos, dtype=np.int64)
