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
