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
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl

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


def latest_checkpoint(trainer: pl.Trainer) -> str | None:
    """The newest of ``last*.ckpt`` and ``hpc_ckpt_*.ckpt``, or None when the run has none yet."""
    last_dir, hpc_dir = checkpoint_dir(trainer), Path(trainer.default_root_dir)
    candidates = [*last_dir.glob(LAST_CHECKPOINT_GLOB), *hpc_dir.glob("hpc_ckpt_*.ckpt")]
    if not candidates:
        log.info("--ckpt_path last: no checkpoint in %s or %s yet; starting a fresh run", last_dir, hpc_dir)
        return None
    newest = max(candidates, key=lambda p: (p.stat().st_mtime_ns, p.name))
    log.info("--ckpt_path last: resuming from %s", newest)
    return str(newest)
