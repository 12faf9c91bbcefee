"""Ridge over targets read a column batch at a time (issue 25, item 4): RidgeCV given a
TargetRows over a memory-mapped array fits the same map as on the array itself, and the baseline's
rescaling and validation score in voxel blocks equal the one-block result."""

import numpy as np
import torch

from lightning_modules.baseline.frozen_fit import BaselineVideos, rescale_and_score
from ridge.solver import RidgeCV
from ridge.target_columns import TargetRows, fill_column_means
from scoring.layout import TargetLayout


def _data(tmp_path, n=40, p=6, v=23, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = (X @ rng.standard_normal((p, v)) + rng.standard_normal((n, v))).astype(np.float32)
    Y[rng.random(Y.shape) < 0.05] = np.nan
    Y[:, 3] = np.nan  # a voxel never measured
    np.save(tmp_path / "means.npy", Y)
    return X, Y, np.load(tmp_path / "means.npy", mmap_mode="r")


def test_fill_column_means_matches_nanmean():
    block = np.array([[1.0, np.nan, np.nan], [3.0, 4.0, np.nan], [np.nan, 8.0, np.nan]], np.float32)
    np.testing.assert_array_equal(fill_column_means(block), [[1, 6, 0], [3, 4, 0], [2, 8, 0]])


def test_ridge_on_column_batches_of_a_memmap_equals_the_fit_on_the_array(tmp_path):
    X, Y, mapped = _data(tmp_path)
    rows = np.arange(3, 37)
    filled = fill_column_means(Y[rows])
    whole = RidgeCV(alphas=(0.1, 10.0, 1000.0), n_folds=4).fit(X[rows], filled)
    batched = RidgeCV(alphas=(0.1, 10.0, 1000.0), n_folds=4, target_batch_size=5).fit(X[rows], TargetRows(mapped, rows))
    torch.testing.assert_close(batched.coef_, whole.coef_)
    torch.testing.assert_close(batched.intercept_, whole.intercept_)
    torch.testing.assert_close(batched.best_alphas_, whole.best_alphas_)
    groups = np.repeat([0, 1, 2], [8, 8, 7])
    g_whole = RidgeCV(alphas=(0.1, 10.0, 1000.0), n_folds=4).fit(X[rows], filled, groups=groups)
    g_batched = RidgeCV(alphas=(0.1, 10.0, 1000.0), n_folds=4, target_batch_size=5).fit(
        X[rows], TargetRows(mapped, rows), groups=groups)
    torch.testing.assert_close(g_batched.coef_, g_whole.coef_)


class _Data:
    def __init__(self, means, train, val):
        self.mean_responses, self.train_indices, self.val_indices = means, train, val

    def evaluation_dataloader(self, rows):
        raise AssertionError("not needed")

    feature_cache = (None, "")


def test_rescale_and_score_in_voxel_blocks_equals_one_block(tmp_path):
    X, Y, mapped = _data(tmp_path)
    train, val = np.arange(0, 30), np.arange(30, 40)
    videos = BaselineVideos.of(_Data(mapped, train, val), "a test")
    Xt = torch.from_numpy(X).float()
    coef = torch.from_numpy(np.random.default_rng(1).standard_normal((6, 23))).float()
    layout = TargetLayout({"sub01": {"A": 10, "B": 13}})
    one = rescale_and_score(coef, Xt[train], Xt[val], videos, layout, None, torch.device("cpu"), block=10**6)
    blocks = rescale_and_score(coef, Xt[train], Xt[val], videos, layout, None, torch.device("cpu"), block=4)
    torch.testing.assert_close(blocks.head_coef, one.head_coef)
    torch.testing.assert_close(blocks.head_intercept, one.head_intercept)
    torch.testing.assert_close(blocks.val_r, one.val_r)
    # The validation r against an independent numpy Pearson r on the measured videos of one voxel.
    pred = (Xt[val] @ one.head_coef + one.head_intercept).numpy()
    measured = ~np.isnan(Y[val, 0])
    expected = np.corrcoef(pred[measured, 0], Y[val, 0][measured])[0, 1]
    assert abs(float(one.val_r[0]) - expected) < 1e-5
