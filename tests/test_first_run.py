"""A first run that generates the synthetic release says so (where, how big) before its progress
bar, and leaves no lock file behind."""

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

_GENERATE = """
import sys
from simulator.ensure import ensure_release
ensure_release(sys.argv[1], "tiny")
"""


@pytest.mark.slow
def test_generation_is_announced_before_its_bar_and_leaves_no_lock(tmp_path):
    root = tmp_path / "data" / "synthetic_tiny"
    # One stream, unbuffered: the order in ``out`` is the order the user saw.
    out = subprocess.run([sys.executable, "-c", _GENERATE, str(root)], cwd=REPO, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=300, check=True,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"}).stdout
    announced = out.find(f"Generating the synthetic tiny release in {root}")
    assert announced >= 0, out
    assert "12 training + 4 test clips" in out
    bar = out.find("%|")  # tqdm's first bar
    assert bar == -1 or announced < bar
    assert (root / "participants_data_v2021").is_dir()
    assert sorted(p.name for p in root.parent.iterdir()) == ["synthetic_tiny"]  # no synthetic_tiny.lock
