"""ridge.grouped.grouped_ridge_cv: the map it returns predicts from the raw features, checked
against scikit-learn's Ridge on standardised features at the penalty the CV chose."""

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from ridge.grouped import grouped_ridge_cv


def test_map_acts_on_raw_features_as_a_standardised_ridge():
    rng = np.random.default_rng(0)
    # features on very different scales and offsets: a map that standardised them twice would differ
    X = rng.normal(size=(240, 12)) * rng.uniform(0.1, 5.0, 12) + rng.uniform(-3, 3, 12)
    Y = X @ rng.normal(size=(12, 5)) + rng.normal(size=(240, 5))
    groups = np.repeat(np.arange(6), 40)  # six stimuli of 40 TRs
    ridge = grouped_ridge_cv(X, Y, groups, alphas=[0.1, 10.0, 1000.0], max_folds=3)
    prediction = X @ ridge.coef_.numpy() + ridge.intercept_.numpy()
    Xs = StandardScaler().fit_transform(X)
    for target in range(Y.shape[1]):
        reference = Ridge(alpha=float(ridge.best_alphas_[target])).fit(Xs, Y[:, target]).predict(Xs)
        np.testing.assert_allclose(prediction[:, target], reference, rtol=1e-6, atol=1e-8)
    assert len(ridge.splits_) == 3  # folds never split a stimulus: 6 groups in 3 folds
    for _, val in ridge.splits_:
        assert all(np.isin(np.flatnonzero(groups == g), val).all() or not np.isin(
            np.flatnonzero(groups == g), val).any() for g in range(6))
