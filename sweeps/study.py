"""Opening (or joining) a shared Optuna study: the same call on every worker, on any machine."""

from __future__ import annotations

from pathlib import Path

import optuna


def make_storage(url: str):
    """An Optuna storage from a URL.

    ``sqlite:///path/study.db`` (one machine), ``postgresql://user:pw@host/db`` or ``mysql://...``
    (many machines), or ``journal:/shared/path/study.log``: Optuna's append-only journal file, for
    clusters with a shared file system and no database server.
    """
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url[len("journal:"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        # Several local workers write at once: wait for SQLite's lock instead of failing.
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)


def open_study(storage_url: str, study_name: str, seed: int | None = None, prune: bool = True,
               n_startup_trials: int = 5, prune_warmup_epochs: int = 1) -> optuna.Study:
    """Create the study, or join it if another worker already did (``load_if_exists``).

    TPE proposes values (after ``n_startup_trials`` random ones); the median pruner stops a trial
    whose score at an epoch is below the median of earlier trials at that epoch, from epoch
    ``prune_warmup_epochs`` on (0-based: 1 spares only the first) and once ``n_startup_trials``
    trials have finished. Raise the warm-up when some settings start slow and finish high
    (random heads against heads started from the ridge solution, say).
    """
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials,
                                                 n_warmup_steps=prune_warmup_epochs) if prune
              else optuna.pruners.NopPruner())
    return optuna.create_study(storage=make_storage(storage_url), study_name=study_name, sampler=sampler,
                               pruner=pruner, direction="maximize", load_if_exists=True)


FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def n_finished(study: optuna.Study) -> int:
    """Trials that are over (complete, pruned or failed), by every worker."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))
