"""Which checkpoint ``train.py fit --ckpt_path last`` continues from.

Two kinds of checkpoint can hold a run's latest state:

- ``<run dir>/checkpoints/last.ckpt``, written by the checkpoint callback after every epoch
  (:mod:`runtime.lightning_overrides`);
- ``<trainer.default_root_dir>/hpc_ckpt_<n>.ckpt``, written mid-epoch by Lightning's SLURM
  environment when the job receives its requeue signal (``--signal=SIGUSR1@90``), just
  before ``scontrol requeue``.

Lightning's own ``ckpt_path="last"`` looks only at the first kind, and its automatic HPC
resume happens only without a ``ckpt_path``; a preempted and requeued job would then
repeat the epoch it was in. ``latest_checkpoint`` takes the newest of both, and ``None``
(a fresh start, logged) when there is none yet, so the same command serves the first
start and every requeue.

Only this run's own checkpoints count. ``trainer.default_root_dir`` is the working directory
unless it is set, and Lightning's own SLURM handler writes ``hpc_ckpt_<n>.ckpt`` there: a
requeue checkpoint there belongs to this run only when ``default_root_dir`` is the run folder
(or inside it), as ``scripts/slurm_train.sbatch`` and ``kfold.py`` set it. Otherwise it is
another run's: never resumed from, and under SLURM (where Lightning would load it by itself into
a run started without a checkpoint) :class:`ForeignCheckpointError` names it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
from lightning_fabric.plugins.environments import SLURMEnvironment

from run_folder.contract import LAST_CHECKPOINT_GLOB, RunFolder

log = logging.getLogger(__name__)


def checkpoint_dir(trainer: pl.Trainer) -> Path:
    """Where the checkpoint callback writes, resolved as Lightning resolves it at set-up."""
    callback = trainer.checkpoint_callback
    if callback is not None and callback.dirpath:
        return Path(callback.dirpath)
    if trainer.loggers:
        return RunFolder(trainer.log_dir).checkpoints_dir
    return RunFolder(trainer.default_root_dir).checkpoints_dir


REQUEUE_GLOB = "hpc_ckpt_*.ckpt"


class ForeignCheckpointError(ValueError):
    """A requeue checkpoint of another run lies where Lightning would restore it into this one."""


def _run_dir(trainer: pl.Trainer) -> Path:
    return Path(trainer.log_dir if trainer.loggers else trainer.default_root_dir).resolve()


def own_requeue_dir(trainer: pl.Trainer) -> Path | None:
    """``trainer.default_root_dir`` when it is this run's folder (or inside it): its requeue
    checkpoints are this run's; None when it is shared (the working directory by default)."""
    root, run = Path(trainer.default_root_dir).resolve(), _run_dir(trainer)
    return root if root == run or run in root.parents else None


def check_no_foreign_requeue_checkpoint(trainer: pl.Trainer) -> None:
    """Before a run starts without a checkpoint: under SLURM, Lightning restores the newest
    ``hpc_ckpt_<n>.ckpt`` of ``default_root_dir`` by itself; refuse when that is another run's."""
    if own_requeue_dir(trainer) is not None or not SLURMEnvironment.detect():
        return
    foreign = sorted(Path(trainer.default_root_dir).glob(REQUEUE_GLOB))
    if foreign:
        raise ForeignCheckpointError(
            f"{foreign[-1]} is a requeue checkpoint of another run (in trainer.default_root_dir "
            f"{Path(trainer.default_root_dir).resolve()}, not this run's folder {_run_dir(trainer)}); Lightning "
            f"would restore it into this run. Move it away, or set --trainer.default_root_dir to the run folder")


def latest_checkpoint(trainer: pl.Trainer) -> str | None:
    """The newest of this run's ``last*.ckpt`` and ``hpc_ckpt_*.ckpt``, or None when it has none yet."""
    last_dir, hpc_dir = checkpoint_dir(trainer), own_requeue_dir(trainer)
    candidates = [*last_dir.glob(LAST_CHECKPOINT_GLOB), *last_dir.glob(REQUEUE_GLOB),
                  *(hpc_dir.glob(REQUEUE_GLOB) if hpc_dir is not None else ())]
    if hpc_dir is None and (ignored := sorted(Path(trainer.default_root_dir).glob(REQUEUE_GLOB))):
        log.warning("--ckpt_path last: %s is not this run's (trainer.default_root_dir is not its run folder "
                    "%s): not resumed from", ", ".join(map(str, ignored)), _run_dir(trainer))
    if not candidates:
        log.info("--ckpt_path last: no checkpoint of this run in %s yet; starting a fresh run", last_dir)
        return None
    newest = max(candidates, key=lambda p: (p.stat().st_mtime_ns, p.name))
    log.info("--ckpt_path last: resuming from %s", newest)
    return str(newest)
