"""SLURM: the sbatch script's train.py arguments parse; ``--ckpt_path last`` starts a fresh run
when there is no checkpoint yet; a requeue signal (SIGUSR1, as ``--signal=SIGUSR1@90`` sends it)
saves a checkpoint and calls ``scontrol requeue``, and the requeued job resumes from it."""

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

import yaml

from tests.helpers import REPO, fit_tiny
from tests.test_resume import EPOCHS, _env, _train_command

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


def test_sbatch_train_arguments_parse(tiny_root):
    env = {"CONFIG": "configs/demo.yaml", "RUN_NAME": "encoding", "RUN_DIR": "runs/encoding/slurm-4242",
           "SLURM_NNODES": "2", "SLURM_NTASKS_PER_NODE": "4", "SLURM_JOB_ID": "4242"}
    args = _srun_arguments(env)
    done = subprocess.run([sys.executable, "train.py", *args, "--data.root", str(tiny_root), "--print_config"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    trainer = config["trainer"]
    assert trainer["num_nodes"] == 2 and str(trainer["devices"]) == "4" and trainer["strategy"] == "ddp"
    [plugin] = trainer["plugins"]
    assert plugin["class_path"].endswith("environments.SLURMEnvironment")
    assert plugin["init_args"] == {"auto_requeue": True, "requeue_signal": "SIGUSR1"}
    assert trainer["logger"]["init_args"]["version"] == "slurm-4242"  # the same folder after a requeue
    assert trainer["default_root_dir"] == "runs/encoding/slurm-4242"  # where the requeue checkpoint goes
    assert config["ckpt_path"] == "last"


def test_ckpt_path_last_without_a_checkpoint_starts_a_fresh_run(tiny_root, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="lightning_modules.resume"):
        cli = fit_tiny(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--model.ridge", "false",
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


def test_requeue_signal_saves_a_checkpoint_requeues_and_the_requeued_job_resumes(tiny_root, tmp_path):
    env = _slurm_env(tmp_path)
    save_dir = tmp_path / "runs"
    run_dir = save_dir / "demo" / "run"
    command = _train_command(tiny_root, save_dir, "--trainer.default_root_dir", str(run_dir),
                             "--trainer.plugins+", "pytorch_lightning.plugins.environments.SLURMEnvironment",
                             "--trainer.plugins.auto_requeue", "true", "--ckpt_path", "last")
    requeued, hpc = tmp_path / "scontrol.log", run_dir / "hpc_ckpt_1.ckpt"
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not (run_dir / "checkpoints/last.ckpt").exists():  # first epoch done: signal in the next
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGUSR1)  # what --signal=SIGUSR1@90 sends before the time limit
        while not requeued.exists():
            assert proc.poll() is None, "training ended before handling the requeue signal"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # the time limit: SLURM ends the job
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert requeued.read_text().split() == ["requeue", "4242"]
    assert hpc.is_file() and not (run_dir / "summary.json").exists()

    # The requeued job: the same command, the same job id.
    log = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert log.returncode == 0, log.stderr[-3000:]
    assert f"Restored all states from the checkpoint at {hpc}" in log.stdout + log.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs_run"] == EPOCHS and summary["last"]["score"]["overall"] is not None
