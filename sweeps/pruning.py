"""Stop hopeless trials early: report ``val/score`` to Optuna after every validation.

Written here rather than taken from ``optuna-integration``, whose callback targets the
``lightning.pytorch`` namespace while this project uses ``pytorch_lightning``.
"""

from __future__ import annotations

import pytorch_lightning as pl


class ValScorePruning(pl.Callback):
    """Reports each epoch's ``val/score`` to ``trial``; when Optuna's pruner says so, the run stops
    at the end of that epoch (cleanly: checkpoints and ``summary.json`` are still written) and
    :attr:`pruned` is set, for the objective to raise ``optuna.TrialPruned``."""

    def __init__(self, trial, monitor: str = "val/score"):
        self.trial = trial
        self.monitor = monitor
        self.pruned = False

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        score = float(trainer.callback_metrics[self.monitor])
        self.trial.report(score, step=trainer.current_epoch)
        # Every DDP rank asks the same shared storage with the same history, so all agree.
        if self.trial.should_prune():
            self.pruned = True
            trainer.should_stop = True
