"""FIR delays and the fixed-lag window per run, run-grouped folds, and lag recovery by FIR ridge."""

import numpy as np
import pytest

from ridge.delays import fir_delays, fixed_lag_window, lag_profile, peak_lag
from scoring.run_splits import group_kfold_folds, leave_one_run_out, run_labels
from simulator.movies.hrf import convolve_runs, double_gamma, hrf_kernel, peak_time

TR = 1.49


def test_fir_delays_shift_within_each_run_and_pad_its_start():
    x = np.arange(1, 8, dtype=float)[:, None] * np.array([[1.0, 10.0]])  # 7 TRs, 2 features
    out = fir_delays(x, [4, 3], delays=[0, 2])
    assert out.shape == (7, 4)
    np.testing.assert_array_equal(out[:, :2], x)
    # lag 2: run 0 rows 2,3 <- rows 0,1; run 1 (rows 4..6) row 6 <- row 4; zeros at each start
    expected = np.zeros((7, 2))
    expected[2:4] = x[0:2]
    expected[6] = x[4]
    np.testing.assert_array_equal(out[:, 2:], expected)


def test_fir_delays_refuse_lengths_that_do_not_match():
    with pytest.raises(ValueError, match="add up to 6 TRs but features have 7"):
        fir_delays(np.zeros((7, 2)), [3, 3])
    with pytest.raises(ValueError, match="lags >= 0"):
        fir_delays(np.zeros((7, 2)), [7], delays=[-1, 0])


def _devkit_window(features, hrf_delay, window):
    """The Algonauts 2025 dev kit's alignment, written as its loop, for one run."""
    rows = []
    for s in range(len(features)):
        if s < window + hrf_delay:
            start = 0
        else:
            start = s - hrf_delay - window + 1
        end = start + window
        if end > len(features):
            end = len(features)
            start = end - window
        rows.append(features[start:end].flatten())
    return np.array(rows)


def test_fixed_lag_window_matches_the_dev_kit_loop_per_run():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((23, 3))
    out = fixed_lag_window(x, [12, 11], hrf_delay=3, window=5)
    expected = np.concatenate([_devkit_window(x[:12], 3, 5), _devkit_window(x[12:], 3, 5)])
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="run 1 has 4 TRs, fewer than the window of 5"):
        fixed_lag_window(x[:16], [12, 4])


def test_run_folds_never_split_a_run_and_cover_everything():
    lengths = [30, 12, 25, 25, 8, 40, 17]
    labels = run_labels(lengths)
    folds = group_kfold_folds(labels, 3)
    seen = np.concatenate([val for _, val in folds])
    np.testing.assert_array_equal(np.sort(seen), np.arange(len(labels)))
    for train, val in folds:
        assert not set(train) & set(val)
        val_runs = set(labels[val])
        assert not val_runs & set(labels[train])  # each run wholly on one side
        # no TR in validation has a neighbour of its own run in training
        is_val = np.zeros(len(labels), bool)
        is_val[val] = True
        same_run = labels[1:] == labels[:-1]
        assert not (same_run & (is_val[1:] != is_val[:-1])).any()
    sizes = [len(v) for _, v in folds]
    assert max(sizes) - min(sizes) <= max(lengths)  # balanced to within a run
    loro = leave_one_run_out(lengths)
    assert [len(v) for _, v in loro] == lengths
    with pytest.raises(ValueError, match="number of runs"):
        group_kfold_folds(labels, 8)


def test_double_gamma_peaks_near_5_s_with_an_undershoot():
    t = np.arange(0, 32, 0.01)
    h = double_gamma(t)
    assert 4.5 <= peak_time() <= 5.5 and h.max() == pytest.approx(1.0, abs=1e-6)
    assert h.min() < -0.05 and 12 < t[h.argmin()] < 20
    kernel = hrf_kernel(2.0)
    assert kernel.sum() == pytest.approx(1.0)
    x = np.random.default_rng(0).standard_normal((40, 2))
    np.testing.assert_allclose(convolve_runs(x, kernel),
                               np.stack([np.convolve(x[:, i], kernel)[:40] for i in range(2)], 1),
                               atol=1e-12)


def _ridge_with_run_cv(X, Y, lengths, alphas):
    """Closed-form ridge (numpy) with one alpha for all targets, chosen by run-grouped 3-fold CV."""
    folds = group_kfold_folds(run_labels(lengths), 3)

    def fit(Xt, Yt, a):
        mx, my = Xt.mean(0), Yt.mean(0)
        Xc = Xt - mx
        w = np.linalg.solve(Xc.T @ Xc + a * np.eye(X.shape[1]), Xc.T @ (Yt - my))
        return w, my - mx @ w

    def score(a):
        r = []
        for train, val in folds:
            w, b = fit(X[train], Y[train], a)
            p = X[val] @ w + b
            r.append(np.mean([np.corrcoef(p[:, j], Y[val, j])[0, 1] for j in range(Y.shape[1])]))
        return np.mean(r)

    best = max(alphas, key=score)
    return fit(X, Y, best)[0]


def test_fir_ridge_recovers_the_simulated_lag_within_one_tr():
    """Features at 10 Hz, responses = features convolved with the canonical HRF, averaged per TR,
    plus noise; FIR ridge on TR-averaged features finds the response's peak lag."""
    rng = np.random.default_rng(1)
    rate, lengths, n_features, n_targets = 10.0, [150, 140, 160, 150, 145, 155], 4, 12
    per_tr = int(round(TR * rate))
    feats, resp = [], []
    weights = rng.standard_normal((n_features, n_targets))
    for n in lengths:
        x = rng.standard_normal((n * per_tr, n_features))  # a new scene every 1.5 s, roughly
        x = np.repeat(x[::15], 15, axis=0)[: n * per_tr]
        y = convolve_runs(x @ weights, hrf_kernel(rate))
        feats.append(x.reshape(n, per_tr, n_features).mean(1))
        resp.append(y.reshape(n, per_tr, n_targets).mean(1))
    X, Y = np.concatenate(feats), np.concatenate(resp)
    Y = Y + rng.standard_normal(Y.shape) * Y.std(0)  # r(noisy, clean) about 0.7
    delays = list(range(13))  # 0-17.9 s: the peak and the undershoot
    coef = _ridge_with_run_cv(fir_delays(X, lengths, delays), Y, lengths, np.logspace(-1, 4, 11))
    profile = lag_profile(coef, delays)
    true_lag = peak_time() / TR  # 3.36 TRs; TR t averages [t, t+1) TRs so the kernel's peak is at 3
    assert np.all(np.abs(peak_lag(profile, delays) - true_lag) <= 1)
    # the mean profile follows the HRF averaged over a TR, undershoot included
    expected = np.array([double_gamma(np.linspace(d * TR - TR, d * TR + TR, 50)).mean()
                         for d in delays])
    mean_profile = profile.mean(1)
    assert np.corrcoef(mean_profile, expected)[0, 1] > 0.9
    assert mean_profile[9:].min() < 0  # past 12 s


def test_lag_profile_of_a_rank_one_fir_weight_is_its_shape():
    h = np.array([0.0, 0.2, 1.0, 0.5, -0.1])
    b = np.array([[2.0, -1.0], [0.5, 3.0], [-1.0, 1.0]])  # 3 features, 2 targets
    coef = (h[:, None, None] * b[None]).reshape(15, 2)
    np.testing.assert_allclose(lag_profile(coef, range(5)), np.stack([h, h], 1), atol=1e-12)
