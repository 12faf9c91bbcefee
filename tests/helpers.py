"""Shared by the end-to-end tests: a tiny, fast training run through the real CLI."""

from pathlib import Path

import train

REPO = Path(__file__).resolve().parents[1]
#: A tiny run on the CPU (4 frames of 32 px, a 6-video holdout); the device count and batch size are the caller's.
TINY_CPU = ["--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false", "--data.num_workers", "0",
            "--data.num_frames", "4", "--data.image_size", "32", "--data.split", "holdout", "--data.n_val", "6"]
FAST = [*TINY_CPU, "--trainer.devices", "1", "--data.batch_size", "4"]


def release_args(root: Path, save_dir: Path) -> list[str]:
    """The CLI arguments that train on the release at ``root`` (no synthetic one made), with the clip
    cache beside it and the run folders under ``save_dir``."""
    return ["--data.root", str(root), "--data.synthetic", "null", "--data.cache_dir", str(root.parent / "cache"),
            "--trainer.logger.init_args.save_dir", str(save_dir)]


def fit_tiny(tiny_root: Path, tmp_path: Path, *extra: str):
    """``train.py fit`` with the demo config shrunk to the TINY release; returns the LightningCLI."""
    args = ["fit", "--config", str(REPO / "configs/demo.yaml"), *FAST, *release_args(tiny_root, tmp_path / "runs"),
            *extra]
    return train.main(args)
