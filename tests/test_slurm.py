"""SLURM: the sbatch script's train.py arguments parse; ``--ckpt_path last`` starts a fresh run
when there is no checkpoint yet; a requeue signal (SIGUSR1, as ``--signal=SIGUSR1@90`` sends it)
saves a checkpoint at the next batch end and calls ``scontrol requeue``, and the requeued job
resumes from it (here with a stand-in ``scontrol``).

The slow tests run the shipped scripts on a real one-node SLURM cluster (``tests/slurm_cluster.py``;
they skip, saying why, where it cannot start): a 2-task gloo DDP training job, signalled part-way
through an epoch with ``scancel --signal=USR1``, requeues itself, resumes, and ends with the
metrics of the same job left alone; and the sweep job array's 2 tasks join one study.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO, fit_tiny
from tests.test_resume import EPOCHS, TOLERANCE, _env, _numbers, _train_command

SBATCH = REPO / "scripts/slurm_train.sbatch"


def _directives() -> dict[str, str]:
    """``#SBATCH --key=value`` lines as ``{key: value}`` (flags without a value map to "")."""
    out = {}
    for line in SBATCH.read_text().splitlines():
        if line.startswith("#SBATCH --"):
            key, _, value = line[len("#SBATCH --"):].partition("=")
            out[key.strip()] = value.strip()
    return out


def _srun_arguments(env: dict[str, str]) -> list[str]:
    """The script's ``srun python train.py ...`` command, continuation lines joined, the
    variables substituted from ``env`` and ``"$@"`` dropped; returns what follows ``train.py``."""
    text = SBATCH.read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("srun "))
    line = line.replace('"$@"', "")
    line = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], line)
    words = shlex.split(line)
    assert words[:3] == ["srun", "python", "train.py"], words[:3]
    return words[3:]


def test_sbatch_is_multi_node_with_signal_and_requeue():
    d = _directives()
    assert int(d["nodes"]) >= 2
    assert d["gres"] == f"gpu:{d['ntasks-per-node']}"  # one process per GPU
    assert d["signal"] == "SIGUSR1@90" and "requeue" in d


