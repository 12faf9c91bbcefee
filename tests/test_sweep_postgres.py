"""Shared sweeps on a real PostgreSQL (``tests/postgres_server.py``; skipped, saying why, where the
server cannot start): workers started at the same moment on a fresh database all open the one
study (plain ``optuna.create_study`` lets only one of them through: they all create Optuna's
tables at once), and two ``sweep.py`` workers started together share its trials."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys

import optuna
import pytest
import yaml

from tests.helpers import FAST, REPO

N_WORKERS = 4


@pytest.fixture(scope="module")
def postgres():
    from tests.postgres_server import PostgresServer, PostgresUnavailable, unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no real PostgreSQL here: {reason}")
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as err:
        pytest.skip(f"the PostgreSQL test server did not start: {err}")
    yield server
    server.stop()


def _open_at_the_same_moment(url: str, barrier, results) -> None:
    from sweeps.study import open_study

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    barrier.wait()  # every worker leaves this line together
    try:
        study = open_study(url, "together")
        results.put(("ok", study._study_id))
    except Exception as err:  # reported to the test, which names it
        results.put(("error", f"{type(err).__name__}: {err}"))


@pytest.mark.slow
def test_workers_started_together_on_a_fresh_database_all_open_one_study(postgres):
    url = postgres.create_database("fresh_race")
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(N_WORKERS), ctx.Queue()
    workers = [ctx.Process(target=_open_at_the_same_moment, args=(url, barrier, results)) for _ in range(N_WORKERS)]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=300) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert [kind for kind, _ in outcomes] == ["ok"] * N_WORKERS, outcomes
    assert len({study_id for _, study_id in outcomes}) == 1  # one study, joined by all
    assert [s.study_name for s in optuna.get_all_study_summaries(url)] == ["together"]


def test_missing_driver_is_named(monkeypatch):
    import sweeps.study

    monkeypatch.setattr(sweeps.study, "_has_module", lambda name: False)
    with pytest.raises(ValueError, match=r"psycopg\[binary\]"):
        sweeps.study.make_storage("postgresql://user:pw@127.0.0.1:1/db")


@pytest.mark.slow
def test_two_sweep_workers_started_together_share_the_study(postgres, tiny_root, tmp_path):
    url = postgres.create_database("fresh_sweep")
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"model.optimisation.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}))
    fixed = [*FAST, "--data.root", str(tiny_root), "--data.synthetic", "null",
             "--data.cache_dir", str(tiny_root.parent / "cache"), "--trainer.max_epochs", "1",
             "--trainer.limit_train_batches", "1", "--model.ridge.fit", "false"]
    commands = [[sys.executable, "sweep.py", "--config", "configs/demo.yaml", "--space", str(space),
                 "--trials", "4", "--out", str(tmp_path / f"worker{k}"), "--storage", url,
                 "--study-name", "shared", "--seed", str(k), "--startup-trials", "1", "--", *fixed]
                for k in range(2)]
    procs = [subprocess.Popen(c, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for c in commands]
    logs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n----\n".join(log[-3000:] for log in logs)
    study = optuna.load_study(study_name="shared", storage=url)
    trials = study.get_trials()
    assert len(trials) >= 4 and len({t.number for t in trials}) == len(trials)
    assert {t.state for t in trials} <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    assert all('"study": "shared"' in log for log in logs)  # each worker reported on the one study
