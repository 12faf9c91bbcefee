"""A short Lightning DDP fit, one process per device, for :mod:`benchmarks.gpu_check`'s DDP row.

    python -m benchmarks.gpu_ddp_fit --clips CLIPS.npy --out RESULT.json --devices 1 --backbone resnet50

Lightning's ``ddp`` strategy starts the other ranks by running this same command again with
``LOCAL_RANK`` set; every rank trains on its share of each batch (the correlation loss over the
gathered global batch, as in ``train.py``), and rank 0 writes the result: world size, process-group
backend (NCCL on GPUs), steps, clips/s after the first steps, and whether every rank ended with the
same parameters.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from datamodules.dataset import ClipDataset
from lightning_modules.settings import (
    BackboneSettings,
    OptimisationSettings,
    RidgeSettings,
    TemporalSettings,
)
from lightning_modules.system import EncodingModel


class StepClock(pl.Callback):
    """Wall time of each training batch end, to time the steps after ``skip`` warm-up steps."""

    def __init__(self):
        self.ends: list[float] = []
        self.backend = "none"

    def on_train_start(self, trainer, *args) -> None:
        if dist.is_initialized():
            self.backend = str(dist.get_backend())

    def on_train_batch_end(self, trainer, *args) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.ends.append(time.perf_counter())


def parameter_checksum(model: torch.nn.Module) -> float:
    """Sum of every parameter's float64 sum: equal on ranks that stayed in sync."""
    return float(sum(p.detach().double().sum() for p in model.parameters()))


def ddp_fit(clips: np.ndarray, voxel_counts: dict, backbone: str, layers: list[int], batch: int, steps: int,
            devices: int, accelerator: str, workers: int, work: Path) -> dict:
    """Fit ``steps`` optimiser steps with DDP; rank 0's result (other ranks return it too)."""
    n_voxels = sum(sum(r.values()) for r in voxel_counts.values())
    rng = np.random.default_rng(0)
    responses = rng.standard_normal((len(clips), 1, n_voxels), dtype=np.float32)
    per_rank = max(1, batch // devices)
    n_items = per_rank * devices * (steps + 1)
    indices = np.arange(n_items) % len(clips)
    dataset = ClipDataset(clips, indices, responses)
    loader = DataLoader(dataset, batch_size=per_rank, num_workers=workers, shuffle=False,
                        pin_memory=accelerator == "gpu", persistent_workers=workers > 0)
    model = EncodingModel(voxel_counts, backbone=BackboneSettings(backbone, layers=layers,
                                                                  channels_last=accelerator == "gpu"),
                          temporal=TemporalSettings("weighted"), ridge=RidgeSettings(fit=False),
                          optimisation=OptimisationSettings(freeze_backbone_epochs=0, warmup_epochs=0),
                          num_frames=clips.shape[1], image_size=clips.shape[-1])
    clock = StepClock()
    trainer = pl.Trainer(accelerator=accelerator, devices=devices, strategy="ddp", precision="bf16-mixed",
                         max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                         default_root_dir=str(work), callbacks=[clock])
    start = time.perf_counter()
    trainer.fit(model, loader)
    wall = time.perf_counter() - start
    checksums = [None] * trainer.world_size
    backend = clock.backend
    if dist.is_initialized():
        dist.all_gather_object(checksums, parameter_checksum(model))
    else:
        checksums = [parameter_checksum(model)]
    skip = min(3, len(clock.ends) - 2)
    timed = clock.ends[skip:]
    rate = (len(timed) - 1) * per_rank * trainer.world_size / (timed[-1] - timed[0]) if len(timed) > 1 else None
    result = {"world_size": trainer.world_size, "backend": backend, "steps": int(trainer.global_step),
              "clips_per_s": rate, "wall_s": wall, "ranks_agree": len(set(checksums)) == 1,
              "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None}
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", required=True, help="uint8 .npy of shape (n_clips, frames, 3, size, size)")
    p.add_argument("--out", required=True, help="JSON result, written by rank 0")
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--accelerator", default="gpu")
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--layers", type=int, nargs="+", default=[3, 4])
    p.add_argument("--voxels", type=int, default=161326)
    p.add_argument("--batch", type=int, default=16, help="global batch")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--workers", type=int, default=4, help="loader workers per process")
    args = p.parse_args(argv)
    clips = np.load(args.clips, mmap_mode="r")
    result = ddp_fit(clips, {"sub01": {"WB": args.voxels}}, args.backbone, args.layers, args.batch, args.steps,
                     args.devices, args.accelerator, args.workers, Path(args.out).parent)
    if int(os.environ.get("LOCAL_RANK", 0)) == 0:
        Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
