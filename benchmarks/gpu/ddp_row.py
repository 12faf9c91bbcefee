"""The GPU check's DDP row: a Lightning DDP fit, one process per GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from benchmarks.gpu.config import REPO, CheckConfig
from benchmarks.gpu.data import Data
from benchmarks.gpu.model import voxel_counts


def ddp_row(cfg: CheckConfig, data: Data, work: Path, limit: float) -> dict:
    """A Lightning DDP fit, one process per GPU: its own processes on a GPU, in this one on a CPU."""
    name, layers = cfg.ddp_backbone, cfg.ddp_layers
    out = work / "ddp.json"
    out.unlink(missing_ok=True)
    if cfg.device == "cuda":
        devices = torch.cuda.device_count()
        args = [sys.executable, "-m", "benchmarks.gpu_ddp_fit", "--clips", str(data.clips_path), "--out", str(out),
                "--devices", str(devices), "--accelerator", "gpu", "--backbone", name,
                "--layers", *map(str, layers), "--voxels", str(cfg.voxels), "--batch", str(cfg.batch * devices),
                "--steps", str(cfg.ddp_steps), "--workers", str(max(1, cfg.workers // devices))]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run(args, cwd=REPO, env=env, timeout=max(5.0, limit - 3), capture_output=True, text=True)
        if done.returncode != 0 or not out.exists():
            sys.stderr.write(f"gpu_check: the DDP fit's output:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}\n")
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return {"result": f"error: exit {done.returncode}: {tail[0][:160]}"}
        result = json.loads(out.read_text())
    else:
        from benchmarks.gpu_ddp_fit import ddp_fit

        result = ddp_fit(data.clips, voxel_counts(cfg.voxels), name, list(layers), cfg.batch, cfg.ddp_steps, 1,
                         "cpu", 0, work)
    clips = result["clips_per_s"]
    agree = "ranks agree" if result["ranks_agree"] else "RANKS DIFFER"
    return {"clips/s": clips, "frames/s": clips * cfg.num_frames if clips else None, "peak GiB": result["peak_gib"],
            "result": f"{'ok' if result['ranks_agree'] else 'DIFFER'}: {result['world_size']} process(es), "
                      f"{result['backend']}, {result['steps']} steps; {agree}; fit {result['wall_s']:.0f} s"}
