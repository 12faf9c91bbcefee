"""DDP fit of the demo on 2 CPU processes (gloo) against 1 process, at the same optimiser steps.

    python -m benchmarks.ddp_fit --epochs 2 --out benchmarks/results_ddp.md

Both runs see the same global batch at every step: 1 process with ``data.batch_size`` B, and 2
processes with B/2 each. Each rank takes every second position of the same epoch permutation
(``EpochOrderSampler``), and the correlation loss is computed over the gathered global batch,
so the two runs should follow the same trajectory; ``val/score`` at the end says whether they
did. Wall time is the fit's (``tests/ddp_fit.py`` measures it on rank 0, from the CLI's start of
``fit`` to its end, ridge baseline and validation included), plus the process start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(devices: int, batch: int, epochs: int, out_dir: Path) -> dict:
    record = out_dir / f"record_{devices}proc.json"
    args = [sys.executable, str(REPO / "tests/ddp_fit.py"), str(record), "--config", str(REPO / "configs/demo.yaml"),
            "--trainer.devices", str(devices), "--data.batch_size", str(batch), "--trainer.max_epochs", str(epochs),
            "--data.num_workers", "0", "--trainer.enable_progress_bar", "false",
            "--trainer.logger.init_args.save_dir", str(out_dir / "runs"),
            "--trainer.logger.init_args.version", f"{devices}proc"]
    if devices > 1:
        args += ["--trainer.strategy", "ddp"]
    start = time.perf_counter()
    subprocess.run(args, cwd=REPO, check=True, env={**os.environ, "OMP_NUM_THREADS": str(max(1, 2 // devices))})
    total = time.perf_counter() - start
    result = json.loads(record.read_text())
    result["total_s"] = total
    return result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=16, help="global batch (each of 2 processes takes half)")
    p.add_argument("--out", default="benchmarks/results_ddp.md")
    p.add_argument("--work", default="runs/bench_ddp")
    args = p.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for devices in (1, 2):
        r = run(devices, args.batch // devices, args.epochs, work)
        m = r["callback_metrics"]
        rows.append((devices, args.batch // devices, r["optimizer_steps"], r["wall_s"], r["total_s"],
                     m.get("val/score"), m.get("val/ridge/score")))
    lines = [f"DDP fit of configs/demo.yaml, {args.epochs} epochs (backbone frozen in epoch 0), global batch "
             f"{args.batch}, `python -m benchmarks.ddp_fit --epochs {args.epochs}`; "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch threads "
             "2 per process (1 process) or 1 per process (2 processes), gloo.", "",
             "| processes | batch per process | optimiser steps | fit wall s | with start-up s | final val/score "
             "| ridge val/score |", "|---|---|---|---|---|---|---|"]
    for d, b, steps, wall, total, score, ridge in rows:
        lines.append(f"| {d} | {b} | {steps} | {wall:.0f} | {total:.0f} | {score:.4f} | {ridge:.4f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
