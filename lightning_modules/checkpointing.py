"""A ModelCheckpoint whose ``last.ckpt`` is rewritten after every epoch.

Lightning 2.x writes ``last.ckpt`` only at a step where it also saved a top-k checkpoint,
i.e. when the monitored ``val/score`` improved (and once more at the end of fit if it never
did). A run killed after a few epochs without improvement would then resume from the last
improvement and redo the epochs since. ``--ckpt_path last`` must continue from the last
finished epoch, so this subclass writes ``last.ckpt`` whenever the parent did not.
"""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint


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

    def _refresh_last(self, trainer: pl.Trainer) -> None:
        # Skips what Lightning skips (sanity check, non-fit stages) and a step already saved.
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
