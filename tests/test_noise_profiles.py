"""The simulator's noise profiles against the real release's reliabilities (issue 13)."""

import dataclasses
import json

import numpy as np
import pytest

from datamodules.safe_pickle import load_pickle
from scoring.layout import MINI_TRACK_ROIS
from scoring.noise_ceiling import spearman_brown
from simulator import TINY_CONFIG, brain, generate_dataset
from simulator.__main__ import PRESETS
from simulator.config import (
    RELEASE_CONFIG,
    RELEASE_VOXEL_RANGES,
    SUB01_VOXEL_COUNTS,
    SyntheticConfig,
)
from simulator.noise_profiles import REAL_SINGLE_REPETITION_R, draw_ceilings
from simulator.subject import draw_counts


def _mean_single_repetition_r(responses):
    """Mean over voxels of the Pearson r between two repetitions, averaged over the pairs:
    the real-data table's statistic, written out with numpy.corrcoef."""
    n_reps, n_voxels = responses.shape[1:]
    pairs = [(i, j) for i in range(n_reps) for j in range(i + 1, n_reps)]
    r = [[np.corrcoef(responses[:, i, v], responses[:, j, v])[0, 1] for v in range(n_voxels)]
         for i, j in pairs]
    return float(np.mean(r))


@pytest.mark.parametrize("roi", MINI_TRACK_ROIS)
def test_realistic_profile_matches_the_real_table_within_15_percent(roi):
    """1000 videos x 3 repetitions, as the real table was computed; 600 voxels so that the
    sampling error of the mean (about 0.003) is small against the 15% tolerance."""
    rng = np.random.default_rng(MINI_TRACK_ROIS.index(roi))
    ceilings = draw_ceilings(rng, "realistic", roi, 600, 3)
    clean = rng.standard_normal((1000, 600))
    responses = brain.add_noise(rng, clean, brain.noise_sd_for_ceiling(ceilings, 3), 3)
    measured = _mean_single_repetition_r(responses)
    assert measured == pytest.approx(REAL_SINGLE_REPETITION_R[roi], rel=0.15)


def test_realistic_profile_has_near_zero_voxels_and_a_tail():
    rng = np.random.default_rng(0)
    c3 = draw_ceilings(rng, "realistic", "LOC", 20000, 3)
    r1 = c3 / (3 - 2 * c3)
    assert (r1 < 0.01).mean() > 0.05            # voxels that carry next to no signal
    assert np.quantile(r1, 0.99) > 3 * r1.mean()  # and a few far more reliable than the mean
    np.testing.assert_allclose(spearman_brown(r1, 3), c3, rtol=1e-12)


def test_easy_profile_draws_exactly_what_round_one_drew():
    """Data generated before profiles existed is reproduced bit for bit."""
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(draw_ceilings(a, "easy", "V1", 50, 3),
                                  b.uniform(*brain.REGIONS["V1"].ceiling_range, 50))
    np.testing.assert_array_equal(draw_ceilings(a, "easy", None, 50, 3),
                                  b.uniform(*brain.EXTRA_CEILING_RANGE, 50))


def test_profile_and_counts_are_checked():
    with pytest.raises(ValueError, match="noise_profile must be one of"):
        SyntheticConfig(noise_profile="loud")
    with pytest.raises(ValueError, match="voxel_counts must be one of"):
        SyntheticConfig(voxel_counts="sub02")


def test_release_config_has_the_release_size_and_sub01_like_counts():
    assert (RELEASE_CONFIG.n_train, RELEASE_CONFIG.n_test, RELEASE_CONFIG.n_subjects) == (1000, 102, 10)
    assert RELEASE_CONFIG.noise_profile == "realistic" and PRESETS["release"] is RELEASE_CONFIG
    draws = [draw_counts(np.random.default_rng([0, 1, s]), RELEASE_CONFIG)[0] for s in range(40)]
    for roi in MINI_TRACK_ROIS:
        counts = np.array([d[roi] for d in draws])
        lo, hi = RELEASE_VOXEL_RANGES[roi]
        assert counts.min() >= lo and counts.max() <= hi
        assert counts.std() > 0  # a spread across subjects
        # Around sub01's count, except where sub01 sits at the edge of the release's range.
        assert abs(np.median(counts) - np.clip(SUB01_VOXEL_COUNTS[roi], lo, hi)) <= 0.25 * hi


def test_generated_release_records_and_uses_the_realistic_profile(tmp_path):
    config = dataclasses.replace(TINY_CONFIG, noise_profile="realistic")
    root = generate_dataset(tmp_path / "release", config, progress=False)
    meta = json.loads((root / "synthetic_truth" / "meta.json").read_text())
    assert meta["config"]["noise_profile"] == "realistic"
    easy = generate_dataset(tmp_path / "easy", TINY_CONFIG, progress=False)
    r1 = {}
    for name, folder in (("realistic", root), ("easy", easy)):
        truth = load_pickle(folder / "synthetic_truth/full_track/sub01/WB.pkl")
        c3 = truth["noise_ceiling"][truth["roi"] >= 0]  # the nine regions' voxels
        r1[name] = (c3 / (3 - 2 * c3)).mean()
        # The stored noise level is the one that gives the stored ceiling.
        np.testing.assert_allclose(
            brain.true_ceiling(truth["clean"], truth["noise_sd"], 3), truth["noise_ceiling"],
            rtol=1e-4, atol=1e-6)
    # Round one's brain is 2.5-5 times more reliable than the real one; the realistic one is not.
    assert r1["realistic"] < 0.5 * r1["easy"]
