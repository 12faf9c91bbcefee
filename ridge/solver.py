"""Closed-form ridge regression with a per-target alpha chosen by K-fold CV.

The baseline encoding model: frozen features of the videos to every voxel at
once. It solves, for each target (voxel) ``t`` separately::

    coef_t = argmin_b ||Xc b - Yc_t||^2 + alpha_t ||b||^2
           = (Xc^T Xc + alpha_t I)^-1 Xc^T Yc_t

where ``Xc`` and ``Yc`` are centred (the intercept) and ``alpha_t`` is the
alpha of the grid with the best mean validation Pearson r over ``n_folds``
K-fold splits. Each fold costs one eigendecomposition of a Gram matrix
(the kernel ``Xc Xc^T`` when videos are fewer than features, else the
covariance ``Xc^T Xc``), shared by every alpha and every target; the refit on
all videos costs one more, and each target's own alpha is applied as a
diagonal scaling in the eigenbasis, so no grouping by alpha is needed. The
maths is in :mod:`ridge.ops`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ridge.cv import best_alpha, best_alpha_per_group, centre_targets
from ridge.device_batches import exact_arithmetic, target_batch_size, target_batches
from ridge.ops import (
    FoldPredictor,
    Refit,
    fold_grams,
    kfold_splits,
    mean_fold_scores,
    spectral_decomposition,
)
from ridge.target_columns import TargetRows
from ridge.validation import as_tensor, check_alphas, check_finite
from scoring.pearson import pearson_r

DEFAULT_ALPHAS = tuple(np.logspace(-2, 7, 20).tolist())


class RidgeCV:
    """Ridge regression, one alpha per target chosen by K-fold cross-validation.

    Parameters
    ----------
    alphas : sequence of float, shape (n_alphas,)
        Grid of L2 penalties (all > 0). The default spans 1e-2..1e7; the
        useful range scales with the feature variance times n_features.
    n_folds : int or list of (train, val) index arrays
        Number of K-fold splits of the videos (2 <= n_folds <= n_videos), or the folds themselves
        (e.g. :func:`scoring.run_splits.group_kfold_folds`, so that a run's TRs share a fold).
    fit_intercept : bool
        Centre X and Y (with the training part's means in each fold) and fit
        ``intercept_``. If False, the model has no intercept.
    standardize : bool
        Also divide each feature by its standard deviation over the training
        part (population std, or root mean square without intercept; constant
        features are left unscaled).
    scoring : {"correlation", "r2"}
        CV score per (alpha, target): Pearson r between the validation
        predictions and targets (the field's score, default) or R^2
        (``1 - SS_res / SS_tot`` per fold). Pearson r ignores the scale of
        the prediction, so a pure-noise target's alpha is arbitrary (its r is
        about 0 for every alpha); R^2 sends such targets to large alphas.
    shuffle : bool
        False: contiguous folds (scikit-learn ``KFold(n_folds)``). True: folds
        of a permutation drawn from ``seed``. Deterministic either way.
    target_batch_size : int or None
        Targets processed together; memory scales as
        ``n_alphas * n_videos / n_folds * target_batch_size`` numbers. None: sized from the
        memory free on ``device`` (:func:`ridge.device_batches.target_batch_size`; on a CPU at most
        20000), so a GPU takes whole-brain voxel counts in a few batches.
    device : str, torch.device or None
        Where to compute; None: X's device if a tensor, else CPU.
    dtype : torch.dtype
        Dtype of the work on Y and of the fitted attributes. Gram matrices and
        their eigendecompositions are always float64.
    seed : int
        Seed of the shuffled folds.

    Attributes
    ----------
    coef_ : tensor of shape (n_features, n_targets)
    intercept_ : tensor of shape (n_targets,)
    best_alphas_ : tensor of shape (n_targets,)
        Alpha with the best mean CV score per target; ties go to the largest
        alpha (so constant targets get the largest).
    cv_scores_ : tensor of shape (n_alphas, n_targets)
        Mean over folds of the validation score, rows in the order of ``alphas``.
    alphas_ : tensor of shape (n_alphas,), float64
    splits_ : list of (train, val) int64 tensors, the folds used
    """

    def __init__(
        self,
        alphas: Sequence[float] = DEFAULT_ALPHAS,
        n_folds: int = 10,
        fit_intercept: bool = True,
        standardize: bool = False,
        scoring: str = "correlation",
        shuffle: bool = False,
        target_batch_size: int | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
        seed: int = 0,
    ):
        self.alphas = alphas
        self.n_folds = n_folds
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.scoring = scoring
        self.shuffle = shuffle
        self.target_batch_size = target_batch_size
        self.device = device
        self.dtype = dtype
        self.seed = seed

    # ------------------------------------------------------------------ checks
    def _check_params(self, n_videos: int) -> Tensor:
        alphas = check_alphas(self.alphas)
        if not isinstance(self.n_folds, int):  # given folds: checked as they are read
            return alphas
        if self.scoring not in ("correlation", "r2"):
            raise ValueError(f"scoring must be 'correlation' or 'r2'; got {self.scoring!r}")
        if not 2 <= self.n_folds <= n_videos:
            raise ValueError(
                f"n_folds (model.ridge.folds in train.py) must be between 2 and the number of training "
                f"videos, n_videos={n_videos}; got {self.n_folds}"
            )
        if self.scoring == "correlation" and n_videos // self.n_folds < 2:
            raise ValueError(
                f"Pearson r needs >= 2 validation videos per fold: n_folds={self.n_folds} (model.ridge.folds in "
                f"train.py) is too many for n_videos={n_videos} training videos; use more training videos "
                f"(a smaller data.n_val) or turn the ridge baseline off (model.ridge.fit false)"
            )
        if self.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64; got {self.dtype}")
        return alphas

    def _centre(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Mean (n_features,) and scale (n_features,) of X's rows per the options."""
        mean = X.mean(0) if self.fit_intercept else torch.zeros_like(X[0])
        scale = torch.ones_like(mean)
        if self.standardize:
            scale = (X - mean).square().mean(0).sqrt()
            scale = torch.where(scale > 0, scale, 1.0)
        return mean, scale

    # --------------------------------------------------------------------- fit
    def fit(self, X, Y, groups=None) -> RidgeCV:
        """Fit on every target; choose each target's alpha by K-fold CV.

        Parameters
        ----------
        X : array or tensor of shape (n_videos, n_features)
        Y : array or tensor of shape (n_videos, n_targets), or (n_videos,), or a
            :class:`ridge.target_columns.TargetRows` (e.g. rows of a memory-mapped array)
            Stays where it is (numpy or CPU is fine with a GPU ``device``);
            each batch of targets is read and moved to ``device`` in turn.
        groups : int array or tensor of shape (n_targets,), optional
            Group label of each target (e.g. its subject and region). Given, all
            targets of a group share one alpha: the best mean CV score over the
            group's targets. With few videos, one noisy CV curve per target picks
            extreme alphas by chance; a group's mean curve does not.

        Returns
        -------
        self
        """
        device = self.device or (X.device if isinstance(X, Tensor) else "cpu")
        device = torch.device(device)
        with exact_arithmetic(device):  # float32/float64 solves even under bf16 autocast or TF32
            return self._fit(X, Y, groups, device)

    def _fit(self, X, Y, groups, device: torch.device) -> RidgeCV:
        X64 = as_tensor("X", X, 2, device, torch.float64)
        by_columns = isinstance(Y, TargetRows)  # read (and checked) one batch at a time
        if not by_columns:
            if isinstance(Y, np.ndarray | Tensor) and Y.ndim == 1:
                Y = Y.reshape(-1, 1)
            Y = torch.as_tensor(Y) if not isinstance(Y, Tensor) else Y
        if len(Y.shape) != 2 or Y.shape[0] != X64.shape[0]:
            raise ValueError(
                f"Y must have shape (n_videos, n_targets) with n_videos={X64.shape[0]} "
                f"(the rows of X of shape {tuple(X64.shape)}); got shape {tuple(Y.shape)}"
            )
        check_finite("X", X64)
        if not by_columns:
            check_finite("Y", Y)
        n_videos, n_features = X64.shape
        n_targets = Y.shape[1]
        alphas = self._check_params(n_videos).to(device)
        self.splits_ = (kfold_splits(n_videos, self.n_folds, self.shuffle, self.seed)
                        if isinstance(self.n_folds, int) else given_splits(self.n_folds, n_videos))
        n_folds = len(self.splits_)

        x_mean, x_scale = self._centre(X64)
        Xc = (X64 - x_mean) / x_scale
        kernel = Xc @ Xc.T if n_videos < n_features else None  # shared by the folds
        folds = []
        for train, val in self.splits_:
            train, val = train.to(device), val.to(device)
            grams = fold_grams(X64, train, val, self.standardize, self.fit_intercept, kernel)
            folds.append(
                FoldPredictor(grams, alphas, train, val, self.scoring == "correlation", self.dtype)
            )
        refit = Refit(spectral_decomposition(Xc, kernel), alphas, self.dtype)
        x_mean, x_scale = x_mean.to(self.dtype), x_scale.to(self.dtype)

        kw = dict(device=device, dtype=self.dtype)

        def centred(batch):  # (y_mean, Yc, tiny_ss) of a batch of targets
            if by_columns:
                Yb = torch.from_numpy(Y.columns(batch))
                check_finite("Y", Yb)
                return centre_targets(Yb.to(**kw), n_folds, self.fit_intercept)
            return centre_targets(Y[:, batch].to(**kw), n_folds, self.fit_intercept)

        self.coef_ = torch.empty(n_features, n_targets, **kw)
        self.intercept_ = torch.zeros(n_targets, **kw)
        self.best_alphas_ = torch.empty(n_targets, dtype=torch.float64, device=device)
        self.cv_scores_ = torch.empty(len(alphas), n_targets, dtype=torch.float64, device=device)
        batches = target_batches(n_targets, self.target_batch_size or target_batch_size(
            device, n_targets, n_videos, n_features, len(alphas), n_folds, self.dtype))
        group_best = None
        if groups is not None:  # a first pass: every target's CV curve before any group's choice
            groups = torch.as_tensor(groups, device=device).long()
            if groups.shape != (n_targets,):
                raise ValueError(f"groups must have shape ({n_targets},), one label per target; "
                                 f"got {tuple(groups.shape)}")
            for batch in batches:
                _, Yc, tiny_ss = centred(batch)
                self.cv_scores_[:, batch] = self._cv_scores(folds, Yc, tiny_ss)
            group_best = best_alpha_per_group(self.cv_scores_, alphas, groups)
        for batch in batches:
            y_mean, Yc, tiny_ss = centred(batch)
            if group_best is None:
                self.cv_scores_[:, batch] = self._cv_scores(folds, Yc, tiny_ss)
                best = best_alpha(self.cv_scores_[:, batch], alphas)
            else:
                best = group_best[batch]
            self.best_alphas_[batch] = alphas[best]
            coef = refit.coef(best, Yc) / x_scale[:, None]
            self.coef_[:, batch] = coef
            self.intercept_[batch] = y_mean - x_mean @ coef
        self.alphas_ = alphas
        self.n_features_in_ = n_features
        return self

    def _cv_scores(self, folds: list[FoldPredictor], Yc: Tensor, tiny_ss: Tensor) -> Tensor:
        """Mean over folds of the validation score, shape (n_alphas, b), float64."""
        return mean_fold_scores(folds, Yc, tiny_ss, self.scoring, self.fit_intercept)

    # ----------------------------------------------------------------- predict
    def _check_fitted_X(self, X) -> Tensor:
        if not hasattr(self, "coef_"):
            raise RuntimeError("RidgeCV is not fitted yet: call fit(X, Y) first")
        X = as_tensor("X", X, 2, self.coef_.device, self.dtype)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X must have shape (n_videos, {self.n_features_in_}) (n_features seen in "
                f"fit); got shape {tuple(X.shape)}"
            )
        check_finite("X", X)
        return X

    def predict(self, X) -> Tensor:
        """X : array or tensor of shape (n_videos, n_features) -> tensor (n_videos, n_targets)."""
        X = self._check_fitted_X(X)
        return torch.addmm(self.intercept_[None], X, self.coef_)

    def score(self, X, Y) -> Tensor:
        """Pearson r per target of ``predict(X)`` with Y (n_videos, n_targets) -> (n_targets,)."""
        pred = self.predict(X)
        Y = torch.as_tensor(Y).to(pred)
        if Y.ndim == 1:
            Y = Y[:, None]
        if Y.shape != pred.shape:
            raise ValueError(f"Y must have shape {tuple(pred.shape)}; got {tuple(Y.shape)}")
        return pearson_r(pred, Y)


def given_splits(folds, n_videos: int) -> list[tuple[Tensor, Tensor]]:
    """Folds passed as ``n_folds``: at least two (train, val) pairs of sample indices in
    ``0..n_videos-1``, disjoint within a pair, each side non-empty; as int64 tensors."""
    splits = [(torch.as_tensor(np.asarray(t), dtype=torch.int64),
               torch.as_tensor(np.asarray(v), dtype=torch.int64)) for t, v in folds]
    if len(splits) < 2:
        raise ValueError(f"need at least 2 folds, got {len(splits)}")
    for i, (train, val) in enumerate(splits):
        every = torch.cat([train, val])
        if len(train) == 0 or len(val) < 2 or every.min() < 0 or every.max() >= n_videos \
                or len(torch.unique(every)) != len(every):
            raise ValueError(f"fold {i}: train and val must be disjoint, non-empty (val >= 2) "
                             f"indices in 0..{n_videos - 1}")
    return splits
