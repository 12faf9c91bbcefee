"""Stop a run whose loss or predictions stop being finite, instead of letting it "succeed".

A diverged model (``--model.optimisation.lr 1e6``) predicts NaN: without a guard the run goes on to the end,
exits with code 0, and writes the NaN model as a checkpoint and a summary. This callback raises
:class:`NonFiniteError` at the first non-finite training loss or validation prediction, so the
run ends with a message and a non-zero exit code, and nothing after the bad step is saved (the
checkpoints of the epochs before it stay as they were).

Under DDP every rank takes the same decision (one boolean all-reduce per training batch, and
one per validation, at its end: ranks can hold different numbers of validation batches), so no
rank is left waiting in a collective for another that stopped.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch


class NonFiniteError(RuntimeError):
    """The training loss or the model's predictions became NaN or infinite."""


def _first_bad(x: torch.Tensor) -> str:
    bad = ~torch.isfinite(x.detach())
    return f"{int(bad.sum())} of {x.numel()} values NaN or infinite"


class NonFiniteGuard(pl.Callback):
    """Raises :class:`NonFiniteError` at the first non-finite ``train/loss`` or validation prediction."""

    def _stop(self, trainer: pl.Trainer, pl_module: pl.LightningModule, bad: bool, what: str) -> None:
        if not trainer.strategy.reduce_boolean_decision(bad, all=False):
            return
        settings = getattr(pl_module, "settings", None)  # any LightningModule may carry the guard
        lr = settings.optimisation.lr if settings is not None else None
        checkpoint = trainer.checkpoint_callback
        last = getattr(checkpoint, "last_model_path", "") or "none yet"
        raise NonFiniteError(
            f"{what} at epoch {trainer.current_epoch}, global step {trainer.global_step}: the model diverged "
            "(or its inputs are not finite). The run is stopped and nothing from this step on is saved; "
            f"the last checkpoint written before it: {last}. Lower the learning rate (model.optimisation.lr={lr}), "
            "or clip gradients (--trainer.gradient_clip_val 1.0), and start again")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            finite = bool(torch.isfinite(loss.detach()).all())
            self._stop(trainer, pl_module, not finite, f"train/loss is {float(loss):g} (batch {batch_idx})")

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._bad_validation: str | None = None

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        preds = outputs.get("preds") if isinstance(outputs, dict) else None
        if isinstance(preds, torch.Tensor) and self._bad_validation is None and not bool(torch.isfinite(preds).all()):
            self._bad_validation = f"validation predictions have {_first_bad(preds)} (validation batch {batch_idx})"

    # Callbacks' epoch-end hooks run before the module's, so this stops before the epoch is scored.
    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        bad = getattr(self, "_bad_validation", None)
        self._stop(trainer, pl_module, bad is not None, bad or "validation predictions on another process are not "
                                                              "finite")
