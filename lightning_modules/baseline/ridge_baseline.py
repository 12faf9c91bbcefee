"""The closed-form baseline inside a training run: ridge on frozen features.

At the start of fitting, the frozen backbone's frame-averaged features of the
training videos are regressed on every voxel at once (:class:`RidgeCV`, one
alpha per voxel by K-fold CV), optionally after PCA (the 2021 seed's PCA-100).
The fitted map is scored on the validation videos, and it can initialise the
trainable heads, so that fine-tuning starts from the baseline, not below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from datamodules.interfaces import RidgeData, require
from lightning_modules.baseline.frozen_features import (
    backbone_fingerprint,
    cached_features,
    extract_features,
)
from lightning_modules.metrics import VoxelCorrelation
from lightning_modules.networks.encoder import VideoEncoder
from ridge.pca import pca_reduce
from ridge.solver import DEFAULT_ALPHAS, RidgeCV
from scoring.layout import TargetLayout
from scoring.summary import ScoreSummary, score_summary


@dataclass
class RidgeBaseline:
    """A linear map from frame-averaged frozen features to voxels.

    Attributes
    ----------
    coef : tensor of shape (n_features, n_voxels), in the space of the raw features
        (PCA, if used, is folded in)
    intercept : tensor of shape (n_voxels,)
    best_alphas : tensor of shape (n_voxels,)
    val_r : tensor of shape (n_voxels,), Pearson r on the validation videos
    val_summary : ScoreSummary, :func:`scoring.summary.score_summary` of ``val_r``
    head_coef, head_intercept : the same map with each voxel's column rescaled so that its
        training predictions have the spread of its targets (see :func:`rescale_to_targets`)
    """

    coef: torch.Tensor
    intercept: torch.Tensor
    head_coef: torch.Tensor
    head_intercept: torch.Tensor
    best_alphas: torch.Tensor
    val_r: torch.Tensor
    val_summary: ScoreSummary


def fill_missing(Y: np.ndarray) -> np.ndarray:
    """Replace NaN targets by their column's mean (0 for an all-NaN column), ``(n_videos, n_voxels)``."""
    if not np.isnan(Y).any():
        return Y
    means = np.nan_to_num(np.nanmean(np.where(np.isnan(Y), np.nan, Y), axis=0))
    return np.where(np.isnan(Y), means, Y)


def rescale_to_targets(coef: torch.Tensor, X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale each voxel's column so its predictions on ``X`` have the standard deviation of ``Y``.

    Strongly regularised voxels get tiny ridge coefficients; a trainable head started there
    would be swamped by the optimiser's first steps (Adam moves every weight by about the
    learning rate, whatever its size). Correlation, the score, is unchanged by a positive
    scale per voxel. ``coef`` (n_features, n_voxels), ``X`` (n_videos, n_features),
    ``Y`` (n_videos, n_voxels) -> (coef, intercept) with intercept matching the target means.
    """
    pred_std = (X @ coef).std(dim=0)
    target_std = Y.std(dim=0)
    scale = torch.where(pred_std > 1e-12, target_std / pred_std.clamp(min=1e-12), torch.ones_like(pred_std))
    coef = coef * scale
    return coef, Y.mean(dim=0) - X.mean(dim=0) @ coef


def fit_ridge_baseline(encoder: VideoEncoder, datamodule, layout: TargetLayout, ceiling: torch.Tensor | None,
                       device: torch.device, alphas: Sequence[float] | None = None, n_folds: int = 5,
                       pca_components: int | None = None, alpha_per: str = "voxel",
                       progress: bool = True) -> RidgeBaseline:
    """Extract (or read cached) features of all train-split videos, fit, and score on validation.

    ``alpha_per``: "voxel" chooses each voxel's penalty by CV; "region" one penalty per
    (subject, region) group of ``layout``, by the group's mean CV score.

    ``datamodule`` provides ``clips`` (with ``key``), ``train_indices``, ``val_indices``,
    ``responses`` (n_train, n_repetitions, n_voxels) and ``evaluation_dataloader(indices)``.
    """
    datamodule = require(datamodule, RidgeData, "the ridge baseline")
    rows = np.concatenate([datamodule.train_indices, datamodule.val_indices])
    cache_dir, clips_key = datamodule.feature_cache
    key = backbone_fingerprint(encoder, clips_key, rows.tobytes())
    features = cached_features(
        cache_dir, key,
        lambda: extract_features(encoder, datamodule.evaluation_dataloader(rows), device, progress))
    n_train = len(datamodule.train_indices)
    X = torch.from_numpy(features).to(device)
    targets = datamodule.mean_responses
    Y_train = torch.from_numpy(fill_missing(targets[datamodule.train_indices]).astype(np.float32))

    if pca_components:
        X_fit, components, mean = pca_reduce(X, pca_components, fit_rows=torch.arange(n_train, device=device))
    else:
        X_fit, components, mean = X, None, None
    # Each fold's Pearson r needs at least two videos: tiny sets get fewer folds.
    n_folds = max(2, min(n_folds, n_train // 2))
    ridge = RidgeCV(alphas=tuple(alphas or DEFAULT_ALPHAS), n_folds=n_folds, device=device)
    if alpha_per not in ("voxel", "region"):
        raise ValueError(f"alpha_per must be 'voxel' or 'region', got {alpha_per!r}")
    ridge.fit(X_fit[:n_train], Y_train, groups=layout.group_index() if alpha_per == "region" else None)
    coef, intercept = ridge.coef_, ridge.intercept_
    if components is not None:  # (x - mean) @ C.T @ coef + b  ==  x @ (C.T @ coef) + (b - mean @ C.T @ coef)
        coef = components.T.to(coef) @ coef
        intercept = intercept - mean.to(coef) @ coef

    # Scored through the rescaled map: the same r per voxel, but a heavily shrunk voxel's
    # predictions are no longer too flat for float32 to resolve.
    head_coef, head_intercept = rescale_to_targets(coef, X[:n_train].to(coef), Y_train.to(coef))
    val_pred = X[n_train:].to(coef) @ head_coef + head_intercept
    val_true = torch.from_numpy(targets[datamodule.val_indices].astype(np.float32)).to(device)
    # Skips NaN (unmeasured) targets per voxel. No cross-rank sync: under DDP rank 0 fits alone, and a
    # collective here would wait for ranks that never call it.
    metric = VoxelCorrelation(layout.n_voxels, sync_on_compute=False).to(device)
    metric.update(val_pred, val_true)
    val_r = metric.compute().cpu()
    return RidgeBaseline(coef=coef.cpu(), intercept=intercept.cpu(), head_coef=head_coef.cpu(),
                         head_intercept=head_intercept.cpu(), best_alphas=ridge.best_alphas_.cpu(),
                         val_r=val_r, val_summary=score_summary(val_r, ceiling, layout))
