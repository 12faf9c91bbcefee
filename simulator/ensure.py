"""Generating the simulator's release, once, as a step before any data module reads it.

``train.py`` runs :func:`ensure_release` when ``data.synthetic`` names a preset, before it
builds the data module, so the data module itself only ever reads a release from disk.
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock
from pytorch_lightning.utilities import rank_zero_info

from simulator.config import DEMO_CONFIG, TINY_CONFIG
from simulator.generate import generate_dataset

PRESETS = {"demo": DEMO_CONFIG, "tiny": TINY_CONFIG}


def ensure_release(root: str | Path, preset: str) -> None:
    """Generate the simulator's ``preset`` release at ``root`` unless it is already there."""
    root = Path(root)
    if (root / "participants_data_v2021").is_dir():
        return
    if preset not in PRESETS:
        raise ValueError(f"data.synthetic: {preset!r} is not a preset; expected one of {sorted(PRESETS)}")
    root.parent.mkdir(parents=True, exist_ok=True)
    lock = Path(str(root) + ".lock")
    # Several DDP ranks may start at once: one generates, the others wait for it.
    with FileLock(str(lock)):
        if not (root / "participants_data_v2021").is_dir():
            config = PRESETS[preset]
            size = " (about 35 MB)" if preset == "demo" else ""
            rank_zero_info(f"Generating the synthetic {preset} release in {root}{size}: "
                           f"{config.n_train} training + {config.n_test} test clips of {config.size} px and "
                           f"{config.n_subjects} subjects' fMRI with known ground truth. This happens once; "
                           "later runs reuse it.")
            generate_dataset(root, config)
    # The release appears whole (written aside, then renamed): a process arriving later sees it
    # and never takes the lock, so the lock file need not stay behind.
    lock.unlink(missing_ok=True)
