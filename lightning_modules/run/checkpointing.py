"""A ModelCheckpoint whose ``last.ckpt`` is rewritten after every epoch.

Lightning 2.x writes ``last.ckpt`` only at a step where it also saved a top-k checkpoint,
i.e. when the monitored ``val/score`` improved (and once more at the end of fit if it never
did). A run killed after a few epochs without improvement would then resume from the last
improvement and redo the epochs since. ``--ckpt_path last`` must continue from the last
finished epoch, so this subclass writes ``last.ckpt`` whenever the parent did not.

A NaN ``val/score`` never makes a "best" checkpoint (Lightning would keep it as the best
while fewer than ``save_top_k`` exist), and a model whose weights are no longer finite is not
written at all, so ``last.ckpt`` keeps the last usable state.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

log = logging.getLogger(__name__)


def has_nonfinite_weights(module: torch.nn.Module) -> bool:
    """True when any parameter holds a NaN or an infinity."""
    return any(not bool(torch.isfinite(p).all()) for p in module.parameters())


class EpochCheckpoint(ModelCheckpoint):
    """:class:`ModelCheckpoint` (same arguments) that keeps ``last.ckpt`` at the latest epoch.

    The top-k (best) checkpoints behave as in Lightning; only the "last" file is also written
    at epochs whose score did not improve, at the hook where Lightning saves (the end of the
    training epoch, or the end of validation when validation runs inside an epoch).
    """

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def _save_topk_checkpoint(self, trainer: pl.Trainer, monitor_candidates: dict) -> None:
        current = monitor_candidates.get(self.monitor) if self.monitor else None
        if current is not None and not math.isfinite(float(current)):
            log.warning("%s is %s at epoch %d: no best checkpoint is saved for this epoch",
                        self.monitor, float(current), trainer.current_epoch)
            return
        if has_nonfinite_weights(trainer.lightning_module):
            log.warning("the model's weights are not finite at epoch %d: no checkpoint saved", trainer.current_epoch)
            return
        super()._save_topk_checkpoint(trainer, monitor_candidates)

    def _save_last_checkpoint(self, trainer: pl.Trainer, monitor_candidates: dict) -> None:
        if has_nonfinite_weights(trainer.lightning_module):
            log.warning("the model's weights are not finite at epoch %d: last.ckpt is left as it was",
                        trainer.current_epoch)
            return
        super()._save_last_checkpoint(trainer, monitor_candidates)

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        # The best checkpoints serve prediction: weights, hyper-parameters and data settings, without
        # the optimiser's state (two thirds of an AdamW checkpoint). last.ckpt, which resuming
        # reads, keeps everything.
        full = self.save_weights_only
        self.save_weights_only = full or not Path(filepath).stem.startswith(self.CHECKPOINT_NAME_LAST)
        try:
            super()._save_checkpoint(trainer, filepath)
        finally:
            self.save_weights_only = full

    def _refresh_last(self, trainer: pl.Trainer) -> None:
        # Skips what Lightning skips (sanity check, non-fit stages) and a step already saved.
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
