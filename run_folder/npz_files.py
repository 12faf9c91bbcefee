"""Atomic ``.npz`` writes and checked reads, and the flat voxel layout as arrays: shared by the
run folder's ``val_predictions.npz`` and ``band_weights.npz``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from run_folder.names import RunReadError
from scoring.layout import TargetLayout

MASK_PREFIX = "voxel_mask_"

def savez_atomic(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """``np.savez`` to a temporary file beside ``path``, then ``os.replace``: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


class open_npz:
    """``with open_npz(path, needed, writer) as data``: the open archive, checked for ``needed`` arrays."""

    def __init__(self, path: Path, needed: set[str], writer: str):
        self.path, self.needed, self.writer = path, needed, writer

    def __enter__(self):
        try:
            self.data = np.load(self.path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise RunReadError(f"{self.path}: not a readable .npz ({err})") from err
        if not hasattr(self.data, "files"):
            raise RunReadError(f"{self.path}: a single array, not an .npz archive")
        if missing := self.needed - set(self.data.files):
            self.data.close()
            raise RunReadError(f"{self.path}: missing arrays {sorted(missing)} (expected those {self.writer} writes)")
        return self.data

    def __exit__(self, *exc) -> None:
        self.data.close()


def layout_arrays(layout: TargetLayout) -> dict[str, np.ndarray]:
    return {"subjects": np.array([g.subject for g in layout.groups]),
            "rois": np.array([g.roi for g in layout.groups]),
            "voxel_counts": np.array([g.n_voxels for g in layout.groups], dtype=np.int64)}


def group_ranges(path: Path, data) -> list[tuple[str, str, int, int]]:
    subjects, rois, counts = data["subjects"], data["rois"], data["voxel_counts"]
    if not (subjects.ndim == rois.ndim == counts.ndim == 1 and len(subjects) == len(rois) == len(counts)):
        raise RunReadError(f"{path}: subjects {subjects.shape}, rois {rois.shape} and voxel_counts {counts.shape} "
                           "must be one entry per (subject, region) group")
    counts = counts.astype(int)
    stops = np.cumsum(counts)
    return [(str(s), str(r), int(stop - n), int(stop)) for s, r, n, stop in zip(subjects, rois, counts, stops, strict=True)]


def voxel_masks(data) -> dict[str, np.ndarray]:
    return {k[len(MASK_PREFIX):]: data[k].astype(bool) for k in data.files if k.startswith(MASK_PREFIX)}


def layout_of(groups: list[tuple[str, str, int, int]]) -> TargetLayout:
    counts: dict[str, dict[str, int]] = {}
    for subject, roi, start, stop in groups:
        counts.setdefault(subject, {})[roi] = stop - start
    return TargetLayout(counts)
