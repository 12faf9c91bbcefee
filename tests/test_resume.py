"""A training process killed part-way (SIGKILL, a real signal to a real process) resumes from its
last checkpoint with ``--ckpt_path last`` and ends where a run that was never stopped ends, with
data-loading worker processes (the demo uses two) as without; and the worker count changes nothing."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from export.checkpoint import read_checkpoint
from tests.helpers import FAST, REPO, fit_tiny

EPOCHS = 3
#: Resumed and uninterrupted runs run the same float operations in the same order; they may
#: differ only through thread scheduling in reductions, far below this.
TOLERANCE = 1e-6


def _train_command(tiny_root: Path, save_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, str(REPO / "train.py"), "fit", "--config", str(REPO / "configs/demo.yaml"), *FAST,
            "--data.root", str(tiny_root), "--data.synthetic", "null",
            "--data.cache_dir", str(tiny_root.parent / "cache"),
            "--trainer.logger.init_args.save_dir", str(save_dir), "--trainer.logger.init_args.version", "run",
            "--trainer.max_epochs", str(EPOCHS), "--trainer.deterministic", "true", *extra]


def _env() -> dict:
    # The same thread count as this process (conftest), so reductions add up in the same order.
    return {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONHASHSEED": "0"}


def _kill_after_first_checkpoint(command: list[str], last_ckpt: Path, timeout: float = 240) -> int:
    """Start training, SIGKILL it as soon as ``last.ckpt`` exists; return the epoch it holds.

    Only the training process is killed, as the kernel's OOM killer would; its data-loading
    workers notice and exit. Anything of its process group still alive afterwards is killed too.
    """
    proc = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not last_ckpt.exists():
            if proc.poll() is not None:
                raise AssertionError(f"training ended before its first checkpoint:\n{proc.stderr.read().decode()}")
            if time.monotonic() > deadline:
                raise AssertionError("no checkpoint within the time limit")
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # orphaned workers, if any are left
        except ProcessLookupError:
            pass
        proc.stderr.close()
    return read_checkpoint(last_ckpt)["epoch"]


def _numbers(summary: dict, part: str) -> dict:
    """Every metric of ``summary[part]`` flattened to ``{"score/groups/sub01/V1": value}``."""
    out = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}/{k}", v)
        else:
            out[prefix] = value

    walk(part, summary[part])
    return out


def _assert_same_metrics(got_summary: dict, want_summary: dict) -> None:
    assert got_summary["epochs_run"] == want_summary["epochs_run"] == EPOCHS
    assert got_summary["best_epoch"] == want_summary["best_epoch"]
    for part in ("last", "best"):
        got, want = _numbers(got_summary, part), _numbers(want_summary, part)
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key] == pytest.approx(value, abs=TOLERANCE, nan_ok=True), key


def _uninterrupted(tiny_root: Path, tmp_path: Path, *extra: str) -> dict:
    """The summary of a run never stopped (in this process, no worker processes unless ``extra`` asks)."""
    reference = fit_tiny(tiny_root, tmp_path / "reference", "--trainer.max_epochs", str(EPOCHS),
                         "--trainer.deterministic", "true", *extra)
    return json.loads((Path(reference.trainer.log_dir) / "summary.json").read_text())


def _kill_and_resume(tiny_root: Path, tmp_path: Path, *extra: str) -> dict:
    """Start a run, SIGKILL it after its first checkpoint, rerun the same command with
    ``--ckpt_path last``; the resumed run's summary."""
    save_dir = tmp_path / "runs"
    run_dir = save_dir / "demo" / "run"
    killed_at = _kill_after_first_checkpoint(_train_command(tiny_root, save_dir, *extra),
                                             run_dir / "checkpoints/last.ckpt")
    assert killed_at < EPOCHS - 1, "the run finished before it was killed"
    assert not (run_dir / "summary.json").exists()  # the killed run never reached the end of fit

    log = subprocess.run(_train_command(tiny_root, save_dir, *extra, "--ckpt_path", "last"), cwd=REPO, env=_env(),
                         check=True, capture_output=True, text=True, timeout=300)
    # It continued the killed run (a fresh start would reach the same numbers too: it is deterministic).
    assert f"Restored all states from the checkpoint at {run_dir / 'checkpoints/last.ckpt'}" in log.stdout + log.stderr
    assert read_checkpoint(run_dir / "checkpoints/last.ckpt")["epoch"] == EPOCHS - 1
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.slow
def test_killed_run_resumes_from_last_checkpoint_to_the_same_metrics(tiny_root, tmp_path):
    expected = _uninterrupted(tiny_root, tmp_path)
    _assert_same_metrics(_kill_and_resume(tiny_root, tmp_path), expected)


@pytest.mark.slow
def test_killed_run_with_worker_processes_resumes_to_the_metrics_of_a_run_without_workers(tiny_root, tmp_path):
    # Random repetition subsets, so the items' draws matter too. The killed and resumed runs
    # load with two worker processes, as the demo does; the reference with none: equal metrics
    # show both that resuming restores what the workers draw and that their number changes nothing.
    augment = ("--data.repetitions", "random_subset")
    expected = _uninterrupted(tiny_root, tmp_path, *augment)
    _assert_same_metrics(_kill_and_resume(tiny_root, tmp_path, *augment, "--data.num_workers", "2"), expected)


@pytest.mark.slow
def test_worker_count_does_not_change_the_run(tiny_root, tmp_path):
    augment = ("--data.repetitions", "random_subset")
    without = _uninterrupted(tiny_root, tmp_path / "w0", *augment, "--data.num_workers", "0")
    with_workers = _uninterrupted(tiny_root, tmp_path / "w2", *augment, "--data.num_workers", "2")
    _assert_same_metrics(with_workers, without)


@pytest.mark.slow
def test_last_checkpoint_is_rewritten_at_epochs_without_improvement(tiny_root, tmp_path):
    # Learning rate 0: every validation scores the same, so no epoch after the first improves
    # and Lightning's own ModelCheckpoint would leave last.ckpt at epoch 0.
    cli = fit_tiny(tiny_root, tmp_path, "--trainer.max_epochs", "2", "--model.optimisation.lr", "0", "--model.ridge.fit", "false",
                   "--trainer.limit_val_batches", "1")
    checkpoints = Path(cli.trainer.log_dir) / "checkpoints"
    assert read_checkpoint(checkpoints / "best-epoch000.ckpt")["epoch"] == 0  # the best did not move
    assert read_checkpoint(checkpoints / "last.ckpt")["epoch"] == 1
