"""Shared by the end-to-end tests: a tiny, fast training run through the real CLI."""

from pathlib import Path

import train

REPO = Path(__file__).resolve().parents[1]
FAST = ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.enable_progress_bar", "false",
        "--data.num_workers", "0", "--data.num_frames", "4", "--data.image_size", "32",
        "--data.split", "holdout", "--data.n_val", "6", "--data.batch_size", "4"]


def fit_tiny(tiny_root: Path, tmp_path: Path, *extra: str):
    """``train.py fit`` with the demo config shrunk to the TINY release; returns the LightningCLI."""
    args = ["fit", "--config", str(REPO / "configs/demo.yaml"), *FAST, "--data.root", str(tiny_root),
            "--data.synthetic", "null", "--data.cache_dir", str(tiny_root.parent / "cache"),
            "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), *extra]
    return train.main(args)
