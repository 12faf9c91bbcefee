"""What both baselines of a training run do around their solver (:mod:`.ridge_baseline`,
:mod:`.banded_baseline`): read the train and validation videos and their targets, choose the
number of folds, then rescale the fitted map to the targets' spread and score it on the
validation videos.

Only the features (one matrix, or named bands) and the solver differ between the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from datamodules.interfaces import RidgeData, require
from lightning_modules.metrics import VoxelCorrelation
from ridge.target_columns import TargetRows
from scoring.layout import TargetLayout
from scoring.summary import ScoreSummary, score_summary

#: Voxels rescaled and scored together (a block's targets: n_videos x 65536 float32, 260 MB at 1000 videos).
VOXEL_BLOCK = 65536


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


@dataclass
class BaselineVideos:
    """The videos a baseline reads: the train split's, then the validation split's.

    Attributes
    ----------
    datamodule : the run's data (:class:`~datamodules.interfaces.RidgeData`)
    rows : int array (n_train + n_val,), dataset indices, the train split's first
    n_train : int
    targets : array (n_videos, n_voxels), the data's repetition means (memory-mapped for a
        whole-brain release), NaN where unmeasured; read by rows and voxel blocks

    ``train_columns`` (:class:`ridge.target_columns.TargetRows`) reads the training targets a
    column batch at a time, unmeasured (NaN) ones filled with their voxel's mean; ``Y_train`` is
    all of them as a float32 CPU tensor and ``val_targets`` the validation rows as the data holds
    them (both whole: for region-sized targets).
    """

    datamodule: RidgeData
    rows: np.ndarray
    n_train: int
    targets: np.ndarray

    @classmethod
    def of(cls, datamodule, purpose: str) -> BaselineVideos:
        """``purpose`` names the baseline in the error when ``datamodule`` cannot serve it."""
        datamodule = require(datamodule, RidgeData, purpose)
        rows = np.concatenate([datamodule.train_indices, datamodule.val_indices])
        return cls(datamodule, rows, len(datamodule.train_indices), datamodule.mean_responses)

    @property
    def train_columns(self) -> TargetRows:
        return TargetRows(self.targets, self.rows[:self.n_train])

    @property
    def Y_train(self) -> torch.Tensor:  # noqa: N802 - the ridge's name for the targets
        return torch.from_numpy(fill_missing(np.asarray(self.targets[self.rows[:self.n_train]], np.float32)))

    @property
    def val_targets(self) -> np.ndarray:
        return np.asarray(self.targets[self.rows[self.n_train:]])

    @property
    def feature_cache(self) -> tuple:
        """``(cache_dir, clips_key)`` where the frozen features of these videos are kept."""
        return self.datamodule.feature_cache

    def loader(self):
        """The evaluation data loader over :attr:`rows` (built when called: cached features need none)."""
        return self.datamodule.evaluation_dataloader(self.rows)

    def folds(self, n_folds: int) -> int:
        """``n_folds``, fewer on tiny sets: each fold's Pearson r needs at least two videos."""
        return max(2, min(n_folds, self.n_train // 2))


@dataclass
class ScoredMap:
    """A baseline's map rescaled to the targets' spread, and its validation scores.

    head_coef : tensor (n_features, n_voxels), head_intercept : tensor (n_voxels,) (see
    :func:`rescale_to_targets`); val_r : tensor (n_voxels,), Pearson r on the validation videos,
    on the CPU; val_summary : :func:`~scoring.summary.score_summary` of ``val_r``.
    """

    head_coef: torch.Tensor
    head_intercept: torch.Tensor
    val_r: torch.Tensor
    val_summary: ScoreSummary


def rescale_and_score(coef: torch.Tensor, X_train: torch.Tensor, X_val: torch.Tensor, videos: BaselineVideos,
                      layout: TargetLayout, ceiling: torch.Tensor | None, device: torch.device,
                      block: int = VOXEL_BLOCK) -> ScoredMap:
    """Rescale ``coef`` (n_features, n_voxels) to the targets on ``X_train`` (n_train, n_features)
    and score it on ``X_val`` (n_val, n_features) against the validation targets, ``block`` voxels
    at a time (targets read from ``videos.targets`` per block).

    Scored through the rescaled map: the same r per voxel, but a heavily shrunk voxel's
    predictions are no longer too flat for float32 to resolve beside its intercept.
    """
    n_voxels = coef.shape[1]
    head_coef = torch.empty_like(coef)
    head_intercept = torch.empty(n_voxels, dtype=coef.dtype, device=coef.device)
    val_r = torch.empty(n_voxels, dtype=torch.float32)
    X_train, X_val = X_train.to(coef), X_val.to(coef)
    val_rows = videos.rows[videos.n_train:]
    for start in range(0, n_voxels, block):
        cols = slice(start, min(start + block, n_voxels))
        Y = torch.from_numpy(videos.train_columns.columns(cols)).to(coef)
        head_coef[:, cols], head_intercept[cols] = rescale_to_targets(coef[:, cols], X_train, Y)
        val_pred = X_val @ head_coef[:, cols] + head_intercept[cols]
        val_true = torch.from_numpy(np.asarray(videos.targets[:, cols][val_rows], np.float32)).to(device)
        # Skips NaN (unmeasured) targets per voxel. No cross-rank sync: under DDP rank 0 fits alone, and a
        # collective here would wait for ranks that never call it.
        metric = VoxelCorrelation(cols.stop - cols.start, sync_on_compute=False).to(device)
        metric.update(val_pred.to(device), val_true)
        val_r[cols] = metric.compute().cpu()
    return ScoredMap(head_coef, head_intercept, val_r, score_summary(val_r, ceiling, layout))
