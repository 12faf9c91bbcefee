"""Two trainings started together never share a run folder (real concurrent processes)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from pytorch_lightning.loggers import TensorBoardLogger

from run_folder.claim import LOCK_NAME, RunFolderInUseError, claim_run_folder
from tests.helpers import FAST, REPO

# Each process picks its version first (all see no folder: all pick version_0), waits until every
# process has picked, then claims: the race of two runs started at the same moment, made certain.
_CLAIM = """
import sys, time
from pathlib import Path
from pytorch_lightning.loggers import TensorBoardLogger
from run_folder.claim import claim_run_folder
save_dir, barrier, n, version = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
logger = TensorBoardLogger(save_dir, name="same", version=None if version == "auto" else version)
picked = logger.version
(barrier / str(sys.argv[5])).touch()
while len(list(barrier.iterdir())) < n:
    time.sleep(0.01)
try:
    version, lock = claim_run_folder(logger)
except Exception as err:
    print("REFUSED", type(err).__name__, err, flush=True)
    sys.exit(3)
print("PICKED", picked, "CLAIMED", version, flush=True)
time.sleep(float(sys.argv[6]))
"""


def _start(tmp_path: Path, n: int, version: str, i: int, hold_s: float) -> subprocess.Popen:
    barrier = tmp_path / "barrier"
    barrier.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-c", _CLAIM, str(tmp_path / "runs"), str(barrier), str(n), version,
                             str(i), str(hold_s)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.slow
def test_runs_started_together_claim_distinct_version_folders(tmp_path):
    procs = [_start(tmp_path, 2, "auto", i, 1.0) for i in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    picked = [int(re.search(r"PICKED (\d+)", o).group(1)) for o in outs]
    claimed = sorted(int(re.search(r"CLAIMED (\d+)", o).group(1)) for o in outs)
    assert picked == [0, 0]  # the race happened: both processes first chose version_0
    assert claimed == [0, 1]
    holders = {(tmp_path / f"runs/same/version_{v}" / LOCK_NAME).read_text().strip() for v in claimed}
    assert holders == {str(p.pid) for p in procs}


def test_named_version_in_use_is_refused_naming_the_folder_and_process(tmp_path):
    holder = _start(tmp_path, 1, "run1", 0, 30.0)
    run_dir = tmp_path / "runs/same/run1"
    deadline = time.monotonic() + 60
    while not (run_dir / LOCK_NAME).is_file() or not (run_dir / LOCK_NAME).read_text().strip():
        assert holder.poll() is None and time.monotonic() < deadline, holder.communicate()
        time.sleep(0.1)
    with pytest.raises(RunFolderInUseError, match=rf"{run_dir} is in use by another training \(pid {holder.pid}\)"):
        claim_run_folder(TensorBoardLogger(tmp_path / "runs", name="same", version="run1"))
    holder.kill()
    holder.wait()
    # The holder is gone (killed: the kernel released its lock): the same folder can be resumed.
    version, lock = claim_run_folder(TensorBoardLogger(tmp_path / "runs", name="same", version="run1"))
    assert version == "run1"
    lock.close()


@pytest.mark.slow
def test_two_real_trainings_started_together_keep_their_own_folders(tiny_root, tmp_path):
    def start(seed: int) -> subprocess.Popen:
        args = ["fit", "--config", str(REPO / "configs/demo.yaml"), *FAST, "--data.root", str(tiny_root),
                "--data.synthetic", "null", "--data.cache_dir", str(tiny_root.parent / "cache"),
                "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--trainer.max_epochs", "1",
                "--model.ridge.fit", "false", "--seed_everything", str(seed)]
        return subprocess.Popen([sys.executable, str(REPO / "train.py"), *args], cwd=REPO, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    procs = [start(1), start(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    folders = set()
    for seed, (stdout, _) in zip((1, 2), outs):
        summary = Path(re.search(r"run summary: (\S+summary\.json)", stdout).group(1))
        folders.add(summary.parent)
        config = yaml.safe_load((summary.parent / "config.yaml").read_text())
        assert config["seed_everything"] == seed  # each folder holds its own run's settings
        assert not list(summary.parent.glob("checkpoints/*-v1.ckpt"))
    assert len(folders) == 2
