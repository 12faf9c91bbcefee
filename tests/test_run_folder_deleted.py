"""A run folder deleted while its training runs: the run stops at the next epoch end with one
``error:`` line, instead of recreating a folder holding only what is written from then on."""

import shutil
import subprocess
import sys
import time

import pytest
from pytorch_lightning.loggers import TensorBoardLogger

from run_folder.claim import RunFolderGoneError, check_still_claimed, claim_run_folder
from run_folder.contract import RunFolder
from tests.helpers import FAST, REPO


def test_a_deleted_or_replaced_run_folder_is_noticed(tmp_path):
    logger = TensorBoardLogger(save_dir=str(tmp_path / "runs"), name="demo", version="r")
    _, handle = claim_run_folder(logger)
    check_still_claimed(handle)  # still there
    shutil.rmtree(tmp_path / "runs" / "demo" / "r")
    with pytest.raises(RunFolderGoneError, match=r"run folder .*/demo/r was deleted"):
        check_still_claimed(handle)
    (tmp_path / "runs" / "demo" / "r").mkdir()  # recreated by someone else: not this run's folder either
    (tmp_path / "runs" / "demo" / "r" / ".run.lock").write_text("1\n")
    with pytest.raises(RunFolderGoneError):
        check_still_claimed(handle)
    handle.close()


@pytest.mark.slow
def test_training_whose_run_folder_is_deleted_stops_with_one_error_line(tiny_root, tmp_path):
    run = RunFolder(tmp_path / "runs" / "demo" / "r")
    command = [sys.executable, str(REPO / "train.py"), "fit", "--config", str(REPO / "configs/demo.yaml"), *FAST,
               "--data.root", str(tiny_root), "--data.synthetic", "null",
               "--data.cache_dir", str(tiny_root.parent / "cache"), "--trainer.max_epochs", "100",
               "--model.ridge.fit", "false", "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
               "--trainer.logger.init_args.version", "r"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not run.last_checkpoint.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.02)
        shutil.rmtree(run.path)
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # TensorBoard's writer thread may print its own traceback when it fails first; the command's is none
    assert proc.returncode == 1 and 'File "' + str(REPO / "train.py") not in err, err
    assert err.strip().splitlines()[-1].startswith(f"error: the run folder {run.path} was deleted")
    assert not run.last_checkpoint.exists()  # no folder recreated with a checkpoint in it
