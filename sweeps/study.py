"""Opening (or joining) a shared Optuna study: the same call on every worker, on any machine."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import optuna
import sqlalchemy.exc

from sweeps.dead_workers import counts_towards_total

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Attempts at creating the storage's tables or the study before giving up.
CREATE_ATTEMPTS = 10


def retry_creation(create: Callable[[], T], what: str, attempts: int = CREATE_ATTEMPTS) -> T:
    """``create()``, tried again after a short random wait when another worker raced it.

    Workers started at the same moment on a fresh database all create Optuna's tables at once,
    and PostgreSQL lets only one ``CREATE TABLE`` of each name through: the others fail with
    ``IntegrityError`` (duplicate key in ``pg_type``) or ``ProgrammingError`` (the table exists).
    A second try finds the tables (SQLAlchemy creates only the missing ones) and goes on.
    """
    for attempt in range(1, attempts + 1):
        try:
            return create()
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError,
                sqlalchemy.exc.OperationalError) as err:
            if attempt == attempts:
                raise
            wait = random.uniform(0.1, 0.5) * attempt
            log.info("%s raced another worker (%s); trying again in %.1f s", what,
                     type(err.orig or err).__name__, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def make_storage(url: str):
    """An Optuna storage from a URL.

    ``sqlite:///path/study.db`` (one machine), ``postgresql://user:pw@host/db`` or ``mysql://...``
    (many machines), or ``journal:/shared/path/study.journal``: Optuna's append-only journal file, for
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
    # SQLAlchemy 2.1 reads postgresql:// with psycopg 3 (2.0 chose psycopg2).
    if url.split("://")[0] in ("postgresql", "postgresql+psycopg") and not _has_module("psycopg"):
        raise ValueError(f"--storage {url.split('@')[-1]}: SQLAlchemy's PostgreSQL driver, psycopg 3, is not "
                         "installed: pip install 'psycopg[binary]' (requirements.txt has it), or name "
                         "another driver in the URL (postgresql+psycopg2://...)")
    return retry_creation(lambda: optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180),
                          "creating the study tables")


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def open_study(storage_url: str, study_name: str, seed: int | None = None, prune: bool = True,
               n_startup_trials: int = 5, prune_warmup_epochs: int = 1) -> optuna.Study:
    """Create the study, or join it if another worker already did (``load_if_exists``).

    Safe for many workers started at the same moment on a fresh database: creating the tables
    and the study is retried when another worker raced it (:func:`retry_creation`).

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
    storage = make_storage(storage_url)
    return retry_creation(
        lambda: optuna.create_study(storage=storage, study_name=study_name, sampler=sampler, pruner=pruner,
                                    direction="maximize", load_if_exists=True),
        f"creating study {study_name!r}")


FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
STARTED = (*FINISHED, optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)


def n_finished(study: optuna.Study) -> int:
    """Trials that are over (complete, pruned or failed), by every worker; a trial whose worker
    died (:mod:`sweeps.dead_workers`) does not count."""
    return sum(map(counts_towards_total, study.get_trials(deepcopy=False, states=FINISHED)))


class StopAtTotal:
    """Stop a worker once the study holds ``total`` trials, running ones included (so that
    workers together do not overshoot), leaving out trials whose worker died: those will
    never finish (Optuna's ``MaxTrialsCallback`` counts them)."""

    def __init__(self, total: int):
        self.total = total

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        started = study.get_trials(deepcopy=False, states=STARTED)
        if sum(map(counts_towards_total, started)) >= self.total:
            study.stop()
