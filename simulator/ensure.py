"""Generating the simulator's release, once, as a step before any data module reads it.

``train.py`` runs :func:`ensure_release` when ``data.synthetic`` names a preset, before it
builds the data module, so the data module itself only ever reads a release from disk.

The release is generated only into a folder that does not exist or is empty. A folder that holds a
layout the tool reads (the 2021 release, BOLD Moments, the folder format: the user's own data given
with ``--data.root`` on top of a config whose ``data.synthetic`` is set, as ``configs/demo.yaml``)
is read as it is, never generated into; a folder holding anything else is refused, naming what it
holds and the layouts the tool reads (:func:`datamodules.sources.registry.detect_source`).
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock
from pytorch_lightning.utilities import rank_zero_info

from datamodules.sources.registry import detect_source
from simulator.config import DEMO_CONFIG, TINY_CONFIG
from simulator.generate import generate_dataset

PRESETS = {"demo": DEMO_CONFIG, "tiny": TINY_CONFIG}


def _holds_data(root: Path) -> bool:
    """Whether ``root`` holds anything; if it does, it must be a layout the tool reads (else
    :class:`~datamodules.sources.base.DataLayoutError` naming what it holds)."""
    if not root.is_dir() or not any(root.iterdir()):
        return False
    detect_source(root)
    return True


def ensure_release(root: str | Path, preset: str) -> None:
    """Generate the simulator's ``preset`` release at ``root`` unless ``root`` holds data already
    (read as it is; see the module docstring).

    Raises
    ------
    DataLayoutError
        ``root`` holds files of no layout the tool reads (one line naming them and the layouts).
    ValueError
        ``preset`` is not one of :data:`PRESETS`.
    """
    root = Path(root)
    if _holds_data(root):
        return
    if preset not in PRESETS:
        raise ValueError(f"data.synthetic: {preset!r} is not a preset; expected one of {sorted(PRESETS)}")
    root.parent.mkdir(parents=True, exist_ok=True)
    lock = Path(str(root) + ".lock")
    # Several DDP ranks may start at once: one generates, the others wait for it.
    with FileLock(str(lock)):
        if not _holds_data(root):
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
