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
from torch.utils.data import DataLoader

from datamodules.dataset import ClipDataset
from lightning_modules.baseline.frozen_features import (
    backbone_fingerprint,
    cached_features,
    extract_features,
)
from lightning_modules.baseline.frozen_fit import (
    VOXEL_BLOCK,
    BaselineVideos,
    rescale_and_score,
    rescale_to_targets,  # noqa: F401  (its earlier home)
)
from lightning_modules.networks.encoder import VideoEncoder
from ridge.pca import pca_reduce
from ridge.solver import DEFAULT_ALPHAS, RidgeCV
from scoring.layout import TargetLayout
from scoring.scores_on_test import score_on_test, scores_json
from scoring.summary import ScoreSummary


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
        training predictions have the spread of its targets (see :func:`.frozen_fit.rescale_to_targets`)
    test_scores : where the data has test responses, the map's score on the test videos
        (:func:`scoring.scores_on_test.scores_json`: what ``predict.py --score`` writes for the model);
        None otherwise
    """

    coef: torch.Tensor
    intercept: torch.Tensor
    head_coef: torch.Tensor
    head_intercept: torch.Tensor
    best_alphas: torch.Tensor
    val_r: torch.Tensor
    val_summary: ScoreSummary
    test_scores: dict | None = None


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
    if alpha_per not in ("voxel", "region"):
        raise ValueError(f"alpha_per must be 'voxel' or 'region', got {alpha_per!r}")
    videos = BaselineVideos.of(datamodule, "the ridge baseline")
    cache_dir, clips_key = videos.feature_cache
    key = backbone_fingerprint(encoder, clips_key, videos.rows.tobytes())
    features = cached_features(cache_dir, key, lambda: extract_features(encoder, videos.loader(), device, progress))
    n_train = videos.n_train
    X = torch.from_numpy(features).to(device)

    if pca_components:
        X_fit, components, mean = pca_reduce(X, pca_components, fit_rows=torch.arange(n_train, device=device))
    else:
        X_fit, components, mean = X, None, None
    ridge = RidgeCV(alphas=tuple(alphas or DEFAULT_ALPHAS), n_folds=videos.folds(n_folds), device=device)
    ridge.fit(X_fit[:n_train], videos.train_columns, groups=layout.group_index() if alpha_per == "region" else None)
    coef, intercept = ridge.coef_, ridge.intercept_
    if components is not None:  # (x - mean) @ C.T @ coef + b  ==  x @ (C.T @ coef) + (b - mean @ C.T @ coef)
        coef = components.T.to(coef) @ coef
        intercept = intercept - mean.to(coef) @ coef

    scored = rescale_and_score(coef, X[:n_train], X[n_train:], videos, layout, ceiling, device)
    test_scores = test_scores_of_map(encoder, datamodule, layout, scored.head_coef, scored.head_intercept,
                                     device, progress)
    return RidgeBaseline(coef=coef.cpu(), intercept=intercept.cpu(), head_coef=scored.head_coef.cpu(),
                         head_intercept=scored.head_intercept.cpu(), best_alphas=ridge.best_alphas_.cpu(),
                         val_r=scored.val_r, val_summary=scored.val_summary, test_scores=test_scores)


def test_scores_of_map(encoder: VideoEncoder, datamodule, layout: TargetLayout, head_coef: torch.Tensor,
                       head_intercept: torch.Tensor, device: torch.device, progress: bool = True) -> dict | None:
    """The score on the test videos of the map ``head_coef`` (n_features, n_voxels), ``head_intercept``
    (n_voxels,) applied to the frozen features of those videos, scored as ``predict.py --score`` scores
    a model (:func:`scoring.scores_on_test.score_on_test`); None where the data has no test responses
    (the 2021 release) or serves no test videos. Predictions are made ``VOXEL_BLOCK`` voxels at a time
    into one float32 (n_test, n_voxels) array."""
    release = getattr(datamodule, "release", None)
    if release is None or not getattr(release, "has_test_responses", False) or release.n_test == 0:
        return None
    cache_dir, clips_key = datamodule.feature_cache
    rows = np.arange(release.n_train, release.n_train + release.n_test)
    key = backbone_fingerprint(encoder, clips_key, rows.tobytes())
    # Every test video on this process (rank 0 fits alone under DDP, so no distributed sampler).
    loader = DataLoader(ClipDataset(datamodule.clips, rows), batch_size=datamodule.hparams.batch_size)
    features = cached_features(cache_dir, key, lambda: extract_features(encoder, loader, device, progress))
    X = torch.from_numpy(features).to(head_coef)
    preds = np.empty((len(rows), layout.n_voxels), np.float32)
    for start in range(0, layout.n_voxels, VOXEL_BLOCK):
        cols = slice(start, min(start + VOXEL_BLOCK, layout.n_voxels))
        preds[:, cols] = (X @ head_coef[:, cols] + head_intercept[cols]).cpu().numpy()
    summary = score_on_test(layout.split(preds), release.test_responses())
    return scores_json(summary, release.n_test)
