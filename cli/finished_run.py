"""Refuse to start a new run over a finished one in a run folder named on the command line.

``--trainer.logger.init_args.version run1`` names the run folder (the way to resume). Running the
same command again without ``--ckpt_path`` used to start a fresh run there: the finished run's
``summary.json``, ``val_predictions.npz`` and ``config.yaml`` were replaced, the TensorBoard events of
both runs mixed, and old checkpoints sat beside new ones (``last-v1.ckpt``). :func:`check_not_finished`
runs before anything is written (before ``config.yaml``) and refuses, naming the folder, how to
resume and how to start elsewhere, unless ``--overwrite_run true`` says to start over there.
"""

from __future__ import annotations

from pathlib import Path

from run_folder.contract import RunFolder


class FinishedRunError(ValueError):
    """A fresh run was asked for in a run folder that holds a finished run."""


def check_not_finished(run_dir: str | Path, version, ckpt_path, overwrite: bool) -> None:
    """Raise :class:`FinishedRunError` when ``run_dir`` (a logger version given by name, not an
    automatic ``version_<n>``) holds a finished run and this run neither resumes (``ckpt_path``)
    nor was told to overwrite it."""
    if ckpt_path or overwrite or isinstance(version, int):
        return
    run = RunFolder(run_dir)
    if run.finished:
        raise FinishedRunError(
            f"{run.path} holds a finished run ({run.summary_path.name}); a new run there would replace its "
            f"results and mix its checkpoints and logs. Resume it with --ckpt_path last, start a new run "
            f"with another --trainer.logger.init_args.version, or pass --overwrite_run true to replace it")
