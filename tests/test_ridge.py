"""RidgeCV and pca_reduce against scikit-learn and himalaya on tiny data."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ridge.ops import kfold_splits
from ridge.pca import pca_reduce, pca_transform
from ridge.solver import RidgeCV

N_VIDEOS = 60
ALPHAS = np.logspace(-2, 6, 17)


def _data(n_features, n_targets=40, seed=0, dtype=np.float32):
    """Targets with signal-to-noise from 0 (pure noise) to 3, plus offsets."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_VIDEOS, n_features)) + rng.uniform(-2, 2, n_features)
    snr = np.linspace(0, 3, n_targets)
    W = rng.standard_normal((n_features, n_targets)) / np.sqrt(n_features)
    Y = (X - X.mean(0)) @ W * snr + rng.standard_normal((N_VIDEOS, n_targets)) + 10
    return X.astype(dtype), Y.astype(dtype)


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("n_features", [30, 200], ids=["primal", "dual"])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_single_alpha_equals_sklearn_ridge(n_features, dtype, tol):
    X, Y = _data(n_features, dtype=np.float64)
    for alpha in (0.1, 30.0, 1e4):
        ours = RidgeCV(alphas=[alpha], n_folds=5, dtype=dtype).fit(X, Y)
        ref = Ridge(alpha=alpha).fit(X, Y)
        assert ours.coef_.dtype == dtype and ours.coef_.shape == (n_features, Y.shape[1])
        assert _rel(ours.predict(X), ref.predict(X)) < tol
        assert _rel(ours.coef_, ref.coef_.T) < tol
        assert _rel(ours.intercept_, ref.intercept_) < tol


@pytest.mark.parametrize("standardize", [False, True])
def test_no_intercept_and_standardize_equal_sklearn(standardize):
    X, Y = _data(200, dtype=np.float64)
    ours = RidgeCV([5.0], n_folds=5, fit_intercept=standardize, standardize=standardize,
                   dtype=torch.float64).fit(X, Y)
    if standardize:
        ref = make_pipeline(StandardScaler(), Ridge(5.0)).fit(X, Y)
    else:
        ref = Ridge(5.0, fit_intercept=False).fit(X, Y)
    assert _rel(ours.predict(X), ref.predict(X)) < 1e-10


def test_kfold_splits_equal_sklearn_and_are_deterministic():
    for (tr, va), (tr_sk, va_sk) in zip(kfold_splits(23, 4), KFold(4).split(np.zeros(23))):
        assert np.array_equal(tr.numpy(), tr_sk) and np.array_equal(va.numpy(), va_sk)
    a, b = kfold_splits(23, 4, shuffle=True, seed=3), kfold_splits(23, 4, shuffle=True, seed=3)
    assert all(torch.equal(x[1], y[1]) for x, y in zip(a, b))
    vals = torch.cat([va for _, va in a]).sort().values
    assert torch.equal(vals, torch.arange(23))
    assert not torch.equal(a[0][1], kfold_splits(23, 4)[0][1])


