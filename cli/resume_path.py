"""``fit --ckpt_path last``: the checkpoint a run continues from, for every mode's CLI
(``train.py``'s clip mode and the movie modes of :mod:`cli.movies`).

``last`` is the newest of the run's ``last.ckpt`` and its SLURM requeue checkpoint
(``hpc_ckpt_<n>.ckpt``, :mod:`runtime.slurm_requeue`), or a fresh start when it has neither, so
the same command starts a run and resumes it after a requeue (:mod:`runtime.resume`).
"""

from __future__ import annotations

import pytorch_lightning as pl

from runtime.quiet import ignore_warning
from runtime.resume import check_no_foreign_requeue_checkpoint, latest_checkpoint


def resolve_fit_ckpt_path(trainer: pl.Trainer, ckpt_path: str | None) -> str | None:
    """``ckpt_path`` as ``trainer.fit`` is to get it: ``"last"`` resolved (None when the run has
    no checkpoint yet); with none, under SLURM, another run's requeue checkpoint that Lightning
    would restore by itself stops the run (:class:`runtime.resume.ForeignCheckpointError`)."""
    if ckpt_path == "last":
        ckpt_path = latest_checkpoint(trainer)
    if not ckpt_path:
        check_no_foreign_requeue_checkpoint(trainer)
        return None
    # Resuming writes into the run's own checkpoint folder: that it is not empty is expected.
    ignore_warning(r"Checkpoint directory .* exists and is not empty", regex=True)
    return ckpt_path
