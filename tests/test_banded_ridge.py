"""BandedRidgeCV and variance partitioning against himalaya and scikit-learn on tiny data."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from ridge.banded import BandedRidgeCV, band_weight_candidates
from ridge.variance_partition import variance_partition

N_TRAIN, N_TEST = 60, 30
ALPHAS = np.logspace(-2, 5, 15)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny matrices: a second BLAS/OpenMP thread only adds synchronisation (10x slower on a loaded box)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _bands(sizes, n_voxels=24, seed=0, noise=1.0):
    """Bands with offsets, voxels mixing them with Dirichlet weights, + noise and an offset.

    Returns (train bands, test bands, Y_train, Y_test), float64 numpy.
    """
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    Xs = [rng.standard_normal((n, p)) * rng.uniform(0.5, 2) + rng.uniform(-1, 1, p) for p in sizes]
    mix = rng.dirichlet([0.3] * len(sizes), n_voxels).T  # (n_bands, n_voxels)
    signal = sum(
        m * (X @ rng.standard_normal((X.shape[1], n_voxels))) / np.sqrt(X.shape[1])
        for m, X in zip(mix, Xs, strict=True)
    )
    Y = 3 * signal + noise * rng.standard_normal((n, n_voxels)) + 10
    names = [f"layer{i}" for i in range(len(sizes))]
    train = {k: X[:N_TRAIN] for k, X in zip(names, Xs, strict=True)}
    test = {k: X[N_TRAIN:] for k, X in zip(names, Xs, strict=True)}
    return train, test, Y[:N_TRAIN], Y[N_TRAIN:]


def _himalaya(model, train, test, Y, fit_intercept=True, scoring="correlation"):
    """himalaya's MultipleKernelRidgeCV (random search) with the model's candidates, alphas and folds,
    on precomputed linear kernels of the bands (float64). Returns (himalaya model, test kernels)."""
    from himalaya.backend import set_backend
    from himalaya.kernel_ridge import MultipleKernelRidgeCV
    from himalaya.scoring import correlation_score
    from himalaya.scoring import r2_score as himalaya_r2

    set_backend("torch")
    Ks = np.stack([X @ X.T for X in train.values()])
    Kt = np.stack([Xt @ X.T for X, Xt in zip(train.values(), test.values(), strict=True)])
    ref = MultipleKernelRidgeCV(
        kernels="precomputed",
        solver="random_search",
        fit_intercept=fit_intercept,
        cv=[(tr.numpy(), va.numpy()) for tr, va in model.splits_],
        solver_params=dict(
            n_iter=model.band_weight_candidates_.numpy(),
            alphas=ALPHAS,
            score_func=correlation_score if scoring == "correlation" else himalaya_r2,
            progress_bar=False,
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(Ks, Y)
    return ref, Kt


def _r(a, b):
    """Per-column Pearson r of two (n, m) arrays."""
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


@pytest.mark.parametrize("sizes", [(4, 7, 5), (30, 45, 20)], ids=["primal", "dual"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_agrees_with_himalaya_random_search(sizes, dtype):
    train, test, Y, _ = _bands(sizes)
    ours = BandedRidgeCV(12, ALPHAS, n_folds=5, dtype=dtype).fit(train, Y)
    ref, Kt = _himalaya(ours, train, test, Y)

    pred, ref_pred = ours.predict(test).double().numpy(), np.asarray(ref.predict(Kt))
    assert _r(pred, ref_pred).min() >= 0.9999
    # himalaya's cv_scores_ (n_candidates, n_voxels): each candidate's score at its best alpha
    ref_scores = np.asarray(ref.cv_scores_)
    np.testing.assert_allclose(ours.candidate_scores_.numpy(), ref_scores, atol=1e-5)
    top2 = np.sort(ref_scores, axis=0)[-2:]
    untied = top2[1] - top2[0] > 1e-5  # exact ties: Dirichlet(0.1) draws within 1e-9 of a corner
    assert untied.mean() > 0.6
    ref_w = np.exp(np.asarray(ref.deltas_))
    ref_w /= ref_w.sum(0)  # deltas = log(w / alpha), w on the simplex
    np.testing.assert_allclose(ours.band_weights_.numpy()[:, untied], ref_w[:, untied], atol=1e-8)
    np.testing.assert_allclose(
        ours.alphas_.numpy()[untied], np.asarray(ref.best_alphas_)[untied], rtol=1e-6
    )
    np.testing.assert_allclose(ours.cv_scores_.numpy(), ref_scores.max(0), atol=1e-5)
    if dtype == torch.float64:
        assert np.abs(pred - ref_pred).max() < 1e-6 * np.abs(ref_pred).max()


def test_r2_scoring_agrees_with_himalaya():
    train, test, Y, _ = _bands((30, 45, 20), seed=5)
    ours = BandedRidgeCV(12, ALPHAS, n_folds=5, dtype=torch.float64, scoring="r2").fit(train, Y)
    ref, Kt = _himalaya(ours, train, test, Y, scoring="r2")
    np.testing.assert_allclose(
        ours.candidate_scores_.numpy(), np.asarray(ref.cv_scores_), atol=1e-8
    )
    assert _r(ours.predict(test).numpy(), np.asarray(ref.predict(Kt))).min() >= 0.9999


def test_predict_split_and_score_split_match_himalaya_and_sum():
    from himalaya.kernel_ridge import predict_weighted_kernel_ridge
    from himalaya.scoring import correlation_score_split

    train, test, Y, Yt = _bands((6, 30, 12), seed=1)
    ours = BandedRidgeCV(10, ALPHAS, n_folds=5, dtype=torch.float64).fit(train, Y)
    split = ours.predict_split(test)
    assert split.shape == (3, N_TEST, Y.shape[1])
    torch.testing.assert_close(split.sum(0), ours.predict(test), rtol=0, atol=1e-10)

    # himalaya's own split of its model (its predict refuses to split with an intercept, so without it:
    # each band's part then differs from ours by a constant per voxel; compare them centred over videos)
    ref, Kt = _himalaya(ours, train, test, Y)
    ref_split = np.asarray(
        predict_weighted_kernel_ridge(
            Ks=torch.as_tensor(Kt), dual_weights=ref.dual_coef_, deltas=ref.deltas_, split=True
        )
    )
    ref_w = np.exp(np.asarray(ref.deltas_))
    same = np.isclose(ref_w / ref_w.sum(0), ours.band_weights_.numpy(), atol=1e-8).all(0)
    assert same.mean() > 0.8

    def centred(a):
        return a - a.mean(1, keepdims=True)

    ours_split = split.numpy()
    np.testing.assert_allclose(
        centred(ours_split)[..., same],
        centred(ref_split)[..., same],
        atol=1e-7 * np.abs(ref_split).max(),
    )
    shares = ours.score_split(test, Yt)
    assert shares.shape == (3, Y.shape[1])
    ref_shares = np.asarray(
        correlation_score_split(torch.as_tensor(Yt), torch.as_tensor(ref_split))
    )
    np.testing.assert_allclose(shares.numpy()[:, same], ref_shares[:, same], atol=1e-8)
    # himalaya's formula on our parts, every voxel
    on_ours = np.asarray(correlation_score_split(torch.as_tensor(Yt), split))
    np.testing.assert_allclose(shares.numpy(), on_ours, atol=1e-12)
    r = _r(ours.predict(test).numpy(), Yt)
    np.testing.assert_allclose(shares.sum(0).numpy(), r, atol=1e-10)
    np.testing.assert_allclose(ours.score(test, Yt).numpy(), r, atol=1e-10)


def test_float32_scores_match_float64():
    train, test, Y, Yt = _bands((6, 30, 12), seed=1)
    kw = dict(band_weight_candidates=10, alphas=ALPHAS, n_folds=5)
    m32 = BandedRidgeCV(**kw).fit(train, Y)
    m64 = BandedRidgeCV(dtype=torch.float64, **kw).fit(train, Y)
    assert m32.coef_.dtype == torch.float32
    torch.testing.assert_close(
        m32.score_split(test, Yt).double(), m64.score_split(test, Yt), rtol=0, atol=1e-5
    )


def test_planted_voxels_weigh_their_own_band():
    rng = np.random.default_rng(3)
    n = N_TRAIN + N_TEST
    X0, X1 = rng.standard_normal((n, 20)), rng.standard_normal((n, 20))
    w0, w1 = rng.standard_normal((20, 5)), rng.standard_normal((20, 5))
    Y = np.hstack([X0 @ w0, X1 @ w1]) + 0.5 * rng.standard_normal((n, 10))
    bands = {"edges": X0[:N_TRAIN], "objects": X1[:N_TRAIN]}
    m = BandedRidgeCV(20, ALPHAS, n_folds=5).fit(bands, Y[:N_TRAIN])
    assert m.band_names == ["edges", "objects"]
    assert m.band_weights_.shape == (2, 10)
    torch.testing.assert_close(m.band_weights_.sum(0), torch.ones(10, dtype=torch.float64))
    assert (m.band_weights_[0, :5] > 0.9).all() and (m.band_weights_[1, 5:] > 0.9).all()
    shares = m.score_split({"edges": X0[N_TRAIN:], "objects": X1[N_TRAIN:]}, Y[N_TRAIN:])
    assert (shares[0, :5] > 0.8).all() and (shares[1, 5:] > 0.8).all()
    assert (shares[1, :5].abs() < 0.1).all() and (shares[0, 5:].abs() < 0.1).all()


def test_target_batches_and_normalized_bands_are_exact():
    train, test, Y, _ = _bands((6, 30, 12), seed=2)
    kw = dict(band_weight_candidates=8, alphas=ALPHAS, n_folds=5, dtype=torch.float64)
    whole = BandedRidgeCV(**kw).fit(train, Y)
    batched = BandedRidgeCV(target_batch=7, **kw).fit(train, Y)
    assert torch.equal(whole.best_candidate_, batched.best_candidate_)
    assert torch.equal(whole.alphas_, batched.alphas_)
    torch.testing.assert_close(whole.predict(test), batched.predict(test), rtol=1e-12, atol=1e-12)
    # normalize_bands: the same as dividing each centred band by the rms norm of its rows
    norm = BandedRidgeCV(normalize_bands=True, **kw).fit(train, Y)
    scale = {k: np.sqrt(((X - X.mean(0)) ** 2).sum(1).mean()) for k, X in train.items()}
    by_hand = BandedRidgeCV(**kw).fit({k: X / scale[k] for k, X in train.items()}, Y)
    assert torch.equal(norm.best_candidate_, by_hand.best_candidate_)
    torch.testing.assert_close(
        norm.predict(test), by_hand.predict({k: X / scale[k] for k, X in test.items()})
    )


def test_candidates_corners_uniform_dirichlet():
    W = band_weight_candidates(4, 12, seed=5)
    assert W.shape == (12, 4) and W.dtype == torch.float64
    assert torch.equal(W[:4], torch.eye(4, dtype=torch.float64))
    torch.testing.assert_close(W[4], torch.full((4,), 0.25, dtype=torch.float64))
    torch.testing.assert_close(W.sum(1), torch.ones(12, dtype=torch.float64))
    assert (W >= 0).all() and torch.equal(W, band_weight_candidates(4, 12, seed=5))
    assert band_weight_candidates(1, 20).shape == (1, 1)
    m = BandedRidgeCV(torch.tensor([[2.0, 0.0], [1.0, 3.0]]), ALPHAS)  # rows are normalised
    train, _, Y, _ = _bands((5, 6), n_voxels=3)
    m.fit(train, Y)
    torch.testing.assert_close(
        m.band_weight_candidates_, torch.tensor([[1.0, 0.0], [0.25, 0.75]], dtype=torch.float64)
    )


def _planted_partition_data(n_bands, seed=4):
    """Bands sharing a common part; voxels 0-3 driven by band a's own features, 4-7 by band b's,
    8-11 by the common part only (shared variance)."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    common = rng.standard_normal((n, 3))
    Xs = [
        np.hstack([common + 0.3 * rng.standard_normal((n, 3)), rng.standard_normal((n, 8))])
        for _ in range(n_bands)
    ]
    W = np.zeros((n_bands, 11, 12))
    W[0, 3:, :4] = rng.standard_normal((8, 4))
    W[1, 3:, 4:8] = rng.standard_normal((8, 4))
    Y = (
        sum(X @ Wb for X, Wb in zip(Xs, W, strict=True))
        + np.hstack([np.zeros((n, 8)), common @ rng.standard_normal((3, 4))])
        + 0.7 * rng.standard_normal((n, 12))
    )
    names = ["a", "b", "c"][:n_bands]
    train = {k: X[:N_TRAIN] for k, X in zip(names, Xs, strict=True)}
    test = {k: X[N_TRAIN:] for k, X in zip(names, Xs, strict=True)}
    return names, train, test, Y[:N_TRAIN], Y[N_TRAIN:]


