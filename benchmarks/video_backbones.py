"""Cost per clip of each video backbone against the frame-wise EfficientNet-Lite0, CPU, in one run.

    python -m benchmarks.video_backbones --out benchmarks/results_video_backbones.md
    python -m benchmarks.video_backbones --demo runs/video_demo/version_0 --out benchmarks/results_video_demo.md

    python -m benchmarks.video_backbones --agreement data/synthetic_demo/.clip_cache/clips-decord-8f-96px-*.npy

(the second: the per-region table of a finished ``train.py fit --config configs/video_demo.yaml``
run, fine-tuned ``val/score`` at its best epoch against its own ridge baseline, from its
``summary.json``; the third: on real clips (a clip cache, uint8 (n, T, 3, H, W)), how far the
inflated Lite0's features at initialisation are from the frame-wise Lite0's, per read-out level.)

Every model is the whole ``VideoEncoder`` (backbone read out at its last level, mean over
frames, voxel heads for 1,000 voxels) on clips of ``--frames`` frames at ``--size`` px (MViT
only takes 16 frames of 224 px: it is timed at 224 px beside a Lite0 at 224 px). Forward: eval
mode, no gradient. Training step: train mode, forward, MSE loss, backward, SGD step, the whole
network trained. Median of ``--repeats`` timed runs after one warm-up, ``--batch`` clips per
call, reported per clip; the ratio is to the frame-wise Lite0 at the same frames and size.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from lightning_modules.networks.backbones import build_backbone
from lightning_modules.networks.encoder import VideoEncoder
from scoring.layout import TargetLayout

REFERENCE = "tf_efficientnet_lite0"
MODELS = ["inflated/tf_efficientnet_lite0", "torchvision/r3d_18", "torchvision/mc3_18",
          "torchvision/r2plus1d_18", "torchvision/s3d", "torchvision/swin3d_t", "torchvision/swin3d_s",
          "torchvision/swin3d_b"]
AT_224 = ["torchvision/mvit_v2_s", "torchvision/mvit_v1_b"]


def _timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, frames: int, size: int, batch: int, repeats: int) -> dict:
    torch.manual_seed(0)
    backbone = build_backbone(name, layers=[-1], image_size=size)
    layout = TargetLayout({"sub01": {"V1": 1000}})
    model = VideoEncoder(backbone, "mean", frames, layout)
    video = torch.randint(0, 256, (batch, frames, 3, size, size), dtype=torch.uint8)
    target = torch.randn(batch, layout.n_voxels)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)

    def forward():
        model.eval()
        with torch.no_grad():
            model(video)

    def step():
        model.train()
        opt.zero_grad()
        (model(video) - target).pow(2).mean().backward()
        opt.step()

    return {"name": name, "frames": frames, "size": size, "params": sum(p.numel() for p in backbone.parameters()),
            "forward": _timed(forward, repeats) / batch, "step": _timed(step, repeats) / batch}


def table(rows: list[dict]) -> list[str]:
    lines = ["| backbone | frames x px | backbone params (M) | forward ms/clip | x Lite0 | train step ms/clip | x Lite0 |",
             "|---|---|---:|---:|---:|---:|---:|"]
    refs = {(r["frames"], r["size"]): r for r in rows if r["name"] == REFERENCE}
    for r in rows:
        ref = refs[(r["frames"], r["size"])]
        label = f"{r['name']} (frame-wise)" if r["name"] == REFERENCE else r["name"]
        lines.append(f"| {label} | {r['frames']} x {r['size']} | {r['params'] / 1e6:.1f} | "
                     f"{r['forward'] * 1e3:.0f} | {r['forward'] / ref['forward']:.2f} | "
                     f"{r['step'] * 1e3:.0f} | {r['step'] / ref['step']:.2f} |")
    return lines


def demo_table(run_dir: str) -> list[str]:
    """The best validation of a finished run against its ridge baseline, overall and per region."""
    from benchmarks.pretrained_demo import scalars
    from run_folder.contract import RunFolder

    curve = " ".join(f"{v:.3f}" for v in scalars(Path(run_dir), "val/score"))
    ridge_logged = scalars(Path(run_dir), "val/ridge/score")
    if not (Path(run_dir) / "summary.json").is_file():  # a run still going: its curve so far
        return [f"Run: `{run_dir}`, not finished: ridge {ridge_logged[-1]:.3f}, val/score by epoch {curve}."]
    summary = RunFolder(Path(run_dir)).read_summary()
    if summary.best is None or summary.ridge is None:
        raise SystemExit(f"{run_dir}: summary.json has no best validation or no ridge baseline")
    best, ridge = summary.best.score.rois, summary.ridge.score.rois
    lines = [f"Run: `{run_dir}`, {summary.epochs_run} epochs, best epoch {summary.best_epoch}; "
             f"val/score by epoch {curve}.", "",
             "| | ridge (frozen) | fine-tuned, best epoch | difference |", "|---|---:|---:|---:|",
             f"| **val/score** | {summary.ridge.main:.3f} | {summary.best.main:.3f} | "
             f"{summary.best.main - summary.ridge.main:+.3f} |"]
    for roi in best:
        if roi in ridge:
            lines.append(f"| {roi} | {ridge[roi]:.3f} | {best[roi]:.3f} | {best[roi] - ridge[roi]:+.3f} |")
    return lines


def agreement(cache: str, n_clips: int = 8) -> list[str]:
    """Inflated vs frame-wise Lite0 (both with the package's weights) on ``n_clips`` cached clips:
    correlation of the clip-mean and the per-frame features, and their mean frame-to-frame change
    (``|f[t+1] - f[t]|`` over ``|f|``), per read-out level."""
    import numpy as np

    clips = np.load(cache, mmap_mode="r")
    video = torch.from_numpy(np.ascontiguousarray(clips[: n_clips * 3 : 3]))
    layout = TargetLayout({"s": {"V1": 1}})
    feats = {}
    for name in (REFERENCE, "inflated/" + REFERENCE):
        backbone = build_backbone(name, pretrained=True, layers=[1, 2, 3, 4], image_size=video.shape[-1])
        with torch.no_grad():
            feats[name] = VideoEncoder(backbone, "mean", video.shape[1], layout).eval().frame_features(video)
    lines = [f"{len(video)} clips of {video.shape[1]} frames at {video.shape[-1]} px from `{cache}`.", "",
             "| level | r, clip means | r, per frame | frame-to-frame change, frame-wise | inflated |",
             "|---|---:|---:|---:|---:|"]
    for level, (a, b) in enumerate(zip(*feats.values(), strict=True)):
        r_mean = np.corrcoef(a.mean(1).flatten(), b.mean(1).flatten())[0, 1]
        r_frame = np.corrcoef(a.flatten(), b.flatten())[0, 1]
        change = [float((f[:, 1:] - f[:, :-1]).abs().mean() / f.abs().mean()) for f in (a, b)]
        lines.append(f"| {level + 1} | {r_mean:.3f} | {r_frame:.3f} | {change[0]:.3f} | {change[1]:.3f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="*", default=MODELS)
    parser.add_argument("--at-224", nargs="*", default=AT_224, help="models timed at 16 frames of 224 px")
    parser.add_argument("--demo", default=None, help="a finished video demo run folder: write its table instead")
    parser.add_argument("--agreement", default=None, help="a clip cache .npy: inflated vs frame-wise features")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.demo or args.agreement:
        text = "\n".join([*(demo_table(args.demo) if args.demo else agreement(args.agreement)), ""])
        print(text)
        if args.out:
            Path(args.out).write_text(text)
        return
    torch.set_num_threads(args.threads)
    rows = []
    for name in [REFERENCE, *args.models]:
        rows.append(measure(name, args.frames, args.size, args.batch, args.repeats))
        print(table(rows)[-1], flush=True)
    if args.at_224:
        for name in [REFERENCE, *args.at_224]:
            rows.append(measure(name, 16, 224, args.batch, args.repeats))
            print(table(rows)[-1], flush=True)
    header = [f"CPU: {platform.processor() or platform.machine()}, {args.threads} threads "
              f"(os.cpu_count {os.cpu_count()}), torch {torch.__version__}; batch {args.batch} clips, "
              f"median of {args.repeats} after a warm-up; random init (cost does not depend on the weights)."]
    text = "\n".join([*header, "", *table(rows), ""])
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
