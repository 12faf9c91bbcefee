"""Ridge target batches sized from free memory, and the exact arithmetic around the solves.

On the CPU: the batch size follows the memory it is given; a fit in forced small batches equals the
unbatched one; a fit's coefficients equal numpy's closed form; autocast and TF32 stay off inside.
"""

import numpy as np
import pytest
import torch

from ridge.device_batches import (
    CPU_TARGET_BATCH,
    MEMORY_FRACTION,
    available_bytes,
    bytes_per_target,
    exact_arithmetic,
    target_batch_size,
    target_batches,
)
from ridge.solver import RidgeCV


def data(n=30, p=12, v=41, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, p, generator=g, dtype=torch.float64)
    Y = X[:, :3] @ torch.randn(3, v, generator=g, dtype=torch.float64) + torch.randn(n, v, generator=g,
                                                                                     dtype=torch.float64)
    return X, Y.float()


def test_batch_size_follows_the_free_memory():
    per = bytes_per_target(900, 3072, 20, 5)
    assert per == 4 * (4 * 900 + 3 * 20 * 180 + 3 * 900 + 2 * 3072) + 16 * 20
    free = 80 * 2**30
    assert target_batch_size("cuda", 161326, 900, 3072, 20, 5, free=free) == min(161326, int(MEMORY_FRACTION * free)
                                                                                  // per)
    assert target_batch_size("cuda", 10**7, 900, 3072, 20, 5, free=free) == int(MEMORY_FRACTION * free) // per
    assert target_batch_size("cuda", 100, 900, 3072, 20, 5, free=free) == 100  # never more than the targets
    assert target_batch_size("cuda", 100, 900, 3072, 20, 5, free=10) == 1  # at least one
    assert target_batch_size("cpu", 10**6, 900, 3072, 20, 5, free=free) == CPU_TARGET_BATCH
    small = 1000 * per
    assert target_batch_size("cpu", 10**6, 900, 3072, 20, 5, free=small) == 500
    assert bytes_per_target(900, 3072, 20, 5, torch.float64) > 2 * per - 16 * 20 - 1
    assert available_bytes("cpu") > 0


def test_batches_cover_every_target_once():
    slices = target_batches(41, 7)
    assert [s.start for s in slices] == list(range(0, 41, 7)) and slices[-1].stop == 41
    assert sum(s.stop - s.start for s in slices) == 41


@pytest.mark.parametrize("groups", [False, True])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_small_batches_equal_one_batch(groups, dtype, tol):
    """Each batch's columns are solved alone: only the products' blocking (float rounding) differs."""
    X, Y = data()
    labels = torch.arange(Y.shape[1]) % 3 if groups else None
    whole = RidgeCV(n_folds=5, target_batch_size=10**6, dtype=dtype).fit(X, Y, groups=labels)
    batched = RidgeCV(n_folds=5, target_batch_size=7, dtype=dtype).fit(X, Y, groups=labels)
    assert torch.equal(batched.best_alphas_, whole.best_alphas_)
    for name in ("coef_", "intercept_", "cv_scores_"):
        ref = getattr(whole, name)
        assert (getattr(batched, name) - ref).abs().max() <= tol * ref.abs().max(), name


def test_sized_batches_equal_numpy_closed_form():
    """With one penalty the fit is ``solve(Xc'Xc + a I, Xc'Yc)``: numpy's, in small sized batches."""
    X, Y = data()
    alpha = 3.0
    batch = target_batch_size("cpu", Y.shape[1], X.shape[0], X.shape[1], 1, 5,
                              free=9 * bytes_per_target(X.shape[0], X.shape[1], 1, 5) * 2)
    assert batch == 9
    fit = RidgeCV(alphas=[alpha], n_folds=5, target_batch_size=batch, dtype=torch.float64).fit(X, Y.double())
    Xc = X.numpy() - X.numpy().mean(0)
    Yc = Y.double().numpy() - Y.double().numpy().mean(0)
    expected = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ Yc)
    np.testing.assert_allclose(fit.coef_.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_exact_arithmetic_undoes_autocast_and_tf32():
    X, Y = data()
    plain = RidgeCV(n_folds=5).fit(X, Y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with exact_arithmetic("cpu"):
            assert not torch.is_autocast_enabled("cpu")
            assert torch.backends.cuda.matmul.allow_tf32 is False
            guarded = RidgeCV(n_folds=5).fit(X, Y)
        assert torch.is_autocast_enabled("cpu")
    assert torch.equal(guarded.best_alphas_, plain.best_alphas_)
    torch.testing.assert_close(guarded.coef_, plain.coef_, rtol=1e-6, atol=1e-7)


def test_fit_under_bf16_autocast_equals_the_fit_without():
    """What ``--trainer.precision bf16-mixed`` would do to a fit run inside a step: nothing (unguarded,
    the float32 CV products became bfloat16: a 1% error and other penalties chosen)."""
    X, Y = data(v=60)
    plain = RidgeCV(n_folds=5).fit(X, Y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = RidgeCV(n_folds=5).fit(X, Y)
    assert torch.equal(under.best_alphas_, plain.best_alphas_)
    assert torch.equal(under.coef_, plain.coef_)


def test_default_batches_are_sized_from_memory(monkeypatch):
    import ridge.device_batches as device_batches

    X, Y = data()
    asked = []
    real = device_batches.target_batch_size

    def small(device, n_targets, *args, **kwargs):
        asked.append(n_targets)
        size = real(device, n_targets, *args, **kwargs, free=2 * 5 * bytes_per_target(30, 12, 20, 5, torch.float64))
        asked.append(size)
        return size

    monkeypatch.setattr("ridge.solver.target_batch_size", small)
    sized = RidgeCV(n_folds=5, dtype=torch.float64).fit(X, Y)
    assert asked == [Y.shape[1], 5]  # one sizing, for all the targets: 5 per batch
    whole = RidgeCV(n_folds=5, target_batch_size=10**6, dtype=torch.float64).fit(X, Y)
    assert torch.equal(sized.best_alphas_, whole.best_alphas_)
    assert (sized.coef_ - whole.coef_).abs().max() <= 1e-12 * whole.coef_.abs().max()