def _himalaya(kind, X, Y, splits, scoring):
    from himalaya.backend import set_backend
    from himalaya.kernel_ridge import KernelRidgeCV
    from himalaya.ridge import RidgeCV as HRidgeCV
    from himalaya.scoring import correlation_score, r2_score

    set_backend("torch")
    params = dict(score_func=correlation_score if scoring == "correlation" else r2_score)
    kw = dict(alphas=ALPHAS, cv=splits, fit_intercept=True, solver_params=params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = HRidgeCV(**kw) if kind == "ridge" else KernelRidgeCV(kernel="linear", **kw)
        model.fit(X, Y)
        return model, np.asarray(model.predict(X), dtype=np.float64)


@pytest.mark.parametrize("n_features", [30, 200], ids=["primal", "dual"])
@pytest.mark.parametrize("kind", ["ridge", "kernel"])
@pytest.mark.parametrize("scoring", ["correlation", "r2"])
def test_per_target_alphas_match_himalaya(n_features, kind, scoring):
    X, Y = _data(n_features)
    ours = RidgeCV(ALPHAS, n_folds=5, scoring=scoring).fit(X, Y)
    splits = [(tr.numpy(), va.numpy()) for tr, va in ours.splits_]
    # himalaya in float64: its float32 KernelRidgeCV is off by up to 4% here
    # (uncentred float32 kernel), while ours is float32 on a float64 eigh
    ref, ref_pred = _himalaya(kind, X.astype(np.float64), Y.astype(np.float64), splits, scoring)

    same = np.isclose(ours.best_alphas_.numpy(), np.asarray(ref.best_alphas_), rtol=1e-4)
    assert same.mean() >= 0.9
    pred = ours.predict(X).double().numpy()
    r = [np.corrcoef(pred[:, t], ref_pred[:, t])[0, 1] for t in np.flatnonzero(same)]
    assert min(r) >= 0.9999
    assert _rel(pred[:, same], ref_pred[:, same]) < 1e-5
    best_scores = ours.cv_scores_.max(0).values.numpy()
    assert np.abs(best_scores - np.asarray(ref.cv_scores_)).max() < 1e-4


@pytest.mark.parametrize("n_features", [30, 200], ids=["primal", "dual"])
def test_per_target_refit_equals_sklearn_ridge_per_target(n_features):
    X, Y = _data(n_features)
    ours = RidgeCV(ALPHAS, n_folds=5).fit(X, Y)  # float32
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    ref = [Ridge(a).fit(X64, Y64[:, t]).predict(X64) for t, a in enumerate(ours.best_alphas_)]
    assert _rel(ours.predict(X), np.column_stack(ref)) < 2e-6


def test_noise_gets_large_alpha_and_clean_signal_small():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((N_VIDEOS, 30))
    Y = np.hstack([X @ rng.standard_normal((30, 5)), rng.standard_normal((N_VIDEOS, 20))])
    lam_max = np.linalg.eigvalsh(np.cov(X.T) * N_VIDEOS).max()
    for scoring in ("correlation", "r2"):
        m = RidgeCV(ALPHAS, n_folds=5, scoring=scoring).fit(X, Y)
        assert (m.best_alphas_[:5] == ALPHAS.min()).all()
        assert (m.cv_scores_.max(0).values[:5] > 0.99).all()
    # R^2 shrinks pure noise to the mean; Pearson r of noise is arbitrary in alpha
    assert np.median(m.best_alphas_[5:].numpy()) > lam_max


def test_constant_targets_give_finite_output():
    X, Y = _data(200, n_targets=6)
    Y[:, 0] = 3.7
    Y[:, 1] = 0.0
    Y[:12, 2] = 1.0  # constant inside the first validation fold only
    for scoring in ("correlation", "r2"):
        m = RidgeCV(ALPHAS, n_folds=5, scoring=scoring).fit(X, Y)
        for name in ("coef_", "intercept_", "best_alphas_", "cv_scores_"):
            assert torch.isfinite(getattr(m, name)).all(), name
        assert (m.coef_[:, :2] == 0).all() and (m.cv_scores_[:, :2] == 0).all()
        assert (m.best_alphas_[:2] == ALPHAS.max()).all()
        assert torch.allclose(m.predict(X)[:, 0], torch.tensor(3.7))


def test_target_batching_is_exact():
    X, Y = _data(200, n_targets=50)
    kw = dict(alphas=ALPHAS, n_folds=5, dtype=torch.float64)
    whole = RidgeCV(**kw).fit(X, Y)
    batched = RidgeCV(target_batch_size=7, **kw).fit(X, Y)
    assert torch.equal(whole.best_alphas_, batched.best_alphas_)
    for name in ("coef_", "intercept_", "cv_scores_"):
        torch.testing.assert_close(getattr(whole, name), getattr(batched, name),
                                   rtol=1e-12, atol=1e-12)


def test_inputs_outputs_and_errors():
    X, Y = _data(30, n_targets=3)
    m = RidgeCV(ALPHAS, n_folds=5).fit(torch.from_numpy(X), Y[:, 0])  # 1-D Y: one target
    assert m.coef_.shape == (30, 1) and isinstance(m.predict(X), torch.Tensor)
    assert m.score(X, Y[:, :1]).shape == (1,)
    with pytest.raises(ValueError, match=r"\(n_videos, n_targets\) with n_videos=60"):
        RidgeCV().fit(X, Y[:50])
    with pytest.raises(ValueError, match=r"\(n_videos, n_features\)"):
        RidgeCV().fit(X[:, 0], Y)
    bad = Y.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN/inf.*row 4, column 1"):
        RidgeCV().fit(X, bad)
    with pytest.raises(ValueError, match="n_folds"):
        RidgeCV(n_folds=61).fit(X, Y)
    with pytest.raises(ValueError, match="alphas"):
        RidgeCV(alphas=[0.0, 1.0]).fit(X, Y)
    with pytest.raises(ValueError, match=r"\(n_videos, 30\)"):
        m.predict(X[:, :10])
    with pytest.raises(RuntimeError, match="not fitted"):
        RidgeCV().predict(X)


def test_pca_reduce_matches_sklearn_on_training_rows():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((80, 50)) @ rng.standard_normal((50, 120)) + 1.0
    train = np.arange(60)
    Xr, comps, mean = pca_reduce(torch.from_numpy(X), 10, fit_rows=train)
    ref = PCA(10).fit(X[train])
    assert Xr.shape == (80, 10) and comps.shape == (10, 120) and mean.shape == (120,)
    assert _rel(Xr, ref.transform(X)) < 1e-10
    assert _rel(comps, ref.components_) < 1e-10
    assert torch.allclose(pca_transform(X[60:], comps, mean), Xr[60:])
    approx, _, _ = pca_reduce(X, 5, fit_rows=train, lowrank=True)
    r = [abs(np.corrcoef(approx[:, k], ref.transform(X)[:, k])[0, 1]) for k in range(5)]
    assert min(r) > 0.99
    with pytest.raises(ValueError, match="n_components"):
        pca_reduce(X, 61, fit_rows=train)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu():
    X, Y = _data(200)
    cpu = RidgeCV(ALPHAS, n_folds=5, dtype=torch.float64).fit(X, Y)
    gpu = RidgeCV(ALPHAS, n_folds=5, dtype=torch.float64, device="cuda").fit(X, Y)
    assert torch.equal(cpu.best_alphas_, gpu.best_alphas_.cpu())
    torch.testing.assert_close(cpu.coef_, gpu.coef_.cpu(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("n_features", [30, 200], ids=["primal", "dual"])
def test_one_alpha_per_group_is_the_best_mean_cv_score_as_sklearn(n_features):
    X, Y = _data(n_features)
    groups = np.repeat([7, 3, 5], [10, 25, 5])  # unequal groups, labels in no particular order
    ours = RidgeCV(ALPHAS, n_folds=5, target_batch_size=16).fit(X, Y, groups=groups)  # batches cut groups
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    cv = np.zeros((len(ALPHAS), Y.shape[1]))  # mean over folds of per-target Pearson r, by scikit-learn
    for train, val in KFold(5).split(X64):
        for i, alpha in enumerate(ALPHAS):
            pred = Ridge(alpha).fit(X64[train], Y64[train]).predict(X64[val])
            p, t = pred - pred.mean(0), Y64[val] - Y64[val].mean(0)
            cv[i] += (p * t).sum(0) / np.sqrt((p * p).sum(0) * (t * t).sum(0)) / 5
    for label in (7, 3, 5):
        cols = groups == label
        want = ALPHAS[cv[:, cols].mean(1).argmax()]
        assert np.unique(ours.best_alphas_.numpy()[cols]).tolist() == [pytest.approx(want)]
    assert len(np.unique(ours.best_alphas_.numpy())) > 1  # the groups did not all land on one alpha
    ref = np.column_stack([Ridge(a).fit(X64, Y64[:, t]).predict(X64) for t, a in enumerate(ours.best_alphas_)])
    assert _rel(ours.predict(X), ref) < 2e-6
    with pytest.raises(ValueError, match=r"groups must have shape \(40,\)"):
        RidgeCV(ALPHAS, n_folds=5).fit(X, Y, groups=groups[:-1])