def _want_parts(r2, n_bands):
    """The Venn parts written out by hand from the subset R^2 (keys: band-index tuples)."""
    if n_bands == 2:
        return {
            "unique[a]": r2[(0, 1)] - r2[(1,)],
            "unique[b]": r2[(0, 1)] - r2[(0,)],
            "shared[a,b]": r2[(0,)] + r2[(1,)] - r2[(0, 1)],
        }
    full = (0, 1, 2)
    return {
        "unique[a]": r2[full] - r2[(1, 2)],
        "unique[b]": r2[full] - r2[(0, 2)],
        "unique[c]": r2[full] - r2[(0, 1)],
        "shared[a,b]": r2[(0, 2)] + r2[(1, 2)] - r2[(2,)] - r2[full],
        "shared[a,c]": r2[(0, 1)] + r2[(1, 2)] - r2[(1,)] - r2[full],
        "shared[b,c]": r2[(0, 1)] + r2[(0, 2)] - r2[(0,)] - r2[full],
        "shared[a,b,c]": r2[(0,)]
        + r2[(1,)]
        + r2[(2,)]
        - r2[(0, 1)]
        - r2[(0, 2)]
        - r2[(1, 2)]
        + r2[full],
    }


def _reference_subset_r2(model, method, S, train, Y, test, Yt):
    """Independent test R^2 (n_voxels,) of the subset model on the bands S.

    "cv": himalaya's MultipleKernelRidgeCV on the subset's kernels, with the model's candidates restricted
    to S (renormalised), its alphas and folds. "fixed": scikit-learn Ridge per voxel on the bands in S
    scaled by sqrt(w_b), with the voxel's own alpha and weights from the joint model."""
    names = model.band_names
    if method == "cv" and len(S) < len(names):
        from himalaya.backend import set_backend
        from himalaya.kernel_ridge import MultipleKernelRidgeCV
        from himalaya.scoring import r2_score as himalaya_r2

        set_backend("torch")
        cands = model.band_weight_candidates_.numpy()[:, list(S)]
        cands = cands[cands.sum(1) > 0]
        cands = np.unique(cands / cands.sum(1, keepdims=True), axis=0)
        Ks = np.stack([train[names[b]] @ train[names[b]].T for b in S])
        Kt = np.stack([test[names[b]] @ train[names[b]].T for b in S])
        ref = MultipleKernelRidgeCV(
            kernels="precomputed",
            solver="random_search",
            fit_intercept=True,
            cv=[(tr.numpy(), va.numpy()) for tr, va in model.splits_],
            solver_params=dict(
                n_iter=cands, alphas=ALPHAS, score_func=himalaya_r2, progress_bar=False
            ),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref.fit(Ks, Y)
        pred = np.asarray(ref.predict(Kt))
        return np.array([r2_score(Yt[:, t], pred[:, t]) for t in range(Y.shape[1])])
    out = []
    for t in range(Y.shape[1]):
        w = model.band_weights_[:, t].numpy()
        kept = [b for b in S if w[b] > 0]
        if not kept:
            out.append(r2_score(Yt[:, t], np.full(len(Yt), Y[:, t].mean())))
            continue
        Z = np.hstack([train[names[b]] * np.sqrt(w[b]) for b in kept])
        Zt = np.hstack([test[names[b]] * np.sqrt(w[b]) for b in kept])
        pred = Ridge(alpha=float(model.alphas_[t])).fit(Z, Y[:, t]).predict(Zt)
        out.append(r2_score(Yt[:, t], pred))
    return np.array(out)


@pytest.mark.parametrize("method", ["cv", "fixed"])
@pytest.mark.parametrize("n_bands", [2, 3])
def test_variance_partition_matches_independent_subset_models(n_bands, method):
    from itertools import combinations

    names, train, test, Y, Yt = _planted_partition_data(n_bands)
    model = BandedRidgeCV(12, ALPHAS, n_folds=5, dtype=torch.float64, scoring="r2").fit(train, Y)
    parts = variance_partition(model, train, Y, test, Yt, method=method)

    r2 = {}
    for k in range(1, n_bands + 1):
        for S in combinations(range(n_bands), k):
            r2[S] = _reference_subset_r2(model, method, S, train, Y, test, Yt)
            np.testing.assert_allclose(
                parts[f"r2[{','.join(names[b] for b in S)}]"].numpy(),
                r2[S],
                atol=1e-6,
                err_msg=str(S),
            )
    full = tuple(range(n_bands))
    pred = model.predict(test).numpy()
    np.testing.assert_allclose(
        r2[full], [r2_score(Yt[:, t], pred[:, t]) for t in range(12)], atol=1e-8
    )
    want = _want_parts(r2, n_bands)
    assert {k for k in parts if not k.startswith("r2")} == set(want)
    for k, v in want.items():
        np.testing.assert_allclose(parts[k].numpy(), v, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(sum(parts[k] for k in want).numpy(), r2[full], atol=1e-8)
    if (
        method == "cv"
    ):  # the planted structure: own features unique to their band; the common part shared
        assert (parts["unique[a]"][:4] > 0.5).all() and (parts["unique[b]"][4:8] > 0.5).all()
        shared = sum(v for k, v in parts.items() if k.startswith("shared"))[8:]
        unique = sum(v.abs() for k, v in parts.items() if k.startswith("unique"))[8:]
        assert (shared > 0.25).all() and (shared > unique).all()


def test_bad_input_raises_clear_errors():
    train, test, Y, _ = _bands((4, 6), n_voxels=3)
    m = BandedRidgeCV(4, ALPHAS)
    with pytest.raises(ValueError, match="same number of rows.*'layer0' has 60, 'layer1' has 50"):
        m.fit({"layer0": train["layer0"], "layer1": train["layer1"][:50]}, Y)
    with pytest.raises(ValueError, match="non-empty dict.*got an empty dict"):
        m.fit({}, Y)
    with pytest.raises(
        ValueError, match=r"Y must have shape \(n_videos, n_voxels\) with n_videos=60"
    ):
        m.fit(train, Y[:40])
    bad = dict(train, layer1=train["layer1"].copy())
    bad["layer1"][7, 2] = np.inf
    with pytest.raises(
        ValueError, match="band 'layer1' has 1 NaN/inf values \\(first at row 7, column 2\\)"
    ):
        m.fit(bad, Y)
    Ybad = Y.copy()
    Ybad[3, 1] = np.nan
    with pytest.raises(ValueError, match="Y has 1 NaN/inf.*row 3, column 1"):
        m.fit(train, Ybad)
    with pytest.raises(ValueError, match=r"band 'layer0' must have shape \(n_videos, n_features\)"):
        m.fit({"layer0": train["layer0"][:, 0]}, Y)
    with pytest.raises(ValueError, match="at least n_bands \\+ 1 = 3"):
        BandedRidgeCV(2, ALPHAS).fit(train, Y)
    with pytest.raises(ValueError, match="band_weight_candidates must be finite and >= 0"):
        BandedRidgeCV(torch.tensor([[1.0, -1.0]]), ALPHAS).fit(train, Y)
    with pytest.raises(ValueError, match="alphas must be finite and > 0"):
        BandedRidgeCV(4, [0.0, 1.0]).fit(train, Y)
    with pytest.raises(ValueError, match="n_folds"):
        BandedRidgeCV(4, ALPHAS, n_folds=31).fit(train, Y)
    with pytest.raises(RuntimeError, match="not fitted"):
        m.predict(test)
    m.fit(train, Y)
    with pytest.raises(ValueError, match=r"bands seen in fit, \['layer0', 'layer1'\]"):
        m.predict({"layer0": test["layer0"]})
    with pytest.raises(ValueError, match="band 'layer1' must have 6 features"):
        m.predict(dict(test, layer1=test["layer1"][:, :5]))
    with pytest.raises(ValueError, match=r"Y must have shape \(30, 3\)"):
        m.score_split(test, Y)
    one = BandedRidgeCV(4, ALPHAS).fit({"layer0": train["layer0"]}, Y)
    with pytest.raises(ValueError, match="2 or 3 bands; the model has 1"):
        variance_partition(one, {"layer0": train["layer0"]}, Y, {"layer0": test["layer0"]}, Y[:30])
    with pytest.raises(ValueError, match="method must be 'cv' or 'fixed'"):
        variance_partition(m, train, Y, test, Y[:30], method="exact")


def test_constant_voxel_gets_finite_output():
    train, test, Y, Yt = _bands((4, 6), n_voxels=4)
    Y[:, 1] = 2.5
    m = BandedRidgeCV(5, ALPHAS).fit(train, Y)
    for name in ("coef_", "intercept_", "band_weights_", "alphas_", "cv_scores_"):
        assert torch.isfinite(getattr(m, name)).all(), name
    assert (m.coef_[:, 1] == 0).all() and m.cv_scores_[1] == 0
    torch.testing.assert_close(m.predict(test)[:, 1], torch.full((N_TEST,), 2.5))
    assert (m.score_split(test, Yt)[:, 1] == 0).all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu():
    train, test, Y, _ = _bands((6, 30, 12))
    kw = dict(band_weight_candidates=8, alphas=ALPHAS, n_folds=5, dtype=torch.float64)
    cpu = BandedRidgeCV(**kw).fit(train, Y)
    gpu = BandedRidgeCV(device="cuda", **kw).fit(train, Y)
    assert torch.equal(cpu.best_candidate_, gpu.best_candidate_.cpu())
    torch.testing.assert_close(cpu.predict(test), gpu.predict(test).cpu(), rtol=1e-8, atol=1e-10)
