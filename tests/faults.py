"""Injecting data faults into a copy of the tiny synthetic release (tests only)."""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

import predict
from datamodules.release import FMRI_DIR
from datamodules.safe_pickle import load_pickle


def copy_release(tiny_root: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the TINY release at ``tmp_path/faulty/release``."""
    root = tmp_path / "faulty" / "release"
    shutil.copytree(tiny_root, root, ignore=shutil.ignore_patterns(".clip_cache"))
    return root


def roi_file(root: Path, subject: str, roi: str) -> Path:
    return root / FMRI_DIR / "mini_track" / subject / f"{roi}.pkl"


def rewrite_roi(root: Path, subject: str, roi: str, edit: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Replace ``subject/roi``'s ``train`` array (videos, repetitions, voxels) by ``edit(train)``,
    written as the release writes it (a protocol-2 pickle); returns the new array."""
    path = roi_file(root, subject, roi)
    data = load_pickle(path)
    data["train"] = np.asarray(edit(np.array(data["train"], dtype=np.float32)), dtype=np.float32)
    path.write_bytes(pickle.dumps(data, protocol=2))
    return data["train"]


def predict_tiny(ckpt: Path, out: Path) -> Path:
    """``predict.py`` on the release the checkpoint was trained on, CPU, no workers."""
    argv = ["--ckpt_path", str(ckpt), "--output_dir", str(out), "--accelerator", "cpu", "--num_workers", "0",
            "--batch_size", "3"]
    return predict.predict(predict.parse_args(argv))
