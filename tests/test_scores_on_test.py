"""Test scores with NaN repetitions, checked against an independent computation written here."""

import json
import warnings

import numpy as np
import pytest
from scipy import stats

from scoring.noise_ceiling import noise_ceiling, present_mean_ceiling
from scoring.repetitions import repetition_counts, repetition_mean
from scoring.scores_on_test import (
    TEST_SCORES_FILE,
    one_line,
    score_on_test,
    scores_json,
    write_test_scores,
)


def _responses(rng, n_videos, n_reps, n_voxels, nan_share=0.15, signal_sd=1.0):
    signal = rng.normal(0, signal_sd, (n_videos, 1, n_voxels))
    x = signal + rng.normal(0, 1.0, (n_videos, n_reps, n_voxels))
    x[rng.random(x.shape) < nan_share] = np.nan
    return x


def _reference_ceiling(resp):
    """Per voxel, with loops: pooled within-video variance over the repetitions present, the
    variance of the per-video means, and the noise of a mean of k_i repetitions, averaged."""
    out = []
    for v in range(resp.shape[2]):
        videos = [row[~np.isnan(row)] for row in resp[:, :, v]]
        videos = [x for x in videos if len(x)]
        n = len(videos)
        dof = sum(len(x) - 1 for x in videos)
        if n < 4 or dof == 0:
            out.append(0.0)
            continue
        sigma2 = sum(((x - x.mean()) ** 2).sum() for x in videos) / dof
        noise_of_mean = sigma2 * np.mean([1 / len(x) for x in videos])
        var_means = np.var([x.mean() for x in videos], ddof=1)
        out.append(1 - noise_of_mean / var_means * (n - 3) / (n - 1))
    return np.array(out)


def _reference_r(pred, resp):
    r = []
    for v in range(resp.shape[2]):
        means = np.array(
            [
                np.mean(row[~np.isnan(row)]) if (~np.isnan(row)).any() else np.nan
                for row in resp[:, :, v]
            ]
        )
        keep = ~np.isnan(means)
        r.append(stats.pearsonr(pred[keep, v], means[keep])[0])
    return np.array(r)


def test_repetition_mean_uses_the_repetitions_present():
    rng = np.random.default_rng(0)
    x = _responses(rng, 6, 3, 4, nan_share=0.3)
    x[2, :, 1] = np.nan  # video 2 has no repetition of voxel 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanmean(x, axis=1)
    np.testing.assert_allclose(repetition_mean(x), expected, equal_nan=True)
    assert np.isnan(repetition_mean(x)[2, 1])
    np.testing.assert_array_equal(repetition_counts(x), (~np.isnan(x)).sum(1))


def test_present_mean_ceiling_matches_the_reference_with_nan():
    rng = np.random.default_rng(1)
    x = _responses(rng, 12, 5, 7, nan_share=0.2)
    x[3, :, 2] = np.nan  # a video without any repetition of voxel 2
    x[:, 1:, 4] = np.nan  # voxel 4: one repetition per video, no within-video variance: 0
    x[:, :, 5] = x[:, :1, 5]  # voxel 5: repetitions identical: noise 0, ceiling 1 where present
    assert np.isnan(x).any()
    got = present_mean_ceiling(x)
    np.testing.assert_allclose(got, _reference_ceiling(x), rtol=1e-10, atol=1e-12)
    assert got[4] == 0.0
    np.testing.assert_allclose(got[5], 1.0)


def test_present_mean_ceiling_is_noise_ceiling_without_nan():
    x = _responses(np.random.default_rng(2), 20, 10, 9, nan_share=0.0)
    np.testing.assert_allclose(present_mean_ceiling(x), noise_ceiling(x), rtol=1e-12)
    x[:, :, 0] = 3.0  # constant voxel
    assert present_mean_ceiling(x)[0] == 0.0
    with pytest.raises(ValueError, match="at least 2 repetitions"):
        present_mean_ceiling(x[:, :1])


def test_present_mean_ceiling_recovers_the_true_reliability_of_the_mean():
    # 30% of repetitions missing at random: each video's mean averages its own k_i repetitions,
    # and the true reliability is s2 / (s2 + sigma2 * mean(1 / k_i)).
    rng = np.random.default_rng(3)
    n, k, n_voxels, s2, sigma2 = 3000, 10, 40, 0.5, 4.0
    signal = rng.normal(0, np.sqrt(s2), (n, 1, n_voxels))
    x = signal + rng.normal(0, np.sqrt(sigma2), (n, k, n_voxels))
    x[rng.random(x.shape) < 0.3] = np.nan
    counts = (~np.isnan(x)).sum(1)
    inverse = np.where(counts > 0, 1 / np.maximum(counts, 1), 0).sum(0) / (counts > 0).sum(0)
    true = s2 / (s2 + sigma2 * inverse)
    estimate = present_mean_ceiling(x)
    assert abs(np.mean(estimate - true)) < 0.01
    # The ceiling assuming all 10 repetitions (Spearman-Brown to 10) would overstate it.
    assert np.mean(true) < 0.5 / (0.5 + 4.0 / 10) - 0.05


