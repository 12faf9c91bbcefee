"""Overhead of the Lightning training step against a bare PyTorch loop, same model and batches.

    python -m benchmarks.lightning_overhead --steps 20 --repeats 3

Both sides train ``EncodingModel``'s network with the same AdamW groups, schedule and
correlation loss on the same in-memory batches; Lightning's side is the real
``training_step`` (logging included). Repeats alternate the two sides so that machine load
hits both alike; the table reports the median seconds per step and the ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import pytorch_lightning as pl
import torch

from lightning_modules.loss import correlation_loss
from lightning_modules.settings import (
    BackboneSettings,
    OptimisationSettings,
    RidgeSettings,
    TemporalSettings,
)
from lightning_modules.system import EncodingModel

VOXELS = {f"sub0{s}": {roi: 40 + 10 * s for roi in ("V1", "V2", "V3", "V4", "LOC", "EBA", "FFA", "STS", "PPA")}
          for s in (1, 2, 3)}


def make_model(args) -> EncodingModel:
    torch.manual_seed(0)
    return EncodingModel(voxel_counts=VOXELS, backbone=BackboneSettings(args.backbone, layers=[1, 2, 3, 4]),
                         temporal=TemporalSettings("weighted"), num_frames=args.frames, image_size=args.size,
                         ridge=RidgeSettings(fit=False),
                         optimisation=OptimisationSettings(freeze_backbone_epochs=0, warmup_epochs=0))


def make_batches(args, n_voxels: int) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    return [{"video": torch.randint(0, 256, (args.batch, args.frames, 3, args.size, args.size), dtype=torch.uint8,
                                    generator=g),
             "targets": torch.randn(args.batch, n_voxels, generator=g), "index": torch.arange(args.batch)}
            for _ in range(args.steps)]


def bare_loop(args, batches) -> float:
    model = make_model(args)
    net = model.model.train()
    opt = model.settings.optimisation
    groups = [{"params": list(net.head_parameters()), "lr": opt.lr},
              {"params": list(net.backbone_parameters()), "lr": opt.lr * opt.backbone_lr_scale}]
    optimizer = torch.optim.AdamW(groups, weight_decay=opt.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    start = time.perf_counter()
    for batch in batches:
        loss = correlation_loss(net(batch["video"]).float(), batch["targets"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    return (time.perf_counter() - start) / len(batches)


class _Timer(pl.Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        self.seconds = time.perf_counter() - self.start


def lightning_loop(args, batches) -> float:
    model = make_model(args)
    timer = _Timer()
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         num_sanity_val_steps=0, callbacks=[timer])
    trainer.fit(model, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    return timer.seconds / len(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results_overhead.md")
    args = parser.parse_args()
    batches = make_batches(args, sum(sum(r.values()) for r in VOXELS.values()))
    bare_loop(args, batches[:2])  # warm-up: allocator, kernels
    bare, lightning = [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(args, batches))
        lightning.append(lightning_loop(args, batches))
    b, lt = statistics.median(bare), statistics.median(lightning)
    text = (f"Command: `python -m benchmarks.lightning_overhead --steps {args.steps} --repeats {args.repeats}`  \n"
            f"Machine: {os.cpu_count()} CPU cores ({platform.machine()}), torch {torch.__version__} on CPU. "
            f"Model: {args.backbone} at {args.size} px, {args.frames} frames, batch {args.batch}, 4 read-out "
            f"layers, learned frame weights, {batches[0]['targets'].shape[1]} voxels.\n\n"
            "| loop | median s/step | all repeats (s/step) |\n|---|---|---|\n"
            f"| bare PyTorch | {b:.3f} | {', '.join(f'{x:.3f}' for x in bare)} |\n"
            f"| Lightning `training_step` | {lt:.3f} | {', '.join(f'{x:.3f}' for x in lightning)} |\n\n"
            f"Lightning / bare: **{lt / b:.3f}** (overhead {100 * (lt / b - 1):+.1f}%).\n")
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
