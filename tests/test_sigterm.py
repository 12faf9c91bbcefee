"""SIGTERM (a real signal to a real process) ends train.py, kfold.py and predict.py with exit
status 143 (128 + 15, as a shell reports a command the signal ended), never 0, with one
``error:`` line saying what was kept and how to resume. Lightning alone exits 0 from ``fit``."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from run_folder.contract import RunFolder
from runtime.termination import SIGTERM_EXIT
from tests.helpers import FAST, REPO, fit_tiny


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _terminate_when(command: list[str], ready, timeout: float = 240) -> tuple[int, str]:
    """Start ``command``, SIGTERM it once ``ready()`` is true; returns (exit status, stderr)."""
    proc = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                raise AssertionError(f"ended before the signal (exit {proc.returncode}):\n{proc.stderr.read()}")
            assert time.monotonic() < deadline, "not ready within the time limit"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        return proc.returncode, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _train_args(tiny_root: Path) -> list[str]:
    return ["--config", str(REPO / "configs/demo.yaml"), *FAST, "--data.root", str(tiny_root),
            "--data.synthetic", "null", "--data.cache_dir", str(tiny_root.parent / "cache")]


@pytest.mark.slow
def test_train_stopped_by_sigterm_exits_143_keeps_last_ckpt_and_says_how_to_resume(tiny_root, tmp_path):
    run = RunFolder(tmp_path / "runs" / "demo" / "run")
    command = [sys.executable, str(REPO / "train.py"), "fit", *_train_args(tiny_root),
               "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
               "--trainer.logger.init_args.version", "run", "--trainer.max_epochs", "200"]
    status, err = _terminate_when(command, run.last_checkpoint.is_file)
    assert status == SIGTERM_EXIT, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: stopped by SIGTERM")
    assert str(run.last_checkpoint) in line and "--ckpt_path last" in line
    assert "--trainer.logger.init_args.version run" in line
    assert not run.finished  # no summary.json: the run did not end
    assert torch.load(run.last_checkpoint, weights_only=True, map_location="cpu")["epoch"] >= 0


@pytest.mark.slow
def test_kfold_stopped_during_fold_0_exits_143_and_trains_no_other_fold(tiny_root, tmp_path):
    out = tmp_path / "kfold"
    command = [sys.executable, str(REPO / "kfold.py"), "--config", str(REPO / "configs/demo.yaml"), "--folds", "2",
               "--out", str(out), "--", *_train_args(tiny_root)[2:], "--trainer.max_epochs", "200"]
    fold0 = RunFolder(out / "fold_00")
    status, err = _terminate_when(command, fold0.last_checkpoint.is_file)
    assert status == SIGTERM_EXIT, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: stopped by SIGTERM while training fold 0 of 2")
    assert "run the same kfold.py command again" in line and str(fold0.last_checkpoint) in line
    assert not (out / "fold_01").exists() and not (out / "ensemble").exists()


@pytest.mark.slow
def test_predict_stopped_by_sigterm_exits_143_and_exports_nothing(tiny_root, tmp_path):
    fit_tiny(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--trainer.logger.init_args.version", "run")
    ckpt = RunFolder(tmp_path / "runs" / "demo" / "run").last_checkpoint
    out = tmp_path / "out"
    command = [sys.executable, str(REPO / "predict.py"), "--ckpt_path", str(ckpt), "--output_dir", str(out),
               "--accelerator", "cpu", "--num_workers", "0", "--batch_size", "1",
               "--cache_dir", str(tmp_path / "predict_cache")]
    # The signal lands while the test clips are decoded or predicted, after the output folder is made.
    status, err = _terminate_when(command, out.is_dir)
    assert status == SIGTERM_EXIT, err
    assert err.strip().splitlines()[-1].startswith("error: stopped by SIGTERM: nothing new was exported")
    assert not (out / "manifest.json").exists() and not (out / "predictions").exists()


def test_sigterm_outside_a_fit_raises_terminated_in_this_process():
    from runtime.termination import Terminated, install

    previous = signal.getsignal(signal.SIGTERM)
    install()
    try:
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    finally:
        signal.signal(signal.SIGTERM, previous)
