"""A data generation killed with SIGKILL (no ``except`` runs) leaves its hidden staging folder
``.<name>.partial-<pid>``; the next generation into the same folder removes it."""

import os
import signal
import subprocess
import sys
import time

import pytest

from simulator import TINY_CONFIG, generate_dataset
from simulator.writer import remove_stale_staging
from tests.helpers import REPO


@pytest.mark.slow
def test_a_killed_generations_staging_folder_is_removed_by_the_next_one(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "--out", str(out), "--preset", "tiny", "--quiet"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = tmp_path / f".demo.partial-{proc.pid}"
    deadline = time.monotonic() + 120
    while not any(staging.glob("*")):
        assert proc.poll() is None and time.monotonic() < deadline, "ended before it wrote anything"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert staging.is_dir() and not out.exists()  # what a SIGKILL leaves

    live = tmp_path / f".demo.partial-{os.getppid()}"  # a process still running here: kept
    live.mkdir()
    generate_dataset(out, TINY_CONFIG, progress=False)
    assert not staging.exists() and live.is_dir() and out.is_dir()
    assert not (out / ".partial-host").exists()
    assert remove_stale_staging(out) == []
