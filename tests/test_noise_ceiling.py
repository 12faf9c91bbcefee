import itertools

import numpy as np
import pytest

from datamodules.noise_ceiling import noise_ceiling, spearman_brown


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
    np.testing.assert_allclose(noise_ceiling(responses), _reference(responses), rtol=1e-10)


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
    # Only the pairs involving repetition 1 lose video 5; close to dropping it everywhere.
    assert noise_ceiling(holed)[0] == pytest.approx(expected, abs=0.01)
    assert np.isfinite(noise_ceiling(holed)).all()


def test_bad_shapes():
    with pytest.raises(ValueError, match="n_repetitions"):
        noise_ceiling(np.zeros((10, 4)))
    with pytest.raises(ValueError, match="at least 2 repetitions"):
        noise_ceiling(np.zeros((10, 1, 4)))
