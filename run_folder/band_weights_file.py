"""``band_weights.npz``: banded ridge's per-voxel band weights, penalties and CV scores."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from run_folder.names import RunReadError
from run_folder.npz_files import (
    MASK_PREFIX,
    group_ranges,
    layout_arrays,
    open_npz,
    savez_atomic,
    voxel_masks,
)
from scoring.layout import TargetLayout


@dataclass
class BandWeightsRecord:
    """``band_weights.npz``: banded ridge's per-voxel band weights.

    Attributes
    ----------
    band_names : list of str, ``layer<i>`` bands in read-out order then ``motion`` if fitted
    weights : float32 (n_bands, n_voxels), columns on the simplex
    groups : list of ``(subject, roi, start, stop)``, the flat voxel layout
    voxel_masks : ``{subject: bool (X, Y, Z)}`` for whole-brain runs
    val_r, val_split_r : (n_voxels,) and (n_bands, n_voxels), or None
    alphas, cv_r : (n_voxels,) chosen penalty and best mean CV r, or None
    """

    band_names: list[str]
    weights: np.ndarray
    groups: list[tuple[str, str, int, int]]
    voxel_masks: dict[str, np.ndarray] = field(default_factory=dict)
    val_r: np.ndarray | None = None
    val_split_r: np.ndarray | None = None
    alphas: np.ndarray | None = None
    cv_r: np.ndarray | None = None


def read_band_weights(path: str | Path) -> BandWeightsRecord:
    """Read a ``band_weights.npz``; :class:`RunReadError` names the file and what is wrong."""
    path = Path(path)
    with open_npz(path, {"band_names", "weights", "subjects", "rois", "voxel_counts"}, "write_band_weights") as data:
        groups = group_ranges(path, data)
        names = [str(n) for n in data["band_names"]]
        weights = data["weights"]
        n_voxels = groups[-1][3] if groups else 0
        if weights.shape != (len(names), n_voxels):
            raise RunReadError(f"{path}: weights {weights.shape} must be (n_bands={len(names)}, n_voxels={n_voxels})")
        optional = {k: data[k] if k in data.files else None for k in ("val_r", "val_split_r", "alphas", "cv_r")}
        return BandWeightsRecord(names, weights, groups, voxel_masks(data), **optional)


def write_band_weights(path: str | Path, *, band_names, weights: np.ndarray, alphas: np.ndarray, cv_r: np.ndarray,
                       val_r: np.ndarray, val_split_r: np.ndarray, layout: TargetLayout,
                       voxel_masks: dict[str, np.ndarray] | None = None) -> Path:
    """Write a ``band_weights.npz`` atomically. Contents (``np.load``), in this order:

        band_names    str (n_bands,)                  ``layer<i>`` in read-out order, then ``motion``
        weights       float32 (n_bands, n_voxels)     each voxel's band weights (columns sum to 1)
        alphas        float32 (n_voxels,)             chosen penalty
        cv_r          float32 (n_voxels,)             best mean CV r on the training videos
        val_r         float32 (n_voxels,)             r on the validation videos
        val_split_r   float32 (n_bands, n_voxels)     each band's share of val_r
        subjects, rois, voxel_counts  (n_groups,)     the flat layout, subject-major
        voxel_mask_<subject>  bool (X, Y, Z)          whole-brain runs: where each voxel sits
    """
    arrays = {
        "band_names": np.array(list(band_names)),
        "weights": np.asarray(weights).astype(np.float32),
        "alphas": np.asarray(alphas).astype(np.float32),
        "cv_r": np.asarray(cv_r).astype(np.float32),
        "val_r": np.asarray(val_r).astype(np.float32),
        "val_split_r": np.asarray(val_split_r).astype(np.float32),
        **layout_arrays(layout),
        **{f"{MASK_PREFIX}{s}": np.asarray(m, bool) for s, m in (voxel_masks or {}).items()},
    }
    return savez_atomic(Path(path), arrays)
