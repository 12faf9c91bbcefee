"""The one Pearson r against scipy: masked, stable, batched; and the one K-fold splitter
against scikit-learn."""

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from sklearn.model_selection import KFold

from scoring.pearson import masked_pearson, pearson_r, r_of_centred
from scoring.splits import kfold_folds


def test_masked_r_equals_scipy_on_the_measured_rows():
    rng = np.random.default_rng(0)
    p, t = rng.normal(size=(40, 6)), rng.normal(size=(40, 6)) + 1e4  # a large offset: centring matters
    t[rng.random(t.shape) < 0.2] = np.nan
    r, n = masked_pearson(torch.from_numpy(p), torch.from_numpy(t))
    for v in range(6):
        keep = ~np.isnan(t[:, v])
        assert n[v] == keep.sum()
        assert r[v].item() == pytest.approx(pearsonr(p[keep, v], t[keep, v])[0], abs=1e-10)
    np.testing.assert_allclose(pearson_r(p, t), r.numpy())


def test_constant_and_unmeasured_columns_give_zero():
    p = np.stack([np.ones(5), np.arange(5.0), np.arange(5.0)], 1)
    t = np.stack([np.arange(5.0), np.full(5, 3.0), [np.nan, np.nan, np.nan, np.nan, 1.0]], 1)
    np.testing.assert_array_equal(pearson_r(p, t), [0.0, 0.0, 0.0])


def test_float32_stays_accurate_with_a_large_offset():
    rng = np.random.default_rng(1)
    p, t = rng.normal(size=(500, 3)), rng.normal(size=(500, 3))
    t[:, 0] += p[:, 0]
    r32 = pearson_r(torch.tensor(p + 1e3, dtype=torch.float32), torch.tensor(t + 1e3, dtype=torch.float32))
    np.testing.assert_allclose(r32.numpy(), [pearsonr(p[:, v], t[:, v])[0] for v in range(3)], atol=1e-5)


def test_batched_centred_form_broadcasts_over_a_leading_dimension():
    rng = np.random.default_rng(2)
    preds, y = torch.from_numpy(rng.normal(size=(4, 30, 5))), torch.from_numpy(rng.normal(size=(30, 5)))
    got = r_of_centred(preds - preds.mean(1, keepdim=True), y - y.mean(0), dim=-2)
    for a in range(4):
        torch.testing.assert_close(got[a], pearson_r(preds[a], y))


def test_kfold_folds_equal_sklearn_for_any_order():
    order = np.random.default_rng(3).permutation(23)
    for (tr, va), (tr_sk, va_sk) in zip(kfold_folds(order, 4), KFold(4).split(order), strict=True):
        np.testing.assert_array_equal(va, np.sort(order[va_sk]))
        np.testing.assert_array_equal(tr, np.sort(order[tr_sk]))


def test_resampled_r_equals_scipy_on_the_drawn_rows():
    from scoring.pearson import resampled_pearson_r

    rng = np.random.default_rng(4)
    p = rng.normal(size=(40, 6)) + 50.0  # an offset: the moments must not cancel
    t = 0.5 * p + rng.normal(size=(40, 6))
    p[:, 5] = 3.0  # constant prediction: r = 0
    rows = rng.integers(0, 40, (30, 40))
    counts = np.stack([np.bincount(r, minlength=40) for r in rows])
    got = resampled_pearson_r(p, t, counts)
    expected = [[pearsonr(p[r, v], t[r, v])[0] for v in range(5)] + [0.0] for r in rows]
    np.testing.assert_allclose(got, expected, atol=1e-10)
    t[0, 0] = np.nan
    with pytest.raises(ValueError, match="no NaN"):
        resampled_pearson_r(p, t, counts)
