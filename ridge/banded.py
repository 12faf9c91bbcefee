"""Banded ridge: per voxel, one penalty and one weighting of the feature bands, chosen by K-fold CV.

The features come as named bands ``X_b`` (a read-out layer, the frame-difference
features, another backbone). Each voxel ``t`` gets band weights ``w_t`` on the
simplex (``w_tb >= 0``, ``sum_b w_tb = 1``) and a penalty ``alpha_t``, and solves::

    coef_t = argmin_{b_1..b_B} ||sum_b Xc_b b_b - Yc_t||^2 + alpha_t sum_b ||b_b||^2 / w_tb

which is kernel ridge on ``K_t = sum_b w_tb Xc_b Xc_b^T`` with penalty ``alpha_t``
(himalaya's ``MultipleKernelRidgeCV``, whose log kernel weights are
``deltas = log(w / alpha)``). A band with weight 0 is left out.

The search is himalaya's ``random_search`` (:mod:`ridge.search`) over a fixed list
of candidate weight vectors (:mod:`ridge.candidates`); after it, one float64
eigendecomposition per chosen candidate refits its voxels on all videos.

Features and targets are centred (the intercept), as in
:class:`~ridge.solver.RidgeCV`; ``normalize_bands`` also
scales each band so that its centred rows have unit mean squared norm, which
makes band weights comparable between bands of different size or scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from ridge.candidates import band_weight_candidates, candidates_for
from ridge.cv import centre_targets
from ridge.ops import Refit, kfold_splits, one_thread_on_cpu, spectral_decomposition
from ridge.search import random_search, weighted_bands
from ridge.solver import DEFAULT_ALPHAS
from ridge.validation import check_alphas, check_bands, check_finite, check_targets

__all__ = ["BandedRidgeCV", "band_weight_candidates"]


class BandedRidgeCV:
    """Banded ridge regression, band weights and penalty per voxel chosen by K-fold CV.

    Parameters
    ----------
    band_weight_candidates : int or tensor of shape (n_candidates, n_bands)
        The candidate band weights: a number of them (:func:`band_weight_candidates`
        draws them, from ``seed``), or the rows themselves (each normalised to sum 1).
    alphas : sequence of float, shape (n_alphas,), or None
        Penalty grid (all > 0); None: :data:`~ridge.solver.DEFAULT_ALPHAS`.
    n_folds : int
        K-fold splits of the videos, contiguous (scikit-learn ``KFold(n_folds)``).
    seed : int
        Seed of the Dirichlet draws.
    target_batch : int or None
        Voxels processed together (memory: about ``n_alphas * n_videos / n_folds``
        numbers per voxel on GPU, far less on CPU); None: all at once.
    device : str, torch.device or None
        Where to compute; None: the first band's device if a tensor, else CPU.
    dtype : torch.dtype
        Dtype of the work on Y and of the fitted coefficients (Gram matrices and
        their eigendecompositions are float64).
    normalize_bands : bool
        Divide each centred band by the root mean square norm of its rows (so each
        band's kernel has trace n_videos). Off: the bands are only centred.
    scoring : {"correlation", "r2"}
        CV score: validation Pearson r (the field's score, himalaya's
        ``correlation_score``) or R^2 (``r2_score``). r ignores the scale of the
        prediction, so it may pick small penalties whose predictions are too
        large: prefer "r2" when the model's R^2 matters (variance partitioning).
    progress : bool
        A progress bar over the candidates.

    Attributes
    ----------
    band_names : list of str, the bands in fit order
    band_weights_ : tensor of shape (n_bands, n_voxels), float64; columns sum to 1
    alphas_ : tensor of shape (n_voxels,), float64, chosen penalty
    cv_scores_ : tensor of shape (n_voxels,), float64, best mean CV score (Pearson r or R^2)
    candidate_scores_ : tensor of shape (n_candidates, n_voxels), float64
        Per candidate, the mean CV r at its best penalty (himalaya's ``cv_scores_``).
    best_candidate_ : int64 tensor of shape (n_voxels,), row of ``band_weight_candidates_``
    alpha_index_ : int64 tensor of shape (n_voxels,), position of ``alphas_`` in ``alpha_grid_``
    band_weight_candidates_ : tensor of shape (n_candidates, n_bands), float64
    alpha_grid_ : tensor of shape (n_alphas,), float64
    coef_ : tensor of shape (n_features, n_voxels), the bands' rows stacked in
        ``band_names`` order (``band_slices_[name]``), on the raw (uncentred) features
    intercept_ : tensor of shape (n_voxels,)
    splits_ : list of (train, val) int64 tensors, the folds used
    """

    def __init__(
        self,
        band_weight_candidates: int | Tensor = 20,
        alphas: Sequence[float] | None = None,
        n_folds: int = 5,
        seed: int = 0,
        target_batch: int | None = None,
        device=None,
        dtype: torch.dtype = torch.float32,
        normalize_bands: bool = False,
        scoring: str = "correlation",
        progress: bool = False,
    ):
        self.band_weight_candidates = band_weight_candidates
        self.alphas = alphas
        self.n_folds = n_folds
        self.seed = seed
        self.target_batch = target_batch
        self.device = device
        self.dtype = dtype
        self.normalize_bands = normalize_bands
        self.scoring = scoring
        self.progress = progress

    # ------------------------------------------------------------------ checks
    def _check_params(self, n_videos: int, n_bands: int) -> tuple[Tensor, Tensor]:
        alphas = check_alphas(DEFAULT_ALPHAS if self.alphas is None else self.alphas)
        if not 2 <= self.n_folds <= n_videos or n_videos // self.n_folds < 2:
            raise ValueError(
                f"n_folds must be >= 2 and leave >= 2 validation videos per fold with "
                f"n_videos={n_videos}; got {self.n_folds}"
            )
        if self.scoring not in ("correlation", "r2"):
            raise ValueError(f"scoring must be 'correlation' or 'r2'; got {self.scoring!r}")
        if self.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64; got {self.dtype}")
        if self.target_batch is not None and self.target_batch < 1:
            raise ValueError(f"target_batch must be >= 1 or None; got {self.target_batch}")
        return alphas, candidates_for(self.band_weight_candidates, n_bands, self.seed)

    def _centred_bands(self, Xs: list[Tensor]) -> list[Tensor]:
        """Centre each band (n_videos, p_b); record its means and scale."""
        self.x_means_, self.x_scales_, out = [], [], []
        for X in Xs:
            mean = X.mean(0)
            Xc = X - mean
            scale = (
                Xc.square().sum(1).mean().sqrt()
                if self.normalize_bands
                else torch.ones((), dtype=X.dtype)
            )
            scale = torch.where(scale > 0, scale, 1.0).to(X.device)
            self.x_means_.append(mean)
            self.x_scales_.append(scale)
            out.append(Xc / scale)
        return out

    # --------------------------------------------------------------------- fit
    def fit(self, bands: dict[str, Tensor], Y) -> BandedRidgeCV:
        """Choose each voxel's band weights and penalty by CV, then refit on all videos.

        Parameters
        ----------
        bands : dict {name: array or tensor of shape (n_videos, n_features_b)}
        Y : array or tensor of shape (n_videos, n_voxels); stays where it is, each
            batch of voxels is moved to ``device`` in turn.
        """
        first = next(iter(bands.values()), None) if isinstance(bands, Mapping) else None
        device = torch.device(self.device or (first.device if isinstance(first, Tensor) else "cpu"))
        names, Xs = check_bands(bands, device)
        n_videos = Xs[0].shape[0]
        Y = check_targets(Y, n_videos)
        alphas, cands = self._check_params(n_videos, len(Xs))
        alphas = alphas.to(device)
        self.band_names = names
        self.splits_ = kfold_splits(n_videos, self.n_folds)
        Xc = self._centred_bands(Xs)
        kernels = torch.stack([X @ X.T for X in Xc])  # (n_bands, n_videos, n_videos), float64
        n_targets = Y.shape[1]
        step = self.target_batch or n_targets
        batches = [slice(s, min(s + step, n_targets)) for s in range(0, n_targets, step)]
        kw = dict(device=device, dtype=self.dtype)
        cached = {}

        def batch_data(batch):  # centred targets; kept when there is one batch only
            if batch.start in cached:
                return cached[batch.start]
            data = centre_targets(Y[:, batch].to(**kw), self.n_folds)
            if len(batches) == 1:
                cached[batch.start] = data
            return data

        found = random_search(Xc, kernels, cands, alphas, self.splits_, batches, batch_data,
                              self.scoring, self.dtype, self.progress)
        self._refit(Xc, kernels, cands.to(device), alphas, found, batches, batch_data, n_targets)
        self.band_weight_candidates_ = cands
        self.alpha_grid_ = alphas
        self.candidate_scores_ = found.candidate_scores
        self.best_candidate_ = found.candidate
        self.band_weights_ = cands.to(device)[found.candidate].T.contiguous()
        self.alphas_ = alphas[found.alpha_index]
        self.alpha_index_ = found.alpha_index
        self.cv_scores_ = found.score
        return self

    def _refit(self, Xc, kernels, cands, alphas, found, batches, batch_data, n_targets):
        """Each chosen candidate's voxels on all videos: ``coef_`` and ``intercept_``."""
        best_cand, best_alpha = found.candidate, found.alpha_index
        device = kernels.device
        sizes = [X.shape[1] for X in Xc]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.band_slices_ = {
            n: slice(int(offsets[i]), int(offsets[i + 1])) for i, n in enumerate(self.band_names)
        }
        self.n_features_ = sizes
        self.coef_ = torch.zeros(int(offsets[-1]), n_targets, device=device, dtype=self.dtype)
        self.intercept_ = torch.zeros(n_targets, device=device, dtype=self.dtype)
        y_means = torch.zeros(n_targets, device=device, dtype=self.dtype)
        for c in torch.unique(best_cand).tolist():
            w = cands[c]
            Z, K = weighted_bands(Xc, kernels, w)
            with one_thread_on_cpu(device):
                refit = Refit(spectral_decomposition(Z, K if Z.shape[0] < Z.shape[1] else None),
                              alphas, self.dtype)
            kept = [b for b in range(len(Xc)) if w[b] > 0]
            for batch in batches:
                cols = torch.nonzero(best_cand[batch] == c).flatten()
                if len(cols) == 0:
                    continue
                y_mean, Yc, _ = batch_data(batch)
                targets = cols + batch.start
                coef = refit.coef(best_alpha[targets], Yc[:, cols])  # (p_w, m)
                start = 0
                for b in kept:  # Z's columns of band b are sqrt(w_b) Xc_b / scale_b
                    rows = self.band_slices_[self.band_names[b]]
                    factor = (w[b].sqrt() / self.x_scales_[b]).to(self.dtype)
                    self.coef_[rows, targets] = coef[start : start + sizes[b]] * factor
                    start += sizes[b]
                y_means[targets] = y_mean[cols]
        self.y_mean_ = y_means
        self.intercept_ = y_means - sum(
            self.x_means_[b].to(self.dtype) @ self.coef_[self.band_slices_[n]]
            for b, n in enumerate(self.band_names)
        )

    # ----------------------------------------------------------------- predict
    def _check_fitted(self, bands) -> list[Tensor]:
        if not hasattr(self, "coef_"):
            raise RuntimeError("BandedRidgeCV is not fitted yet: call fit(bands, Y) first")
        _, Xs = check_bands(bands, self.coef_.device, self.dtype, self.band_names, self.n_features_)
        return Xs

    def _centred_parts(self, Xs: list[Tensor]) -> Tensor:
        """``(X_b - mean_b) @ coef_b`` per band, (n_bands, n_videos, n_voxels); no intercept."""
        return torch.stack(
            [
                (X - self.x_means_[b].to(X)) @ self.coef_[self.band_slices_[name]]
                for b, (name, X) in enumerate(zip(self.band_names, Xs, strict=True))
            ]
        )

    def predict_split(self, bands) -> Tensor:
        """Each band's part of the prediction, shape (n_bands, n_videos, n_voxels).

        Part b is ``(X_b - mean_b) @ coef_b + y_mean / n_bands``: its centred
        contribution plus an equal share of the intercept, so the parts sum to
        :meth:`predict` (constants change no correlation, so no score share).
        """
        parts = self._centred_parts(self._check_fitted(bands))
        return parts + self.y_mean_ / len(parts)

    def predict(self, bands) -> Tensor:
        """bands {name: (n_videos, n_features_b)} -> prediction (n_videos, n_voxels)."""
        Xs = self._check_fitted(bands)
        pred = self.intercept_.expand(Xs[0].shape[0], -1).clone()
        for name, X in zip(self.band_names, Xs, strict=True):
            pred.addmm_(X, self.coef_[self.band_slices_[name]])
        return pred

    def _check_Y(self, Y, shape) -> Tensor:
        Y = torch.as_tensor(Y)
        Y = (Y[:, None] if Y.ndim == 1 else Y).to(device=self.coef_.device, dtype=self.dtype)
        if tuple(Y.shape) != tuple(shape):
            raise ValueError(
                f"Y must have shape {tuple(shape)} (n_videos, n_voxels); got {tuple(Y.shape)}"
            )
        check_finite("Y", Y)
        return Y

    def score(self, bands, Y) -> Tensor:
        """Pearson r per voxel of :meth:`predict` with Y (n_videos, n_voxels) -> (n_voxels,)."""
        return self.score_split(bands, Y).sum(0)

    def score_split(self, bands, Y) -> Tensor:
        """Each band's share of the Pearson r, shape (n_bands, n_voxels), as himalaya's
        ``correlation_score_split``: ``r_b = <p_b, y> / (||sum_b p_b|| ||y||)`` with the parts
        ``p_b`` and ``y`` centred over videos, so the shares sum to the r of :meth:`predict`.
        A share is negative when its band's part runs against the target; 0 where a
        variance is 0. Computed from the parts without the intercept (a large intercept
        would cost float32 digits when centred away)."""
        parts = self._centred_parts(self._check_fitted(bands))
        Y = self._check_Y(Y, parts.shape[1:])
        parts = parts - parts.mean(1, keepdim=True)
        yc = Y - Y.mean(0)
        denom = torch.linalg.vector_norm(parts.sum(0), dim=0) * torch.linalg.vector_norm(yc, dim=0)
        ok = denom > 0
        return torch.where(ok, (parts * yc).sum(1) / torch.where(ok, denom, 1.0), 0.0)

