"""Callbacks that report a run: TensorBoard figures and the end-of-fit ``summary.json``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.utilities import rank_zero_only


def _grouped(summary: dict[str, float], kind: str = "score") -> dict:
    """``{"overall": x, "subjects": {...}, "rois": {...}, "groups": {"sub01/V1": ...}}`` of one kind."""
    out = {"overall": summary.get(kind), "subjects": {}, "rois": {}, "groups": {}}
    for key, value in summary.items():
        parts = key.split("/")
        if parts[0] != kind or len(parts) == 1:
            continue
        name = "/".join(parts[1:])
        if len(parts) == 3:
            out["groups"][name] = value
        elif name.startswith("sub"):
            out["subjects"][name] = value
        else:
            out["rois"][name] = value
    return out


def _clean(value):
    """JSON has no NaN: write null."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunSummary(pl.Callback):
    """Writes ``<run dir>/summary.json`` at the end of ``fit``: best and last validation metrics
    (overall, per subject, per region, per subject and region), the ridge baseline's (``ridge``,
    when the model fitted one) with ``gain_over_ridge`` = best ``val/score`` minus the ridge's,
    and the best and last checkpoints' paths. Prints the file's path and the scores."""

    def __init__(self):
        self.best: dict | None = None
        self.last: dict | None = None
        self.best_epoch: int | None = None

    # Kept in checkpoints, so a resumed run's summary still covers the epochs before the stop.
    def state_dict(self) -> dict:
        return {"best": self.best, "last": self.last, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best, self.last, self.best_epoch = state_dict["best"], state_dict["last"], state_dict["best_epoch"]

    # on_validation_end, not on_validation_epoch_end: Lightning runs callbacks' epoch-end hooks
    # before the module's, which is where this validation's summary is computed.
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not getattr(pl_module, "last_val_summary", None):
            return
        summary = dict(pl_module.last_val_summary)
        self.last = summary
        if self.best is None or summary["score"] > self.best["score"]:
            self.best, self.best_epoch = summary, trainer.current_epoch

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # trainer.log_dir broadcasts under DDP: every rank must ask, then only rank 0 writes.
        run_dir = Path(trainer.log_dir or trainer.default_root_dir)
        if trainer.is_global_zero:
            self._write(trainer, run_dir, pl_module)

    def _write(self, trainer: pl.Trainer, run_dir: Path, pl_module: pl.LightningModule | None = None) -> None:
        checkpoint = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)
        record = {
            "best_epoch": self.best_epoch,
            "best_checkpoint": checkpoint.best_model_path if checkpoint else None,
            "last_checkpoint": checkpoint.last_model_path if checkpoint else None,
            "epochs_run": trainer.current_epoch,
        }
        ridge = getattr(pl_module, "ridge_summary", None)
        for name, summary in (("best", self.best), ("last", self.last), ("ridge", ridge)):
            if summary is not None:
                record[name] = {"score": _grouped(summary, "score"), "r": _grouped(summary, "r"),
                                "n_unreliable_voxels": summary.get("n_unreliable_voxels")}
        best = record.get("best", {}).get("score", {}).get("overall")
        ridge_score = record.get("ridge", {}).get("score", {}).get("overall")
        if best is not None and ridge_score is not None:
            record["gain_over_ridge"] = best - ridge_score
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / "summary.json"
        path.write_text(json.dumps(_clean(record), indent=2))
        print(f"\nrun summary: {path}" + _scores_line(best, ridge_score,
                                                      pl_module.settings.ridge.only))


def _scores_line(best: float | None, ridge: float | None, ridge_only: bool) -> str:
    """`` (best val/score 0.5179; ridge baseline 0.4912, gain +0.0267)``, or what of it is known."""
    if best is None or not math.isfinite(best):
        return ""
    if ridge_only:
        return f" (ridge baseline val/score {best:.4f})"
    if ridge is None or not math.isfinite(ridge):
        return f" (best val/score {best:.4f})"
    return f" (best val/score {best:.4f}; ridge baseline {ridge:.4f}, gain {best - ridge:+.4f})"


class ValidationFigures(pl.Callback):
    """After each validation, to TensorBoard: a bar chart of the score per region and subject,
    and a histogram of per-voxel r."""

    @rank_zero_only
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        logger = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        r = getattr(pl_module, "last_val_r", None)
        if logger is None or r is None or trainer.sanity_checking:
            return
        writer = logger.experiment
        writer.add_histogram("val/voxel_r", r.float().cpu(), global_step=trainer.global_step)
        writer.add_figure("val/score_by_region", region_bar_figure(pl_module.last_val_summary),
                          global_step=trainer.global_step, close=True)


def region_bar_figure(summary: dict[str, float], kind: str = "score"):
    """Grouped bars: one group per region, one bar per subject, height = mean over voxels."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    groups = _grouped(summary, kind)["groups"]
    subjects = sorted({k.split("/")[0] for k in groups})
    rois = list(dict.fromkeys(k.split("/")[1] for k in groups))
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(rois) + 1.5), 3.2))
    width = 0.8 / max(1, len(subjects))
    for i, subject in enumerate(subjects):
        heights = [groups.get(f"{subject}/{roi}", np.nan) for roi in rois]
        ax.bar(np.arange(len(rois)) + i * width - 0.4 + width / 2, heights, width, label=subject)
    ax.set_xticks(np.arange(len(rois)), rois)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_ylabel("noise-normalised r" if kind == "score" else "Pearson r")
    ax.set_title(f"validation {kind}: {summary.get(kind, float('nan')):.3f}")
    if len(subjects) <= 10:
        ax.legend(fontsize=7, ncol=min(5, len(subjects)))
    fig.tight_layout()
    return fig
