import numpy as np
import pytest

from scoring.splits import holdout_split, kfold_split


def test_kfold_partitions_and_is_deterministic():
    vals = []
    for fold in range(10):
        train, val = kfold_split(1000, 10, fold, seed=3)
        assert len(np.intersect1d(train, val)) == 0
        assert len(train) + len(val) == 1000
        vals.append(val)
        np.testing.assert_array_equal(val, kfold_split(1000, 10, fold, seed=3)[1])
    np.testing.assert_array_equal(np.sort(np.concatenate(vals)), np.arange(1000))
    assert not np.array_equal(kfold_split(1000, 10, 0, seed=4)[1], vals[0])


def test_holdout_is_last_videos():
    train, val = holdout_split(1000, 100)
    np.testing.assert_array_equal(val, np.arange(900, 1000))
    np.testing.assert_array_equal(train, np.arange(900))


@pytest.mark.parametrize("kwargs", [dict(n_folds=1), dict(n_folds=20, fold=20), dict(n_folds=11)])
def test_bad_kfold_arguments(kwargs):
    with pytest.raises(ValueError):
        kfold_split(10, **kwargs)
