"""Time-series scores against scipy: per-parcel r over concatenated runs, means, normalisation."""

import numpy as np
import pytest
from scipy.stats import pearsonr

from scoring.timeseries import normalised_r, parcel_r, repeat_reliability, score_subjects


def _runs(rng, lengths, n_parcels):
    return [rng.standard_normal((n, n_parcels)) for n in lengths]


def test_parcel_r_is_scipys_pearson_over_the_concatenated_runs():
    rng = np.random.default_rng(0)
    targets = _runs(rng, [20, 13, 31], 5)
    preds = [t + rng.standard_normal(t.shape) for t in targets]
    r = parcel_r(preds, targets)
    p, t = np.concatenate(preds), np.concatenate(targets)
    expected = [pearsonr(p[:, j], t[:, j])[0] for j in range(5)]
    np.testing.assert_allclose(r, expected, rtol=1e-10)
    # not the mean of per-run r: concatenation is what the challenge scores
    per_run = np.mean([[pearsonr(a[:, j], b[:, j])[0] for j in range(5)]
                       for a, b in zip(preds, targets, strict=True)], axis=0)
    assert not np.allclose(r, per_run)


def test_score_subjects_averages_parcels_then_subjects_and_names_a_missing_run():
    rng = np.random.default_rng(1)
    targets = {"sub-01": dict(zip(["a", "b"], _runs(rng, [15, 18], 4), strict=True)),
               "sub-02": dict(zip(["a"], _runs(rng, [25], 4), strict=True))}
    preds = {s: {k: v + 2 * rng.standard_normal(v.shape) for k, v in runs.items()}
             for s, runs in targets.items()}
    score = score_subjects(preds, targets)
    sub1 = np.concatenate([preds["sub-01"]["a"], preds["sub-01"]["b"]])
    tgt1 = np.concatenate([targets["sub-01"]["a"], targets["sub-01"]["b"]])
    r1 = np.mean([pearsonr(sub1[:, j], tgt1[:, j])[0] for j in range(4)])
    r2 = np.mean([pearsonr(preds["sub-02"]["a"][:, j], targets["sub-02"]["a"][:, j])[0]
                  for j in range(4)])
    assert score.per_subject["sub-01"] == pytest.approx(r1)
    assert score.overall == pytest.approx((r1 + r2) / 2)
    del preds["sub-01"]["b"]
    with pytest.raises(ValueError, match=r"sub-01: no prediction for run\(s\) \['b'\]"):
        score_subjects(preds, targets)
    with pytest.raises(ValueError, match="run 0: prediction"):
        parcel_r([np.zeros((3, 2))], [np.zeros((4, 2))])


def test_normalised_r_uses_the_repeat_ceiling():
    """A perfect model (the noise-free series) scores about 1 once normalised."""
    rng = np.random.default_rng(2)
    clean = rng.standard_normal((4000, 3))
    noise_sd = np.array([0.5, 1.0, 2.0])
    run1 = clean + noise_sd * rng.standard_normal(clean.shape)
    run2 = clean + noise_sd * rng.standard_normal(clean.shape)
    rel = repeat_reliability([run1], [run2])
    np.testing.assert_allclose(rel, 1 / (1 + noise_sd**2), atol=0.03)
    np.testing.assert_allclose(normalised_r(parcel_r([clean], [run1]), rel), 1.0, atol=0.05)
    mean = (run1 + run2) / 2
    np.testing.assert_allclose(normalised_r(parcel_r([clean], [mean]), rel, n_averaged=2), 1.0,
                               atol=0.05)
    assert np.isnan(normalised_r(np.array([0.2]), np.array([-0.01]))).all()
