"""Every use of Lightning's private API, in one place, with the versions it is tested on.

Lightning offers no public hook for these, so each overrides or reads a private name:

- :class:`EpochCheckpoint`: ``last.ckpt`` rewritten after every epoch, never from a NaN score or
  non-finite weights, and best checkpoints without the optimiser state (ModelCheckpoint internals).
- :class:`SubcommandHooks`: LightningCLI's subcommand steps, to resolve ``--ckpt_path last`` and
  check resume settings before ``config.yaml`` is written, and to explain out-of-memory errors.
- :func:`find_unused_parameters`: the DDP strategy's keyword arguments, set before the wrap.
- :func:`requeue_checkpoint_path`, :func:`epochs_processed`, :func:`epoch_batches_done`,
  :func:`batches_done_before_restart`: the checkpoint connector's and fit loop's counters.

Importing this module checks that every private name above exists (:data:`_PRIVATE_API`), and
stops with one error naming the missing ones and :data:`TESTED_LIGHTNING`, the range
``requirements.txt`` pins.

``EpochCheckpoint``: Lightning 2.x writes ``last.ckpt`` only at a step where it also saved a
top-k checkpoint, i.e. when the monitored ``val/score`` improved (and once more at the end of fit
if it never did). A run killed after a few epochs without improvement would then resume from the
last improvement and redo the epochs since. ``--ckpt_path last`` must continue from the last
finished epoch, so this subclass writes ``last.ckpt`` whenever the parent did not. A NaN
``val/score`` never makes a "best" checkpoint (Lightning would keep it as the best while fewer
than ``save_top_k`` exist), and a model whose weights are no longer finite is not written at all,
so ``last.ckpt`` keeps the last usable state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import math
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.strategies import DDPStrategy

log = logging.getLogger(__name__)

#: The Lightning releases these overrides are tested on (CI installs the newest of them);
#: requirements.txt pins the same range.
TESTED_LIGHTNING = ">=2.6,<2.7"


def _missing_message(missing: list[str]) -> str:
    return (f"pytorch-lightning {pl.__version__} lacks {', '.join(missing)}, which this project "
            f"overrides or reads (runtime/lightning_overrides.py); install "
            f"pytorch-lightning{TESTED_LIGHTNING} (requirements.txt)")


try:  # the private classes whose members are read below
    from pytorch_lightning.loops import _FitLoop, _TrainingEpochLoop
    from pytorch_lightning.loops.progress import _BatchProgress, _ProcessedTracker, _Progress
    from pytorch_lightning.trainer.connectors.checkpoint_connector import _CheckpointConnector
except ImportError as err:
    raise ImportError(_missing_message([str(err)])) from err

#: Every private Lightning name used in this module, by owner (a method, property, dataclass field
#: or attribute set in ``__init__``); checked at import. The loop counters are read along
#: ``trainer.fit_loop.epoch_progress.current.processed`` and
#: ``trainer.fit_loop.epoch_loop.batch_progress.{is_last_batch, current.processed}``.
_PRIVATE_API = {
    ModelCheckpoint: ("_save_topk_checkpoint", "_save_last_checkpoint", "_save_checkpoint",
                      "_should_save_on_train_epoch_end", "_should_skip_saving_checkpoint", "_monitor_candidates"),
    LightningCLI: ("_run_subcommand", "_prepare_subcommand_kwargs"),
    DDPStrategy: ("_ddp_kwargs",),
    pl.Trainer: ("_checkpoint_connector", "fit_loop"),
    _CheckpointConnector: ("hpc_save_path",),
    _FitLoop: ("epoch_progress", "epoch_loop", "restarting"),
    _TrainingEpochLoop: ("batch_progress",),
    _Progress: ("current",),
    _BatchProgress: ("current", "is_last_batch"),
    _ProcessedTracker: ("processed",),
}


def _defines(owner: type, name: str) -> bool:
    """Whether instances of ``owner`` have ``name``: a class attribute (method, property, default),
    a dataclass field, or an attribute that ``__init__`` (the owner's or a parent's) sets."""
    if hasattr(owner, name):
        return True
    if dataclasses.is_dataclass(owner):
        return name in {f.name for f in dataclasses.fields(owner)}
    inits = (inspect.unwrap(vars(cls)["__init__"]) for cls in owner.__mro__
             if "__init__" in vars(cls))
    return any(name in init.__code__.co_names for init in inits if hasattr(init, "__code__"))


def _check_private_api() -> None:
    missing = [f"{owner.__name__}.{name}" for owner, names in _PRIVATE_API.items() for name in names
               if not _defines(owner, name)]
    if missing:
        raise ImportError(_missing_message(missing))


_check_private_api()


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


class SubcommandHooks(LightningCLI):
    """LightningCLI with two public hooks over its private subcommand steps.

    ``subcommand_context(subcommand)``: a context manager around running the subcommand.
    ``adjust_subcommand_kwargs(subcommand, kwargs)``: edit the trainer method's arguments
    (e.g. ``ckpt_path``) before the run starts and before ``config.yaml`` is written.
    """

    def subcommand_context(self, subcommand: str):
        return contextlib.nullcontext()

    def adjust_subcommand_kwargs(self, subcommand: str, kwargs: dict) -> dict:
        return kwargs

    def _run_subcommand(self, subcommand: str) -> None:
        with self.subcommand_context(subcommand):
            super()._run_subcommand(subcommand)

    def _prepare_subcommand_kwargs(self, subcommand: str) -> dict:
        return self.adjust_subcommand_kwargs(subcommand, super()._prepare_subcommand_kwargs(subcommand))


def find_unused_parameters(strategy) -> bool:
    """Under DDP, have the strategy build DDP with ``find_unused_parameters=True`` (before it wraps
    the model); returns whether it was off until now. No-op (False) for other strategies."""
    if not isinstance(strategy, DDPStrategy) or strategy._ddp_kwargs.get("find_unused_parameters"):
        return False
    strategy._ddp_kwargs["find_unused_parameters"] = True
    return True


def requeue_checkpoint_path(trainer: pl.Trainer) -> str:
    """Where Lightning's SLURM support looks for the requeue checkpoint (``hpc_ckpt_<n>.ckpt``)."""
    return trainer._checkpoint_connector.hpc_save_path(trainer.default_root_dir)


def epochs_processed(trainer: pl.Trainer) -> int:
    """Training epochs the fit loop has finished (its progress counter, restored on resume)."""
    return trainer.fit_loop.epoch_progress.current.processed


def epoch_batches_done(trainer: pl.Trainer) -> bool:
    """Whether the current epoch's training batches are all done."""
    return bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)


def batches_done_before_restart(trainer: pl.Trainer) -> int:
    """Training batches of the current epoch already done by the run being resumed (a checkpoint
    taken part-way through an epoch); 0 for a fresh run or one resumed at an epoch end."""
    loop = trainer.fit_loop
    return loop.epoch_loop.batch_progress.current.processed if loop.restarting else 0
