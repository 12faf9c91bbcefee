"""``sweep.py --keep-checkpoints N``: only the N best trials keep their checkpoints.

A demo trial writes ``last.ckpt`` and a best checkpoint (about 12 MB each with EfficientNet-
Lite0, 144 MB with ResNet-18 and AdamW state); a sweep of a hundred trials fills a disk with
checkpoints nobody will predict with. After every finished trial this removes the
``checkpoints/`` folders of finished trials that are not among the N best completed ones (by
their value, the best ``val/score``). Their ``summary.json``, ``config.yaml``, TensorBoard events
and validation predictions stay; running trials (any worker's) are never touched.
"""

from __future__ import annotations

import shutil

import optuna

from run_folder.contract import RunFolder
from sweeps.study import FINISHED


class KeepBestCheckpoints:
    """An Optuna study callback deleting the checkpoints of all finished trials but the ``n_best``."""

    def __init__(self, n_best: int):
        if n_best < 0:
            raise ValueError(f"--keep-checkpoints must be 0 or more trials, got {n_best}")
        self.n_best = n_best

    def __call__(self, study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        finished = study.get_trials(deepcopy=False, states=FINISHED)
        completed = [t for t in finished if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
        reverse = study.direction == optuna.study.StudyDirection.MAXIMIZE
        keep = {t.number for t in sorted(completed, key=lambda t: t.value, reverse=reverse)[:self.n_best]}
        for trial in finished:
            run_dir = trial.user_attrs.get("run_dir")
            if trial.number not in keep and run_dir and RunFolder(run_dir).checkpoints_dir.is_dir():
                shutil.rmtree(RunFolder(run_dir).checkpoints_dir, ignore_errors=True)
