"""One sweep trial: a normal ``train.py fit`` run with the trial's overrides, scored by its best ``val/score``."""

from __future__ import annotations

import logging
from pathlib import Path

import optuna

import train
from run_folder.contract import RunFolder
from runtime.nonfinite_guard import NonFiniteError
from sweeps.pruning import ValScorePruning
from sweeps.space import Dimension, as_cli_overrides

log = logging.getLogger(__name__)


def trial_args(base_args: list[str], overrides: list[str], runs_dir: Path, run_name: str,
               version: str) -> list[str]:
    """The ``train.py`` arguments (without the ``fit`` subcommand) of one trial: the sweep's configs and
    fixed overrides, then the trial's values, then where the run is written."""
    return [*base_args, *overrides,
            "--trainer.logger.class_path", "pytorch_lightning.loggers.TensorBoardLogger",
            "--trainer.logger.init_args.save_dir", str(runs_dir),
            "--trainer.logger.init_args.name", run_name,
            "--trainer.logger.init_args.version", version]


def best_score(run_dir: Path) -> float:
    """The best validation score recorded in the run's ``summary.json``."""
    folder = RunFolder(run_dir)
    if not folder.finished:
        raise RuntimeError(f"{folder.summary_path}: the trial's run wrote no summary (did it validate at all?)")
    score = folder.read_summary().best_score
    if score is None:
        raise RuntimeError(f"{folder.summary_path}: no best val/score recorded (NaN or no validation)")
    return score


def run_trial(trial: optuna.Trial, space: list[Dimension], base_args: list[str], runs_dir: Path,
              run_name: str, prune: bool = True) -> float:
    """Train with the trial's suggested values; returns the run's best ``val/score``.

    The run lands in ``runs_dir/run_name/trial_NNNN/`` (recorded as the trial's ``run_dir``
    attribute). Raises ``optuna.TrialPruned`` when the pruner stopped it early. A trial whose
    training diverged (non-finite loss or predictions, :class:`NonFiniteError`) returns NaN, which
    Optuna records as a failed trial (``TrialState.FAIL``, the message in its ``failure``
    attribute), never as a score: the sweep goes on with the next trial.
    """
    values = {dim.key: dim.suggest(trial) for dim in space}
    version = f"trial_{trial.number:04d}"
    cli = train.main(trial_args(base_args, as_cli_overrides(values), runs_dir, run_name, version), run=False)
    if cli.trainer.world_size > 1:
        raise ValueError("a sweep trial trains on one device (each DDP rank would start its own trial): "
                         "set --trainer.devices 1 and run several sweep workers instead")
    pruning = ValScorePruning(trial)
    if prune:
        cli.trainer.callbacks.append(pruning)
    run_dir = Path(cli.trainer.log_dir)
    trial.set_user_attr("run_dir", str(run_dir.resolve()))
    try:
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    except NonFiniteError as err:
        trial.set_user_attr("failure", str(err))
        log.warning("trial %d diverged, marked failed: %s", trial.number, err)
        return float("nan")
    score = best_score(run_dir)
    trial.set_user_attr("best_val_score", score)
    if pruning.pruned:
        raise optuna.TrialPruned(f"pruned after epoch {cli.trainer.current_epoch} (best val/score {score:.4f})")
    return score
