"""benchmarks/gpu_check.py: the dry run (every step at tiny size on the CPU, as a real subprocess)
prints the table's columns with every row measured; a row that fails or runs out of time says so
in its own row and the others go on."""

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from benchmarks import gpu_check
from benchmarks.gpu_check import CHECKS, COLUMNS, Runner, Table

REPO = Path(__file__).resolve().parents[1]


def test_dry_run_measures_every_row(tmp_path):
    out = tmp_path / "gpu.md"
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--dry-run", "--work", str(tmp_path / "work"),
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| " + " | ".join(COLUMNS) + " |" in done.stdout
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["check"] for r in rows] == ["data", "bf16 matmul", "train", "train", "loader", "ridge", "train", "ddp",
                                         "max batch", "loader"]
    assert {r["check"] for r in rows} == {"data", *CHECKS}
    assert out.read_text().count("\n| ") == 1 + len(rows)  # the header and every row, in the markdown file
    for row in rows:
        assert row["result"].startswith("ok"), row
    train = [r for r in rows if r["check"] == "train"]
    assert len(train) == 3 and sum("compile" in r["setting"] for r in train) == 1
    for row in train:
        assert row["clips/s"] > 0 and row["frames/s"] == row["clips/s"] * 4 and row["TFLOP/s"] > 0 and row["MFU"] > 0
    loaders = [r for r in rows if r["check"] == "loader"]
    assert [("cache" in r["setting"], "decode" in r["setting"]) for r in loaders] == [(True, False), (False, True)]
    assert all(0 < r["GPU busy"] <= 1 for r in loaders)
    ridge = next(r for r in rows if r["check"] == "ridge")
    assert "float64 coef rel. err" in ridge["result"] and "same alpha 100.0%" in ridge["result"]
    ddp = next(r for r in rows if r["check"] == "ddp")
    assert "ranks agree" in ddp["result"] and ddp["clips/s"] > 0
    assert all(r["max batch"] for r in rows if r["check"] == "max batch")


def test_no_gpu_is_refused_in_one_line(capsys, monkeypatch):
    monkeypatch.setattr(gpu_check.torch.cuda, "is_available", lambda: False)
    assert gpu_check.main([]) == 2
    assert "no CUDA device is visible" in capsys.readouterr().err


def test_a_failing_or_slow_row_fills_its_own_row(capsys):
    cfg = replace(gpu_check.dry_config(), budgets={**gpu_check.dry_config().budgets, "ridge": 0.5}, total_s=60)
    table = Table()
    runner = Runner(cfg, table)

    def broken(limit):
        raise ValueError("the card caught fire\nsecond line")

    def slow(limit):
        time.sleep(5)
        return {"result": "ok"}

    runner.row("train", "broken", "train", broken)
    runner.row("ridge", "slow", "ridge", slow)
    runner.row("ddp", "fine", "ddp", lambda limit: {"clips/s": 2.0, "result": "ok"})
    results = [r["result"] for r in table.rows]
    assert results[0] == "error: ValueError: the card caught fire"
    assert results[1].startswith("out of time after its") or results[1].startswith("skipped")
    assert results[2] == "ok" and table.rows[2]["clips/s"] == 2.0
    runner.deadline = time.perf_counter()  # the run's time is spent: the next rows are skipped, not run
    runner.row("loader", "late", "loader", broken)
    assert table.rows[-1]["result"] == "skipped: the run's time is spent"
    printed = capsys.readouterr().out
    assert printed.count("\n") == 4 and "| train | broken |" in printed


def test_only_runs_the_rows_asked_for():
    cfg = gpu_check.dry_config()
    table = Table()
    runner = Runner(cfg, table, only={"ridge"})
    for check in ("data", "bf16 matmul", "train", "ridge"):
        runner.row(check, "x", "ridge", lambda limit: {"result": "ok"})
    assert [r["check"] for r in table.rows] == ["data", "ridge"]


def test_training_flops_are_three_forward_passes_also_for_depthwise_convolutions():
    """torch's counter takes a depthwise convolution's backward for a dense one; the check counts 3x
    the forward instead, which for a depthwise 3x3 convolution is 2 * 9 multiply-adds per output."""
    import torch

    class Depthwise(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1, groups=3)

        def forward(self, video):
            return self.conv(video.flatten(0, 1).float()).mean()

    cfg = gpu_check.dry_config()
    step = type("Step", (), {"model": Depthwise()})()
    frames_per_clip = cfg.num_frames
    forward = 2 * 9 * 3 * cfg.image_size ** 2 * frames_per_clip
    assert gpu_check.flops_per_clip(cfg, step) == 3 * forward


def test_max_batch_search_finds_the_largest_batch_that_fits(monkeypatch):
    """Doubling from the real batch (2), then bisection, against a simulated memory limit of 5 clips."""
    import pytest
    import torch

    real_step = gpu_check.Stepper.__call__

    def limited(self, video, targets, update=True):
        if len(video) > 5:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_step(self, video, targets, update)

    monkeypatch.setattr(gpu_check.Stepper, "__call__", limited)
    cfg = replace(gpu_check.dry_config(), max_batch_cap=64)
    row = gpu_check.max_batch_row(cfg, "test_resnet", (2, 3), limit=600)
    assert row["max batch"] == "5" and row["result"] == "ok; 6 does not fit"

    def broken(self, video, targets, update=True):
        raise RuntimeError("an illegal memory access was encountered")

    monkeypatch.setattr(gpu_check.Stepper, "__call__", broken)
    with pytest.raises(RuntimeError, match="illegal memory access"):  # at the real batch: a fault, not a size
        gpu_check.max_batch_row(cfg, "test_resnet", (2, 3), limit=600)
