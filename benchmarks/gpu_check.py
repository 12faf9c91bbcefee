"""The GPU check: one short run that measures the GPU path and prints one table.

    bash scripts/gpu_check.sh                       # on a GPU machine: carried wheels, then this
    python -m benchmarks.gpu_check --out gpu.md     # the same, wheels already installed
    python -m benchmarks.gpu_check --dry-run        # every step at tiny size on the CPU (a test)

It makes its own data (simulator clips; the clip cache written straight from the rendered frames,
and mp4 files for the decoding row when PyAV is there), then measures, each row under its own time
budget (a row that fails or runs out of time says so in its row; the rest go on), within about
7.5 minutes in all on one H100/H200:

- ``bf16 matmul``: the card's measured bf16 matrix rate (8192^3), the reference of the MFU column;
- ``train``: training steps of the model (``EncodingModel``, 161,326 voxels, learned frame weights)
  for Lite0 and ResNet-50 at 224 px, 16 frames, bf16 autocast, channels-last, eager and compiled:
  clips/s, frames/s, model TFLOP/s (3x the forward FLOPs counted by ``torch.utils.flop_counter``) and MFU, peak
  memory; the compiled rows also give the first step's compilation time;
- ``max batch``: the largest batch of clips whose training step fits in the GPU's memory;
- ``loader``: the GPU busy fraction when a DataLoader feeds the steps at the real batch size and
  workers (``configs/full_track_resnet50.yaml``: 16 clips, 8 workers), from the clip cache and from
  decoding mp4 files;
- ``ridge``: the ridge baseline (``RidgeCV``, 20 penalties, 5 folds) over 161,326 voxels on the GPU
  (target batches sized from free memory) against the CPU solver with 2 threads (the project's CPU
  machine; run on a subset of voxels and scaled): time, speed-up and agreement;
- ``ddp``: a Lightning DDP fit with one process per GPU (NCCL), in its own processes.

Columns: ``check``, ``setting``, ``clips/s``, ``frames/s``, ``TFLOP/s``, ``MFU`` (model FLOPs per
second over the measured bf16 matmul rate), ``peak GiB`` (``torch.cuda.max_memory_allocated``),
``max batch``, ``GPU busy`` (share of the wall time the GPU spent in steps rather than waiting for
the loader), ``time s`` (the row's own time) and ``result`` (ok, notes, or the error).

This module is the driver; the config, table and runner, data, model and each measurement's row
are in :mod:`benchmarks.gpu`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from benchmarks.gpu.config import (  # noqa: F401 (the names the tests and callers import from here)
    CHECKS,
    COLUMNS,
    REPO,
    CheckConfig,
    dry_config,
    full_config,
)
from benchmarks.gpu.data import Data, DecodedClips, make_data, working_decoder  # noqa: F401
from benchmarks.gpu.ddp_row import ddp_row
from benchmarks.gpu.loader_row import loader_row
from benchmarks.gpu.model import (  # noqa: F401
    Stepper,
    build_model,
    device_batch,
    flops_per_clip,
    timed_steps,
    voxel_counts,
)
from benchmarks.gpu.ridge_row import agreement, ridge_data, ridge_row  # noqa: F401
from benchmarks.gpu.table import RowTimeout, Runner, Table, time_limit  # noqa: F401
from benchmarks.gpu.train_rows import matmul_row, max_batch_row, train_row


# ----------------------------------------------------------------------------- the run
def describe_machine(cfg: CheckConfig) -> str:
    gpu = (f"{torch.cuda.get_device_name()} x{torch.cuda.device_count()}, CUDA {torch.version.cuda}"
           if cfg.device == "cuda" else "no GPU (dry run on the CPU)")
    return (f"{gpu}; torch {torch.__version__}, Python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def run(cfg: CheckConfig, work: Path, only: set[str] | None = None, out: Path | None = None) -> Table:
    table = Table(out)
    runner = Runner(cfg, table, only)
    work.mkdir(parents=True, exist_ok=True)
    print(f"gpu_check: {'dry run on the CPU' if cfg.dry_run else 'on the GPU'}, about {cfg.total_s:.0f} s at most; "
          "rows as they come:", flush=True)  # no CUDA call before the data's processes fork
    print(Table.header(), flush=True)
    holder: dict = {}

    def data_row(limit):
        holder["data"], info = make_data(cfg, work)
        return info

    runner.row("data", f"{cfg.n_clips} clips {cfg.image_size} px x {cfg.num_frames} frames", "data", data_row)
    if "data" not in holder:
        return table
    data = holder["data"]
    matmul = runner.row("bf16 matmul", f"{cfg.matmul_n}^3", "matmul", lambda limit: matmul_row(cfg, limit))
    peak = matmul.pop("_tflops", None)
    flops: dict = {}
    b = cfg.train_batch

    def train(name, layers, compiled):
        mode = f"compile ({cfg.compile_backend})" if compiled else "eager"
        runner.row("train", f"{name}, batch {b}, bf16, NHWC, {mode}", "train_compile" if compiled else "train",
                   lambda limit: train_row(cfg, name, layers, compiled, flops, peak, limit))
        if compiled:
            torch._dynamo.reset()

    for name, layers in cfg.backbones:
        train(name, layers, False)
    big = cfg.backbones[-1][0]
    runner.row("loader", f"clip cache -> {big}", "loader", lambda limit: loader_row(cfg, data, "cache", limit))
    runner.row("ridge", f"{cfg.ridge_voxels} voxels, {cfg.ridge_videos} videos x {cfg.ridge_features} features",
               "ridge", lambda limit: ridge_row(cfg, limit))
    train(*cfg.backbones[-1], True)
    runner.row("ddp", f"{cfg.ddp_backbone}, batch {cfg.batch}/process", "ddp",
               lambda limit: ddp_row(cfg, data, work, limit))
    for name, layers in cfg.backbones[len(cfg.backbones) - cfg.compile_backbones:-1]:
        train(name, layers, True)
    for name, layers in list(reversed(cfg.backbones))[:cfg.max_batch_backbones]:
        runner.row("max batch", f"{name}, eager", "max_batch",
                   lambda limit, name=name, layers=layers: max_batch_row(cfg, name, layers, limit))
    runner.row("loader", f"decode mp4 -> {big}", "loader", lambda limit: loader_row(cfg, data, "decode", limit))
    return table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="every step at tiny size on the CPU")
    p.add_argument("--work", default=None, help="scratch folder for the clips (default: a temporary one)")
    p.add_argument("--out", default=None, help="also write the table (markdown) here, and a .json beside it")
    p.add_argument("--total-s", type=float, default=None, help="the whole run's time budget in seconds")
    p.add_argument("--only", default=None,
                   help="comma-separated checks to run (a rerun of some rows): " + ", ".join(CHECKS))
    args = p.parse_args(argv)
    only = None if args.only is None else {c.strip() for c in args.only.split(",") if c.strip()}
    if only is not None and only - set(CHECKS):
        p.error(f"--only: unknown check(s) {', '.join(sorted(only - set(CHECKS)))}; expected some of "
                f"{', '.join(CHECKS)}")
    cfg = dry_config() if args.dry_run else full_config()
    if args.total_s:
        cfg = replace(cfg, total_s=args.total_s)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device is visible; run it on a GPU machine, or with --dry-run on a CPU",
              file=sys.stderr)
        return 2
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        table = run(cfg, Path(args.work) if args.work else Path(tmp), only, Path(args.out) if args.out else None)
    command = ("python -m benchmarks.gpu_check" + (" --dry-run" if args.dry_run else "")
               + (f" --only {args.only}" if args.only else "")
               + (f" --total-s {args.total_s:g}" if args.total_s else ""))
    text = (f"# GPU check (issue 29)\n\nCommand: `bash scripts/gpu_check.sh` (`{command.strip()}` after the "
            f"carried wheels).\n\nMachine: {describe_machine(cfg)}\n\n{table.markdown()}\n")
    print("\n" + text, flush=True)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.with_suffix(".json").write_text(json.dumps({"config": asdict(cfg), "rows": table.rows}, indent=1,
                                                       default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
