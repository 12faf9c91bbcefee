"""Callbacks that report a run: TensorBoard figures and the end-of-fit ``summary.json``
(written through :class:`run_folder.contract.RunFolder`)."""

from __future__ import annotations

import math
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.utilities import rank_zero_only

from run_folder.contract import RunFolder, RunSummaryRecord
from scoring.summary import ScoreSummary


class RunSummary(pl.Callback):
    """Writes ``<run dir>/summary.json`` at the end of ``fit``: best and last validation metrics
    (overall, per subject, per region, per subject and region), the ridge baseline's (``ridge``,
    when the model fitted one) with ``gain_over_ridge`` = best ``val/score`` minus the ridge's,
    and the best and last checkpoints' paths. Prints the file's path and the scores."""

    def __init__(self):
        self.best: ScoreSummary | None = None
        self.last: ScoreSummary | None = None
        self.best_epoch: int | None = None

    # Kept in checkpoints (as plain containers), so a resumed run's summary still covers the
    # epochs before the stop. Checkpoints from before ScoreSummary hold flat dicts: from_json reads both.
    def state_dict(self) -> dict:
        return {"best": self.best.as_json() if self.best else None,
                "last": self.last.as_json() if self.last else None, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best, self.last = ScoreSummary.from_json(state_dict["best"]), ScoreSummary.from_json(state_dict["last"])
        self.best_epoch = state_dict["best_epoch"]

    # on_validation_end, not on_validation_epoch_end: Lightning runs callbacks' epoch-end hooks
    # before the module's, which is where this validation's summary is computed.
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or pl_module.last_validation is None:
            return
        summary = pl_module.last_validation.summary
        self.last = summary
        if self.best is None or summary.main > self.best.main:
            self.best, self.best_epoch = summary, trainer.current_epoch

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # trainer.log_dir broadcasts under DDP: every rank must ask, then only rank 0 writes.
        run_dir = Path(trainer.log_dir or trainer.default_root_dir)
        if trainer.is_global_zero:
            self._write(trainer, run_dir, pl_module)

    def _write(self, trainer: pl.Trainer, run_dir: Path, pl_module: pl.LightningModule | None = None) -> None:
        checkpoint = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)
        best = self.best.main if self.best else None
        ridge_score = pl_module.ridge_summary.main if pl_module.ridge_summary else None
        record = RunSummaryRecord(
            best=self.best, last=self.last, ridge=pl_module.ridge_summary, banded_ridge=pl_module.banded_summary,
            best_epoch=self.best_epoch,
            best_checkpoint=checkpoint.best_model_path if checkpoint else None,
            last_checkpoint=checkpoint.last_model_path if checkpoint else None,
            epochs_run=trainer.current_epoch,
            gain_over_ridge=best - ridge_score if best is not None and ridge_score is not None else None)
        path = RunFolder(run_dir).write_summary(record)
        ridge_only = pl_module.settings.ridge.only
        only_name = pl_module.ridge_heads_name
        print(f"\nrun summary: {path}" + _scores_line(best, ridge_score, ridge_only, only_name))


def _scores_line(best: float | None, ridge: float | None, ridge_only: bool, only_name: str = "ridge") -> str:
    """`` (best val/score 0.5179; ridge baseline 0.4912, gain +0.0267)``, or what of it is known."""
    if best is None or not math.isfinite(best):
        return ""
    if ridge_only:
        return f" ({only_name} baseline val/score {best:.4f})"
    if ridge is None or not math.isfinite(ridge):
        return f" (best val/score {best:.4f})"
    return f" (best val/score {best:.4f}; ridge baseline {ridge:.4f}, gain {best - ridge:+.4f})"


class ValidationFigures(pl.Callback):
    """After each validation, to TensorBoard: a bar chart of the score per region and subject,
    and a histogram of per-voxel r."""

    @rank_zero_only
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        logger = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        validation = pl_module.last_validation
        if logger is None or validation is None or trainer.sanity_checking:
            return
        writer = logger.experiment
        writer.add_histogram("val/voxel_r", validation.r.float().cpu(), global_step=trainer.global_step)
        writer.add_figure("val/score_by_region", region_bar_figure(validation.summary),
                          global_step=trainer.global_step, close=True)


def region_bar_figure(summary: ScoreSummary, kind: str = "score"):
    """Grouped bars: one group per region, one bar per subject, height = mean over voxels."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    means = getattr(summary, kind) or summary.r
    groups = means.groups
    subjects = sorted({subject for subject, _ in groups})
    rois = list(dict.fromkeys(roi for _, roi in groups))
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(rois) + 1.5), 3.2))
    width = 0.8 / max(1, len(subjects))
    for i, subject in enumerate(subjects):
        heights = [groups.get((subject, roi), np.nan) for roi in rois]
        ax.bar(np.arange(len(rois)) + i * width - 0.4 + width / 2, heights, width, label=subject)
    ax.set_xticks(np.arange(len(rois)), rois)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_ylabel("noise-normalised r" if kind == "score" else "Pearson r")
    ax.set_title(f"validation {kind}: {means.overall:.3f}")
    if len(subjects) <= 10:
        ax.legend(fontsize=7, ncol=min(5, len(subjects)))
    fig.tight_layout()
    return fig