@pytest.mark.slow
def test_sbatch_train_arguments_parse(tiny_root):
    env = {"CONFIG": "configs/demo.yaml", "RUN_NAME": "encoding", "RUN_DIR": "runs/encoding/slurm-4242",
           "RUNS": "runs", "ACCELERATOR": "cpu",
           "SLURM_NNODES": "2", "SLURM_NTASKS_PER_NODE": "4", "SLURM_JOB_ID": "4242"}
    args = _srun_arguments(env)
    done = subprocess.run([sys.executable, "train.py", *args, "--data.root", str(tiny_root), "--print_config"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    trainer = config["trainer"]
    assert trainer["num_nodes"] == 2 and str(trainer["devices"]) == "4" and trainer["strategy"] == "ddp"
    assert trainer["accelerator"] == "cpu"  # what the script detected in the allocation
    [plugin] = trainer["plugins"]
    assert plugin["class_path"].endswith("environments.SLURMEnvironment")
    assert plugin["init_args"]["auto_requeue"] is False  # RequeueOnSignal handles the signal instead
    [requeue] = [c for c in trainer["callbacks"] if c["class_path"].endswith("RequeueOnSignal")]
    assert requeue["init_args"]["signal_name"] == "SIGUSR1"
    assert trainer["logger"]["init_args"]["version"] == "slurm-4242"  # the same folder after a requeue
    assert trainer["default_root_dir"] == "runs/encoding/slurm-4242"  # where the requeue checkpoint goes
    assert config["ckpt_path"] == "last"


@pytest.mark.slow
def test_ckpt_path_last_without_a_checkpoint_starts_a_fresh_run(tiny_root, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="runtime.resume"):
        cli = fit_tiny(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--model.ridge.fit", "false",
                       "--ckpt_path", "last")
    assert "no checkpoint" in caplog.text and "starting a fresh run" in caplog.text
    summary = json.loads((Path(cli.trainer.log_dir) / "summary.json").read_text())
    assert summary["epochs_run"] == 1


def _slurm_env(tmp_path: Path) -> dict[str, str]:
    """A one-task SLURM job as srun would describe it, with a fake ``scontrol`` that logs its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    scontrol.chmod(0o755)
    return {**_env(), "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "train",
            "SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1", "SLURM_NNODES": "1", "SLURM_PROCID": "0",
            "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "localhost"}


@pytest.mark.slow
def signal_requeue_after_first_epoch(command: list[str], env: dict[str, str], run_dir: Path,
                                     requeued: Path, timeout: float) -> None:
    """Run ``command``; once its first epoch's ``last.ckpt`` exists, send SIGUSR1 (what
    ``--signal=SIGUSR1@90`` sends before the time limit), wait for the fake ``scontrol`` to log
    the requeue into ``requeued``, then end the process as SLURM would (SIGKILL)."""
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while not (run_dir / "checkpoints/last.ckpt").exists():  # first epoch done: signal in the next
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGUSR1)
        while not requeued.exists():
            assert proc.poll() is None, "training ended before handling the requeue signal"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # SLURM ends the requeued job (the run waits for it)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_requeue_signal_saves_a_checkpoint_requeues_and_the_requeued_job_resumes(tiny_root, tmp_path):
    env = _slurm_env(tmp_path)
    save_dir = tmp_path / "runs"
    run_dir = save_dir / "demo" / "run"
    command = _train_command(tiny_root, save_dir, "--trainer.default_root_dir", str(run_dir),
                             "--trainer.plugins+", "pytorch_lightning.plugins.environments.SLURMEnvironment",
                             "--trainer.plugins.auto_requeue", "false",
                             "--trainer.callbacks+", "runtime.slurm_requeue.RequeueOnSignal",
                             "--ckpt_path", "last")
    requeued, hpc = tmp_path / "scontrol.log", run_dir / "hpc_ckpt_1.ckpt"
    signal_requeue_after_first_epoch(command, env, run_dir, requeued, timeout=240)
    assert requeued.read_text().split() == ["requeue", "4242"]
    assert hpc.is_file() and not (run_dir / "summary.json").exists()

    # The requeued job: the same command, the same job id.
    log = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert log.returncode == 0, log.stderr[-3000:]
    assert f"Restored all states from the checkpoint at {hpc}" in log.stdout + log.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs_run"] == EPOCHS and summary["last"]["score"]["overall"] is not None


# ---------------------------------------------------------------------- a real SLURM cluster
REQUEUE_EPOCHS = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from tests.slurm_cluster import SlurmCluster, SlurmUnavailable, unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no real SLURM cluster here: {reason}")
    slurm = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        slurm.start()
    except SlurmUnavailable as err:
        pytest.skip(f"the SLURM test cluster did not start: {err}")
    yield slurm
    slurm.stop()


def _tiny_train_overrides(tiny_root: Path) -> list[str]:
    """The TINY release with 9 training videos: 3 batches per epoch on each of 2 ranks (2, 2, 1
    of the padded 5), so a signal at the first batch end of an epoch falls part-way through it."""
    return ["--trainer.enable_progress_bar", "false", "--data.num_workers", "0", "--data.num_frames", "4",
            "--data.image_size", "32", "--data.split", "holdout", "--data.n_val", "3", "--data.batch_size", "2",
            "--data.root", str(tiny_root), "--data.synthetic", "null",
            "--data.cache_dir", str(tiny_root.parent / "cache"), "--model.ridge.fit", "false",
            "--trainer.max_epochs", str(REQUEUE_EPOCHS), "--trainer.deterministic", "true"]


def _submit_training(cluster, tiny_root: Path, runs: Path) -> tuple[str, Path]:
    runs.mkdir(parents=True, exist_ok=True)
    job = cluster.sbatch(["--nodes", "1", "--ntasks-per-node", "2", "--cpus-per-task", "1",
                          "--output", str(runs / "%j.out"), "scripts/slurm_train.sbatch",
                          *_tiny_train_overrides(tiny_root)],
                         cwd=REPO, env={"CONFIG": "configs/demo.yaml", "RUNS": str(runs), "OMP_NUM_THREADS": "1",
                                        "PYTHONHASHSEED": "0"})
    return job, runs / "encoding" / f"slurm-{job}"


def _ended(record: dict) -> bool:
    return record.get("JobState") not in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED",
                                          "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED")


@pytest.mark.slow
def test_real_slurm_ddp_job_requeued_mid_epoch_ends_with_the_metrics_of_an_uninterrupted_job(
        cluster, tiny_root, tmp_path):
    from export.checkpoint import read_checkpoint

    reference_job, reference_dir = _submit_training(cluster, tiny_root, tmp_path / "reference")
    record = cluster.wait(reference_job, _ended, timeout=900)
    out = (tmp_path / "reference" / f"{reference_job}.out").read_text()
    assert record["JobState"] == "COMPLETED", out[-3000:]
    assert "2 task(s) per node, accelerator cpu" in out
    expected = json.loads((reference_dir / "summary.json").read_text())

    job, run_dir = _submit_training(cluster, tiny_root, tmp_path / "requeued")
    deadline = time.monotonic() + 600
    while not (run_dir / "checkpoints/last.ckpt").exists():  # epoch 0 is over: signal in epoch 1
        assert not _ended(cluster.job(job)), (tmp_path / "requeued" / f"{job}.out").read_text()[-3000:]
        assert time.monotonic() < deadline, "no end-of-epoch checkpoint in time"
        time.sleep(0.1)
    cluster.scancel(job, "--signal=USR1")  # what --signal=SIGUSR1@90 sends before the time limit
    # SLURM holds a requeued job back for a while (BeginTime); let it start again at once.
    requeued = cluster.wait(job, lambda r: r.get("Restarts") == "1" and r.get("JobState") == "PENDING", timeout=300)
    assert requeued["Restarts"] == "1"
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], env=cluster.env(), check=True,
                   timeout=30)
    record = cluster.wait(job, _ended, timeout=900)
    out = (tmp_path / "requeued" / f"{job}.out").read_text()
    assert record["JobState"] == "COMPLETED", out[-3000:]

    hpc = run_dir / "hpc_ckpt_1.ckpt"
    state = read_checkpoint(hpc)
    progress = state["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["processed"]
    assert state["epoch"] == 1 and 1 <= progress < 3, f"not saved part-way through epoch 1: {progress}"
    assert f"Restored all states from the checkpoint at {hpc}" in out
    assert "restart 1" in out  # the same script ran again under the same job id
    resumed = json.loads((run_dir / "summary.json").read_text())
    assert resumed["epochs_run"] == expected["epochs_run"] == REQUEUE_EPOCHS
    assert resumed["best_epoch"] == expected["best_epoch"]
    for part in ("last", "best"):
        got, want = _numbers(resumed, part), _numbers(expected, part)
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key] == pytest.approx(value, abs=TOLERANCE, nan_ok=True), key


@pytest.mark.slow
def test_real_slurm_sweep_array_tasks_join_one_study(cluster, tiny_root, tmp_path):
    import optuna

    out = tmp_path / "sweep"
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"model.optimisation.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}))
    fixed = ["--data.num_workers", "0", "--data.num_frames", "4", "--data.image_size", "32",
             "--data.split", "holdout", "--data.n_val", "6", "--data.batch_size", "4",
             "--data.root", str(tiny_root), "--data.synthetic", "null",
             "--data.cache_dir", str(tiny_root.parent / "cache"), "--model.ridge.fit", "false",
             "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1"]
    job = cluster.sbatch(["--array", "0-1", "--cpus-per-task", "1", "--output", str(tmp_path / "%A_%a.out"),
                          "scripts/slurm_sweep.sbatch", "configs/demo.yaml", str(space), "4", *fixed],
                         cwd=REPO, env={"OUT": str(out), "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 900
    while True:
        tasks = cluster.jobs(job)
        if len(tasks) == 2 and all(_ended(t) for t in tasks):
            break
        assert time.monotonic() < deadline, tasks
        time.sleep(2)
    logs = {t["ArrayTaskId"]: (tmp_path / f"{job}_{t['ArrayTaskId']}.out").read_text() for t in tasks}
    assert all(t["JobState"] == "COMPLETED" for t in tasks), {k: v[-2000:] for k, v in logs.items()}
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / "study.journal")))
    [summary] = optuna.get_all_study_summaries(storage)
    assert summary.study_name == "space"
    trials = optuna.load_study(study_name="space", storage=storage).get_trials()
    assert len(trials) >= 4 and len({t.number for t in trials}) == len(trials)
    # Both tasks worked on the study: each wrote its own trials' runs and reported on the same study.
    assert all('"study": "space"' in log for log in logs.values())
    assert {t.state for t in trials} <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
