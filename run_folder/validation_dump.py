"""Keep the best validation's predictions on disk, for reports: ``<run dir>/val_predictions.npz``.

Written at every new best ``val/score`` (atomically, through :class:`run_folder.contract.RunFolder`,
whose :func:`~run_folder.contract.write_predictions` gives the file's arrays and shapes), so the file
always matches the best checkpoint's validation.

Under DDP each rank validates its own share of the videos; the rows are gathered to rank 0,
which alone writes. 161k voxels x 100 videos is 65 MB per array, so memory stays modest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pytorch_lightning as pl
import torch

from run_folder.contract import RunFolder


@runtime_checkable
class ValidationData(Protocol):
    """Names and masks the validation dump records beside the predictions.

    ``train_indices``: int64 ``(n_train,)``. ``video_names(rows)``: the clips' file names.
    ``voxel_masks``: ``{subject: bool mask (x, y, z)}`` of whole-brain recordings (empty otherwise).
    """

    train_indices: np.ndarray

    def video_names(self, rows) -> list[str]: ...

    @property
    def voxel_masks(self) -> dict[str, np.ndarray]: ...


def gather_rows(pl_module: pl.LightningModule, rows: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``(n_rank, ...)`` rows (shares may differ in length), ``(sum n_rank, ...)``."""
    if pl_module.trainer.world_size == 1:
        return rows
    device = pl_module.device
    counts = pl_module.all_gather(torch.tensor(len(rows), device=device)).reshape(-1).tolist()
    padded = torch.zeros((max(counts), *rows.shape[1:]), dtype=rows.dtype, device=device)
    padded[: len(rows)] = rows.to(device)
    gathered = pl_module.all_gather(padded)  # (world_size, max(counts), ...)
    return torch.cat([gathered[i, :n] for i, n in enumerate(counts)]).cpu()


class ValidationDump(pl.Callback):
    """Writes ``val_predictions.npz`` in the run folder at each new best ``val/score``."""

    def __init__(self):
        self.best_score: float | None = None
        self._batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def state_dict(self) -> dict:
        return {"best_score": self.best_score}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best_score = state_dict.get("best_score")

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._batches = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if trainer.sanity_checking or not isinstance(outputs, dict) or "preds" not in outputs:
            return
        self._batches.append((outputs["preds"].detach().float().cpu(), batch["targets"].detach().float().cpu(),
                              batch["index"].detach().cpu()))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        batches, self._batches = self._batches, []
        score = pl_module.last_validation.summary.main if pl_module.last_validation else None
        # Every rank sees the same synced score, so all take part in the gather or none does.
        if trainer.sanity_checking or score is None or score != score or not batches:
            return
        if self.best_score is not None and score <= self.best_score:
            return
        self.best_score = score
        preds, targets, index = (torch.cat(parts) for parts in zip(*batches, strict=True))
        preds, targets, index = (gather_rows(pl_module, t) for t in (preds, targets, index))
        # trainer.log_dir broadcasts under DDP: every rank must ask, not only the one that writes.
        run_dir = Path(trainer.log_dir or trainer.default_root_dir)
        if trainer.is_global_zero:
            self._write(run_dir, trainer, pl_module,
                        preds.numpy(), targets.numpy(), index.numpy(), score)

    @staticmethod
    def _write(run_dir: Path, trainer, pl_module, preds, targets, index, score: float) -> None:
        order = np.argsort(index, kind="stable")
        validation = pl_module.last_validation
        ceiling = validation.ceiling
        extra = {}
        data = getattr(trainer, "datamodule", None)
        if isinstance(data, ValidationData):  # a bare Trainer.fit(model, loaders) has no data module
            extra = {"train_index": data.train_indices, "video_names": data.video_names(index[order].astype(np.int64)),
                     "voxel_masks": data.voxel_masks, "voxel_spaces": getattr(data, "voxel_spaces", {})}
        RunFolder(run_dir).write_predictions(
            predictions=preds[order], targets=targets[order], r=validation.r.float().cpu().numpy(),
            noise_ceiling=ceiling.float().cpu().numpy() if ceiling is not None else None,
            video_index=index[order], layout=validation.layout, epoch=trainer.current_epoch, score=score, **extra)
