"""Pearson r and the correlation loss against numpy and scipy."""

import numpy as np
import pytest
import torch
from scipy import stats

from lightning_modules.loss import correlation_loss, pearson_r


def test_pearson_matches_numpy_and_scipy():
    rng = np.random.default_rng(0)
    p, t = rng.normal(size=(9, 4)), rng.normal(size=(9, 4))
    t[:, 1] += 2 * p[:, 1]
    r = pearson_r(torch.from_numpy(p), torch.from_numpy(t)).numpy()
    expected = [np.corrcoef(p[:, v], t[:, v])[0, 1] for v in range(4)]
    np.testing.assert_allclose(r, expected, rtol=1e-6)
    np.testing.assert_allclose(r, [stats.pearsonr(p[:, v], t[:, v])[0] for v in range(4)],
                               rtol=1e-6)


def test_constant_columns_give_zero_and_finite_gradients():
    pred = torch.randn(6, 3)
    pred[:, 0] = 2.0
    target = torch.randn(6, 3)
    target[:, 2] = -1.0
    pred.requires_grad_(True)
    r = pearson_r(pred, target)
    assert r[0] == 0 and r[2] == 0 and torch.isfinite(r).all()
    correlation_loss(pred, target, mse_weight=0.1).backward()
    assert torch.isfinite(pred.grad).all()


def test_loss_values():
    t = torch.randn(8, 5)
    torch.testing.assert_close(correlation_loss(3 * t + 1, t), torch.tensor(0.0), atol=1e-6,
                               rtol=0)
    torch.testing.assert_close(correlation_loss(-t, t), torch.tensor(2.0))
    p = torch.randn(8, 5)
    expected = 1 - pearson_r(p, t).mean() + 0.5 * ((p - t) ** 2).mean()
    torch.testing.assert_close(correlation_loss(p, t, mse_weight=0.5), expected)


def test_mask_ignores_voxels():
    t = torch.randn(8, 4)
    p = t.clone()
    p[:, 3] = torch.randn(8) * 100
    mask = torch.tensor([True, True, True, False])
    torch.testing.assert_close(correlation_loss(p, t, mse_weight=1.0, mask=mask),
                               torch.tensor(0.0), atol=1e-6, rtol=0)
    with pytest.raises(ValueError):
        correlation_loss(p, t, mask=torch.ones(3, dtype=torch.bool))


def test_half_precision_computed_in_float32():
    t = torch.randn(16, 3)
    r = pearson_r(t.half(), t.half())
    assert r.dtype == torch.float32
    torch.testing.assert_close(r, torch.ones(3), atol=1e-3, rtol=0)


def test_nan_targets_are_skipped_per_voxel_as_scipy_on_the_valid_entries():
    rng = np.random.default_rng(1)
    p, t = rng.normal(size=(10, 4)), rng.normal(size=(10, 4))
    t[:, 0] += p[:, 0]
    t[[1, 4, 7], 0] = np.nan  # voxel 0 unmeasured for three videos
    t[[0, 9], 2] = np.nan
    r = pearson_r(torch.from_numpy(p), torch.from_numpy(t)).numpy()
    for v in range(4):
        ok = ~np.isnan(t[:, v])
        np.testing.assert_allclose(r[v], stats.pearsonr(p[ok, v], t[ok, v])[0], rtol=1e-6)
    loss = correlation_loss(torch.from_numpy(p), torch.from_numpy(t))
    torch.testing.assert_close(loss, torch.tensor(1 - r.mean(), dtype=loss.dtype))


def test_voxel_with_under_two_measured_entries_counts_zero_and_gives_no_nan_gradient():
    pred = torch.randn(6, 3, requires_grad=True)
    target = torch.randn(6, 3)
    target[:, 1] = float("nan")  # never measured in this batch
    target[1:, 2] = float("nan")  # measured once: no correlation
    r = pearson_r(pred, target)
    assert r[1] == 0 and r[2] == 0 and torch.isfinite(r).all()
    loss = correlation_loss(pred, target, mse_weight=0.5)
    valid = ~torch.isnan(target)
    expected = 1 - r[0] + 0.5 * ((pred - target.nan_to_num()) ** 2)[valid].mean()
    torch.testing.assert_close(loss, expected)  # only voxel 0 is averaged; MSE over measured entries
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    assert (pred.grad[:, 1] == 0).all()
    all_missing = torch.full((4, 2), float("nan"))
    p2 = torch.randn(4, 2, requires_grad=True)
    loss2 = correlation_loss(p2, all_missing)
    loss2.backward()
    assert loss2.item() == 1.0 and (p2.grad == 0).all()
