"""benchmarks/bmd_reader.py at a tiny size: it writes BMD-layout pickles the reader accepts and
prints its table with every row."""

import subprocess
import sys

from tests.helpers import REPO


def test_bmd_reader_benchmark_runs_at_a_tiny_size(tmp_path):
    out = subprocess.run([sys.executable, str(REPO / "benchmarks/bmd_reader.py"), "--out", str(tmp_path / "b"),
                          "--voxels", "300", "--train", "8", "--test", "4"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split("|")[1].strip().split(" ")[0] for r in rows] == ["read", "pickle", "cache,", "cache,"]
    assert (tmp_path / "b" / ".response_cache" / "sub-01_task-train.f32.npy").is_file()
