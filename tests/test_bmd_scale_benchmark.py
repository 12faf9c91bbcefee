"""benchmarks/bmd_scale.py at a tiny size: every step runs and its table row is printed, and the
release is deleted without --keep."""

import pytest

from benchmarks import bmd_scale


@pytest.mark.slow
def test_every_step_runs_and_prints_its_row(tmp_path, capsys):
    out = tmp_path / "release"
    bmd_scale.main(["--out", str(out), "--subjects", "2", "--voxels", "800", "--train", "40", "--test", "8",
                    "--features", "16"])
    printed = capsys.readouterr().out
    for label in ("reader, first", "reader, later", "data module set-up", "ridge baseline over all voxels"):
        assert f"| {label}" in printed
    assert "n_voxels 1600" in printed and "test_score" in printed
    assert not out.exists()
