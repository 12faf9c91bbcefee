"""Running a named version again without ``--ckpt_path`` is refused when its folder holds a
finished run (its summary, predictions and config.yaml would be replaced, logs and checkpoints
mixed), unless ``--overwrite_run true`` says to replace it."""

import subprocess
import sys

import pytest

from cli.finished_run import FinishedRunError, check_not_finished
from run_folder.contract import RunFolder
from tests.helpers import FAST, REPO, fit_tiny

ONE_EPOCH = ("--trainer.max_epochs", "1", "--model.ridge.fit", "false", "--trainer.logger.init_args.version", "run1")


def _files(run: RunFolder) -> dict:
    return {p.name: p.read_bytes() for p in (run.summary_path, run.config_path, run.predictions_path)}


@pytest.mark.slow
def test_a_finished_named_run_is_not_overwritten_by_running_it_again(tiny_root, tmp_path):
    fit_tiny(tiny_root, tmp_path, *ONE_EPOCH)
    run = RunFolder(tmp_path / "runs" / "demo" / "run1")
    assert run.finished
    before, checkpoints = _files(run), sorted(p.name for p in run.checkpoints_dir.iterdir())
    with pytest.raises(FinishedRunError, match="--ckpt_path last") as err:
        fit_tiny(tiny_root, tmp_path, *ONE_EPOCH, "--trainer.max_epochs", "2")
    assert str(run.path) in str(err.value) and "--overwrite_run true" in str(err.value)
    assert _files(run) == before  # summary, config.yaml and predictions untouched
    assert sorted(p.name for p in run.checkpoints_dir.iterdir()) == checkpoints  # no last-v1.ckpt beside them


def test_the_refusal_rule(tmp_path):
    run = RunFolder(tmp_path / "run1")
    run.path.mkdir()
    check_not_finished(run.path, "run1", None, False)  # not finished: a fresh start or a restart
    run.summary_path.write_text("{}")
    with pytest.raises(FinishedRunError):
        check_not_finished(run.path, "run1", None, False)
    check_not_finished(run.path, "run1", "last", False)  # resuming it
    check_not_finished(run.path, "run1", None, True)  # told to overwrite
    check_not_finished(run.path, 3, None, False)  # an automatic version_<n> never reuses a folder


@pytest.mark.slow
def test_cli_refusal_is_one_error_line_and_overwrite_run_replaces_the_run(tiny_root, tmp_path):
    fit_tiny(tiny_root, tmp_path, *ONE_EPOCH)
    run = RunFolder(tmp_path / "runs" / "demo" / "run1")
    command = [sys.executable, str(REPO / "train.py"), "fit", "--config", str(REPO / "configs/demo.yaml"), *FAST,
               "--data.root", str(tiny_root), "--data.synthetic", "null",
               "--data.cache_dir", str(tiny_root.parent / "cache"),
               "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), *ONE_EPOCH]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in done.stderr
    before = run.summary_path.stat().st_mtime_ns
    fit_tiny(tiny_root, tmp_path, *ONE_EPOCH, "--overwrite_run", "true")
    assert run.summary_path.stat().st_mtime_ns > before
