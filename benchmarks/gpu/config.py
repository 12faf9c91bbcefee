"""The GPU check's sizes and time budgets: the real run's on a GPU, a tiny dry run's on a CPU;
the checks it runs and the table's columns."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECKS = ("bf16 matmul", "train", "loader", "ridge", "ddp", "max batch")
COLUMNS = ("check", "setting", "clips/s", "frames/s", "TFLOP/s", "MFU", "peak GiB", "max batch", "GPU busy",
           "time s", "result")


@dataclass(frozen=True)
class CheckConfig:
    """Sizes and time budgets of one run (:func:`full_config` on a GPU, :func:`dry_config` on a CPU)."""

    device: str = "cuda"
    image_size: int = 224
    num_frames: int = 16
    batch: int = 16  # the real batch size (configs/full_track_resnet50.yaml)
    workers: int = 8
    n_clips: int = 128
    render_size: int = 268  # the release's videos are about 268 px; mp4s are written at this size
    clip_frames: int = 90  # 3 s at 30 fps
    n_mp4: int = 48
    voxels: int = 161326
    ridge_voxels: int = 161326
    backbones: tuple = (("tf_efficientnet_lite0", (1, 2, 3, 4)), ("resnet50", (3, 4)))
    train_batch: int = 32  # the throughput rows' batch
    train_steps: int = 60
    compile_backend: str = "inductor"
    compile_backbones: int = 2  # the last this-many of ``backbones`` get a compiled row
    max_batch_backbones: int = 2
    matmul_n: int = 8192
    max_batch_cap: int = 1024
    loader_steps: int = 60
    loader_warmup: int = 3  # steps left out of the loader rows' figures (workers' start, warm-up)
    ridge_videos: int = 900
    ridge_features: int = 3072  # ResNet-50 layers 3 and 4: 1024 + 2048
    ridge_cpu_voxels: int = 4096
    ridge_cpu_threads: int = 2
    ridge_batch: int | None = None  # None: sized from free memory
    ddp_steps: int = 30
    ddp_backbone: str = "resnet50"
    ddp_layers: tuple = (3, 4)
    budgets: dict = field(default_factory=lambda: {
        "data": 60, "matmul": 15, "train": 35, "train_compile": 110, "max_batch": 35, "loader": 30,
        "ridge": 90, "ddp": 90})
    total_s: float = 450.0
    dry_run: bool = False


def full_config() -> CheckConfig:
    """One H100/H200: 224 px, 16 frames, the real batch and voxel count, about 7.5 minutes."""
    return CheckConfig()


def dry_config() -> CheckConfig:
    """Every step at tiny size on the CPU: timm's test models, 32 px, 4 frames, 2-clip batches."""
    return replace(
        CheckConfig(), device="cpu", image_size=32, num_frames=4, batch=2, workers=0, n_clips=6, render_size=36,
        clip_frames=8, n_mp4=3, voxels=40, backbones=(("test_efficientnet", (1, 2)), ("test_resnet", (2, 3))),
        train_batch=2, train_steps=2, compile_backend="eager", matmul_n=128, max_batch_cap=4, loader_steps=2,
        loader_warmup=1,
        ridge_voxels=300, ridge_videos=40, ridge_features=24, ridge_cpu_voxels=100, ridge_batch=64, ddp_steps=2,
        ddp_backbone="test_resnet", ddp_layers=(2, 3),
        compile_backbones=1, max_batch_backbones=1,
        budgets={k: 120 for k in CheckConfig().budgets}, total_s=300.0, dry_run=True)
