"""Requeue a SLURM job on its warning signal, from a point where every rank agrees.

SLURM sends ``--signal=SIGUSR1@90`` to every task 90 s before the time limit (and on
preemption with a grace period). Lightning's own handler (``SLURMEnvironment(auto_requeue=True)``)
saves the checkpoint inside the signal handler, wherever each process happens to be: under DDP
the ranks then enter the checkpoint's barrier at different points, possibly while another rank is
inside a gradient all-reduce, and a handler that fires half-way through an optimiser step saves
half-updated weights. Here the handler only notes the signal. At the end of each training batch
(weights consistent, no collective in flight) the ranks agree on whether any of them got it; if
so, every rank takes part in saving ``hpc_ckpt_<n>.ckpt`` (what ``--ckpt_path last`` resumes
from, see :mod:`runtime.resume`), rank 0 calls ``scontrol requeue``, and the processes
wait for SLURM to end them (nothing more is written that a kill could truncate).

A batch-end checkpoint resumes at the next batch of the same epoch: the data module's training
sampler skips the positions already trained (``EpochOrderSampler``), so a requeued run sees the
batches an uninterrupted one would have seen.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time

import pytorch_lightning as pl
import torch
import torch.distributed as dist

from runtime.distributed import broadcast_object, world_size
from runtime.lightning_overrides import requeue_checkpoint_path

log = logging.getLogger(__name__)


class RequeueOnSignal(pl.Callback):
    """On ``signal_name`` (default SIGUSR1): checkpoint at the next batch end, requeue, wait to be ended.

    Parameters
    ----------
    signal_name : the signal SLURM is told to send (``#SBATCH --signal=SIGUSR1@90``).
    wait_s : how long to wait for SLURM to end the job after a successful requeue before giving
        up with an error (the requeue was accepted but the job was not ended).

    Use with ``SLURMEnvironment(auto_requeue=False)`` (so Lightning installs no handler of its own
    for the same signal), as ``scripts/slurm_train.sbatch`` does.
    """

    def __init__(self, signal_name: str = "SIGUSR1", wait_s: float = 600.0):
        self.signum = signal.Signals[signal_name]
        self.wait_s = wait_s
        self.received = False
        self._previous = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            self._previous = signal.signal(self.signum, self._note)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and self._previous is not None:
            signal.signal(self.signum, self._previous)
            self._previous = None

    def _note(self, signum, frame) -> None:
        self.received = True

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if not self._any_rank_received(pl_module.device):
            return
        log.info("requeue signal: saving a checkpoint after batch %d of epoch %d", batch_idx, trainer.current_epoch)
        path = requeue_checkpoint_path(trainer)
        trainer.save_checkpoint(path)  # every rank: it has a barrier; rank 0 writes
        requeued = broadcast_object(_requeue() if trainer.is_global_zero else None)
        if not requeued:
            log.warning("could not requeue the job (see above); training goes on from %s", path)
            self.received = False
            return
        for logger in trainer.loggers:
            logger.finalize("requeued")
        log.info("job requeued; waiting for SLURM to end this run")
        deadline = time.monotonic() + self.wait_s
        while time.monotonic() < deadline:
            time.sleep(1)
        raise RuntimeError(f"the job was requeued but SLURM did not end it within {self.wait_s:.0f} s")

    def _any_rank_received(self, device: torch.device) -> bool:
        """Whether any rank has the signal (one all-reduce of a flag per batch under DDP)."""
        if world_size() == 1:
            return self.received
        flag = torch.tensor([float(self.received)], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


def _requeue() -> bool:
    """``scontrol requeue`` this job (or array task); True when SLURM accepted it."""
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    job = f"{array_job}_{task}" if array_job and task else os.environ.get("SLURM_JOB_ID")
    if not job:
        log.warning("requeue signal outside a SLURM job (no SLURM_JOB_ID)")
        return False
    try:
        done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.warning("scontrol requeue %s failed: %s", job, err)
        return False
    if done.returncode != 0:
        log.warning("scontrol requeue %s failed (exit %d): %s", job, done.returncode, done.stderr.strip())
        return False
    log.info("requeued SLURM job %s", job)
    return True
