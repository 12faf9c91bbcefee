import itertools

import numpy as np
import pytest

from scoring.noise_ceiling import leaderboard_ceiling, noise_ceiling, spearman_brown
from simulator import brain
from simulator.noise_profiles import draw_ceilings


def _reference(responses):
    """Straight from the definition with numpy.corrcoef, one voxel at a time."""
    n_videos, n_reps, n_voxels = responses.shape
    out = []
    for v in range(n_voxels):
        rs = [np.corrcoef(responses[:, i, v], responses[:, j, v])[0, 1]
              for i, j in itertools.combinations(range(n_reps), 2)]
        rho = np.mean(rs)
        out.append(n_reps * rho / (1 + (n_reps - 1) * rho))
    return np.array(out)


def test_matches_definition():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(50, 1, 7))
    responses = signal + rng.normal(size=(50, 3, 7)) * np.linspace(0.2, 3, 7)
    np.testing.assert_allclose(noise_ceiling(responses, method="pairwise"), _reference(responses),
                               rtol=1e-10)


def test_recovers_true_reliability():
    # Signal variance 1, noise variance s2 per repetition: the 3-repetition mean has
    # reliability 1 / (1 + s2 / 3).
    rng = np.random.default_rng(1)
    s2 = np.array([0.25, 1.0, 4.0, 9.0])
    signal = rng.normal(size=(20000, 1, 4))
    responses = signal + rng.normal(size=(20000, 3, 4)) * np.sqrt(s2)
    np.testing.assert_allclose(noise_ceiling(responses), 1 / (1 + s2 / 3), atol=0.02)


def test_two_repetitions_is_classic_split_half():
    rho = 0.4
    assert spearman_brown(rho, 2) == pytest.approx(2 * 0.4 / 1.4)


def test_unreliable_and_constant_voxels_do_not_give_nan():
    rng = np.random.default_rng(2)
    responses = rng.normal(size=(30, 3, 3))
    responses[:, :, 1] = 5.0  # constant voxel
    nc = noise_ceiling(responses)
    assert np.isfinite(nc).all()
    assert nc[1] == 0


def test_nan_repetitions_are_ignored_pairwise():
    rng = np.random.default_rng(3)
    responses = rng.normal(size=(40, 1, 2)) + 0.3 * rng.normal(size=(40, 3, 2))
    holed = responses.copy()
    holed[5, 1, 0] = np.nan
    expected = _reference(np.delete(responses, 5, axis=0))[0]
    assert np.isnan(holed[..., 0]).any() and not np.isnan(holed[..., 1]).any()
    # Only the pairs involving repetition 1 lose video 5; close to dropping it everywhere.
    assert noise_ceiling(holed)[0] == pytest.approx(expected, abs=0.01)
    assert np.isfinite(noise_ceiling(holed)).all()


def test_bad_shapes():
    with pytest.raises(ValueError, match="n_repetitions"):
        noise_ceiling(np.zeros((10, 4)))
    with pytest.raises(ValueError, match="at least 2 repetitions"):
        noise_ceiling(np.zeros((10, 1, 4)))


def _variance_reference(responses):
    """Variance components one voxel at a time with the statistics module: noise from the
    within-video sample variances, total from the sample variance of the means."""
    import statistics

    n, k, n_voxels = responses.shape
    out = []
    for v in range(n_voxels):
        noise = statistics.fmean(statistics.variance(responses[i, :, v]) for i in range(n)) / k
        total = statistics.variance(responses[:, :, v].mean(axis=1))
        out.append(1 - noise / total * (n - 3) / (n - 1))
    return np.array(out)


def test_variance_estimator_matches_its_definition():
    rng = np.random.default_rng(5)
    signal = rng.normal(size=(25, 1, 6))
    responses = signal + rng.uniform(0.2, 3.0, 6) * rng.normal(size=(25, 3, 6))
    np.testing.assert_allclose(noise_ceiling(responses), _variance_reference(responses), rtol=1e-10)
    # Forward to another number of repetitions through the single-repetition reliability.
    c3 = _variance_reference(responses)
    r1 = c3 / (3 - 2 * c3)
    np.testing.assert_allclose(noise_ceiling(responses, n_averaged=10), spearman_brown(r1, 10),
                               rtol=1e-10)


def test_leaderboard_ceiling_matches_brute_force_over_splits():
    rng = np.random.default_rng(6)
    responses = rng.normal(size=(15, 1, 3)) + rng.normal(size=(15, 6, 3))
    expected = []
    for v in range(3):
        values = []
        for half in itertools.combinations(range(6), 3):
            other = [i for i in range(6) if i not in half]
            r = np.corrcoef(responses[:, list(half), v].mean(1), responses[:, other, v].mean(1))[0, 1]
            values.append(2 * r / (1 + r))
        expected.append(np.mean(values))  # each split counted twice, as (A, B) and (B, A)
    np.testing.assert_allclose(leaderboard_ceiling(responses), expected, rtol=1e-10)
    with pytest.raises(ValueError, match="even number"):
        leaderboard_ceiling(responses[:, :5])


def test_default_estimator_is_unbiased_where_pairwise_is_not():
    """40 videos x 3 repetitions at the real data's noise (V1): the pairwise estimate is a
    third too low on average; the corrected variance estimate is within 0.01 of the truth."""
    rng = np.random.default_rng(7)
    sd = brain.noise_sd_for_ceiling(draw_ceilings(rng, "realistic", "V1", 4000, 3), 3)
    clean = rng.standard_normal((40, 4000))
    responses = brain.add_noise(rng, clean, sd, 3)
    truth = brain.true_ceiling(clean, sd, 3)
    assert abs((noise_ceiling(responses) - truth).mean()) < 0.01
    assert (noise_ceiling(responses, method="pairwise") - truth).mean() < -0.025