def _tiny_release(seed=4):
    rng = np.random.default_rng(seed)
    n_test, reps = 9, 4
    responses, predictions = {}, {}
    for subject, sizes in (("sub-01", {"V1": 4, "EBA": 3}), ("sub-02", {"V1": 5, "EBA": 2})):
        for region, n_voxels in sizes.items():
            resp = _responses(rng, n_test, reps, n_voxels, nan_share=0.2, signal_sd=1.5)
            resp[0, :, 0] = np.nan  # a test video with no repetition of this voxel
            # An unreliable voxel: its repetitions disagree far more than its videos differ.
            resp[:, :, -1] = 5.0 * np.array([1, -1, 1, -1]) + rng.normal(0, 0.1, (n_test, 1))
            responses.setdefault(subject, {})[region] = resp
            noisy_copy = np.nan_to_num(resp[:, 1]) + rng.normal(0, 1, (n_test, n_voxels))
            predictions.setdefault(subject, {})[region] = noisy_copy
    return predictions, responses


def _reference_scores(predictions, responses):
    groups_score, groups_r = {}, {}
    for subject, regions in responses.items():
        for region, resp in regions.items():
            r = _reference_r(predictions[subject][region], resp)
            c = _reference_ceiling(resp)
            groups_r[(subject, region)] = r.mean()
            groups_score[(subject, region)] = (r[c > 0] / np.sqrt(c[c > 0])).mean()
    return groups_score, groups_r


def test_score_on_test_matches_an_independent_computation():
    predictions, responses = _tiny_release()
    summary = score_on_test(predictions, responses)
    ref_score, ref_r = _reference_scores(predictions, responses)
    n_unreliable = sum(
        int((_reference_ceiling(resp) <= 0).sum())
        for regs in responses.values()
        for resp in regs.values()
    )
    assert n_unreliable >= 1  # the exclusion path is exercised
    assert summary.n_unreliable_voxels == n_unreliable
    for ref, got in ((ref_score, summary.score), (ref_r, summary.r)):
        assert got.groups.keys() == ref.keys()
        for g, value in ref.items():
            assert got.groups[g] == pytest.approx(value, abs=1e-5)
        for s in ("sub-01", "sub-02"):
            assert got.subjects[s] == pytest.approx(
                np.mean([v for (gs, _), v in ref.items() if gs == s]), abs=1e-5
            )
        for roi in ("V1", "EBA"):
            assert got.rois[roi] == pytest.approx(
                np.mean([v for (_, gr), v in ref.items() if gr == roi]), abs=1e-5
            )
        assert got.overall == pytest.approx(np.mean(list(ref.values())), abs=1e-5)


def test_test_scores_json_and_one_line(tmp_path):
    predictions, responses = _tiny_release()
    summary = score_on_test(predictions, responses)
    path = write_test_scores(tmp_path / "out", summary, n_test_videos=9)
    assert path == tmp_path / "out" / TEST_SCORES_FILE
    data = json.loads(path.read_text())
    ref_score, ref_r = _reference_scores(predictions, responses)
    assert data["overall"]["score"] == pytest.approx(np.mean(list(ref_score.values())), abs=1e-5)
    assert data["overall"]["r"] == pytest.approx(np.mean(list(ref_r.values())), abs=1e-5)
    assert set(data["subjects"]) == {"sub-01", "sub-02"} and set(data["rois"]) == {"V1", "EBA"}
    assert data["groups"]["sub-02/EBA"]["r"] == pytest.approx(ref_r[("sub-02", "EBA")], abs=1e-5)
    assert data["n_test_videos"] == 9 and data["n_unreliable_voxels"] == summary.n_unreliable_voxels
    assert "Spearman-Brown" in data["definition"]
    line = one_line(summary, 9)
    assert line.startswith(
        f"test score {summary.score.overall:.3f} (mean r {summary.r.overall:.3f})"
    )
    assert "9 test videos, 2 subjects, 2 regions" in line


def test_a_broken_prediction_is_nan_and_null_never_zero(tmp_path):
    predictions, responses = _tiny_release()
    predictions["sub-01"]["EBA"][3, 0] = np.nan
    data = scores_json(score_on_test(predictions, responses), 9)
    assert data["groups"]["sub-01/EBA"] == {"score": None, "r": None}
    assert data["overall"] == {"score": None, "r": None}
    assert data["groups"]["sub-02/V1"]["r"] is not None


def test_mismatches_are_refused():
    predictions, responses = _tiny_release()
    del predictions["sub-02"]["EBA"]
    with pytest.raises(ValueError, match=r"no prediction for \['sub-02/EBA'\]"):
        score_on_test(predictions, responses)
    predictions, responses = _tiny_release()
    predictions["sub-01"]["V1"] = predictions["sub-01"]["V1"][:, :3]
    with pytest.raises(
        ValueError, match=r"sub-01/V1: expected a prediction .* got \(9, 3\) and \(9, 4, 4\)"
    ):
        score_on_test(predictions, responses)
