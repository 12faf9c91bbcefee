"""The 2021 seed solution's regression, for comparison: PCA-100, then ElasticNet per region.

The seed compressed frozen features to 100 principal components and fitted one
scikit-learn ElasticNet per subject and region, its ``(alpha, l1_ratio)`` chosen
by 50 rounds of Bayesian search over 10 folds. Here each round is a random draw
from the same range (a search step without the Bayesian model, which changes
the cost per round very little), scored by the mean Pearson r over the region's
voxels across the folds.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ridge.pca import pca_reduce
from scoring.splits import kfold_folds


def kfold_splits(n: int, n_folds: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled K-fold ``(train_rows, val_rows)`` pairs over ``n`` rows (the project's splitter)."""
    return kfold_folds(np.random.default_rng(seed).permutation(n), n_folds)


def alpha_max(Z: np.ndarray, Y: np.ndarray) -> float:
    """The smallest L1 penalty that zeroes every coefficient (scikit-learn's ``enet_path`` bound),
    median over targets. ``Z`` (n_videos, n_components), ``Y`` (n_videos, n_targets)."""
    Zc, Yc = Z - Z.mean(0), Y - Y.mean(0)
    return float(np.median(np.abs(Zc.T @ Yc).max(0)) / len(Z))


def draw_params(rng: np.random.Generator, a_max: float) -> tuple[float, float]:
    """One ``(alpha, l1_ratio)`` from the search range: ``l1_ratio`` in [0.05, 1], and alpha
    in [1e-3, 1] x the all-zero bound, log-uniform."""
    l1 = rng.uniform(0.05, 1.0)
    return a_max / l1 * 10 ** rng.uniform(-3, 0), l1


def fit_elasticnet(Z: np.ndarray, Y: np.ndarray, alpha: float, l1_ratio: float):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ElasticNet(alpha=alpha, l1_ratio=l1_ratio).fit(Z, Y)


def cv_round(Z: np.ndarray, Y: np.ndarray, splits, alpha: float, l1_ratio: float) -> float:
    """Mean over folds and targets of the Pearson r of held-out predictions, one search round."""
    scores = []
    for train, val in splits:
        p = fit_elasticnet(Z[train], Y[train], alpha, l1_ratio).predict(Z[val]).reshape(len(val), -1)
        p, y = p - p.mean(0), Y[val] - Y[val].mean(0)
        scores.append(((p * y).sum(0) / np.sqrt((p * p).sum(0) * (y * y).sum(0) + 1e-30)).mean())
    return float(np.mean(scores))


def pca_components(X_train: np.ndarray, X_test: np.ndarray, n_components: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Train and test rows projected on the train rows' first ``n_components`` principal axes."""
    X = torch.from_numpy(np.concatenate([X_train, X_test]).astype(np.float32))
    n_components = min(n_components, len(X_train) - 1, X.shape[1])
    Z = pca_reduce(X, n_components, fit_rows=torch.arange(len(X_train)))[0].numpy()
    return Z[:len(X_train)], Z[len(X_train):]


def seed_route_predict(Z_train: np.ndarray, Y_train: np.ndarray, Z_test: np.ndarray, n_rounds: int = 20,
                       n_folds: int = 5, seed: int = 0) -> tuple[np.ndarray, dict]:
    """One region's ElasticNet, searched and refitted on all training rows.

    ``Z_train`` (n_train, n_components), ``Y_train`` (n_train, n_voxels), ``Z_test``
    (n_test, n_components) -> predictions (n_test, n_voxels) and the chosen
    ``{"alpha", "l1_ratio", "cv_r"}``.
    """
    rng = np.random.default_rng(seed)
    splits = kfold_splits(len(Z_train), n_folds, seed)
    a_max = alpha_max(Z_train, Y_train)
    best = {"cv_r": -np.inf}
    for _ in range(n_rounds):
        alpha, l1 = draw_params(rng, a_max)
        score = cv_round(Z_train, Y_train, splits, alpha, l1)
        if score > best["cv_r"]:
            best = {"alpha": alpha, "l1_ratio": l1, "cv_r": score}
    model = fit_elasticnet(Z_train, Y_train, best["alpha"], best["l1_ratio"])
    return model.predict(Z_test).reshape(len(Z_test), -1).astype(np.float32), best
