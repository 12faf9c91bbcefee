"""The simulator's truth for :mod:`benchmarks.banded_study`: per voxel, the share of its noise-free
response's variance due to each kind of drive (edges, objects, motion)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules.safe_pickle import load_pickle
from simulator import brain
from simulator.writer import TRUTH_DIR

MOTION_SCALARS = ("pixel_motion", "object_motion", "body_motion", "background_speed")


def true_drive_shares(root: Path, layout) -> dict[str, np.ndarray]:
    """Per voxel (layout order), the share of its noise-free response's variance due to each kind of
    drive: ``edges`` (the region's retinotopic block), ``objects`` (object/scene scalars), ``motion``
    (``MOTION_SCALARS``); each (n_voxels,), summing to 1 where the voxel has signal."""
    features = dict(np.load(root / TRUTH_DIR / "features.npz"))
    shares = {k: np.full(layout.n_voxels, np.nan) for k in ("edges", "objects", "motion")}
    for g in layout.groups:
        model = brain.REGIONS[g.roi]
        clean = load_pickle(root / TRUTH_DIR / "mini_track" / g.subject / f"{g.roi}.pkl")["clean"]
        blocks = {}
        if model.edges is not None:
            blocks["edges"] = brain.standardise(features[model.edges].reshape(len(clean), -1))
        for kind, keys in (("objects", [k for k in model.scalars if k not in MOTION_SCALARS]),
                           ("motion", [k for k in model.scalars if k in MOTION_SCALARS])):
            if keys:
                blocks[kind] = brain.standardise(np.stack([features[k] for k in keys], 1))
        Z = np.concatenate(list(blocks.values()), 1)
        y = clean - clean.mean(0)
        beta = np.linalg.lstsq(Z, y, rcond=None)[0]
        parts, start = {}, 0
        for kind, block in blocks.items():
            parts[kind] = (block @ beta[start:start + block.shape[1]]).var(0)
            start += block.shape[1]
        total = sum(parts.values())
        for kind in shares:
            value = parts.get(kind, np.zeros(g.n_voxels))
            shares[kind][g.start:g.stop] = np.where(total > 0, value / np.where(total > 0, total, 1), np.nan)
    return shares
