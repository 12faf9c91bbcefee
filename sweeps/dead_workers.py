"""Trials left RUNNING by a worker that died (SIGKILL, out of memory, a node reboot).

A killed worker never tells the study its trial ended, so the trial stays RUNNING for good and
would count towards ``--trials``: a restarted sweep then ends one trial short, with a trial that
never finishes. Each trial records which process runs it (:func:`record_worker`); a worker
starting on the same machine marks the trials of dead processes failed (:func:`fail_dead_workers`)
with the reason in their ``failure`` attribute, and they do not count towards the total
(:func:`counts_towards_total`).

Only processes of this machine can be checked. Storages with a heartbeat (PostgreSQL, MySQL: see
:func:`sweeps.study.make_storage`) also have Optuna fail trials whose worker stopped beating on
any machine, after the grace period.
"""

from __future__ import annotations

import logging
import os
import socket

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from runtime.processes import pid_alive

log = logging.getLogger(__name__)

#: User attribute of a trial: the process running it, {"host", "pid", "started"}.
WORKER = "worker"
#: User attribute set on a trial whose worker died: it does not count towards ``--trials``.
WORKER_DIED = "worker_died"


def _started(pid: int) -> int | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22), None if it
    does not exist (or on a system without /proc). Tells a live process from a new one that
    reuses the pid."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def this_worker() -> dict:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "started": _started(pid)}


def record_worker(trial: optuna.Trial) -> None:
    """Note in the trial which process (host, pid, start time) runs it."""
    trial.set_user_attr(WORKER, this_worker())


def _alive(worker: dict) -> bool:
    pid = worker.get("pid")
    if not isinstance(pid, int):
        return True  # not ours to judge
    if worker.get("started") is not None and os.path.isdir("/proc"):
        return _started(pid) == worker["started"]
    return pid_alive(pid)


def fail_dead_workers(study: optuna.Study) -> list[int]:
    """Mark failed the RUNNING trials whose worker, a process of this machine, has died.

    Returns the numbers of the trials marked. A trial that another worker finished or marked
    meanwhile is left as it is.
    """
    host, marked = socket.gethostname(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER)
        if not isinstance(worker, dict) or worker.get("host") != host or _alive(worker):
            continue
        reason = (f"worker process {worker['pid']} on {host} died while running this trial "
                  "(killed?); it does not count towards --trials")
        try:
            study._storage.set_trial_user_attr(trial._trial_id, WORKER_DIED, True)
            study._storage.set_trial_user_attr(trial._trial_id, "failure", reason)
            if study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                marked.append(trial.number)
        except UpdateFinishedTrialError:
            continue
    if marked:
        log.warning("study %r: trial(s) %s were left RUNNING by a dead worker; marked failed, "
                    "not counted", study.study_name, ", ".join(map(str, marked)))
    return marked


def counts_towards_total(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial counts towards ``--trials``: every trial but those whose worker died."""
    return not trial.user_attrs.get(WORKER_DIED, False)
