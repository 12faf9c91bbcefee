"""``val_predictions.npz``: the best validation's predictions, targets and per-voxel scores."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from run_folder.names import RunReadError
from run_folder.npz_files import (
    MASK_PREFIX,
    group_ranges,
    layout_arrays,
    layout_of,
    open_npz,
    savez_atomic,
    voxel_masks,
)
from scoring.layout import TargetLayout

AFFINE_PREFIX, HEADER_PREFIX = "voxel_affine_", "voxel_header_"


@dataclass
class ValidationPredictions:
    """``val_predictions.npz``: the best validation of a run, rows sorted by video index.

    Attributes
    ----------
    predictions, targets : float32 arrays of shape (n_val_videos, n_voxels_total)
    r : float32 array of shape (n_voxels_total,), per-voxel Pearson r
    noise_ceiling : float32 array of shape (n_voxels_total,), NaN where unknown
    video_index : int64 array of shape (n_val_videos,), positions in the sorted release
    groups : list of ``(subject, roi, start, stop)``, the flat voxel layout
    voxel_masks : ``{subject: bool array (X, Y, Z)}`` for whole-brain runs
    voxel_spaces : ``{subject: (affine float64 (4, 4), NIfTI-1 header bytes)}`` of the masks whose
        file gave a space (``voxel_affine_<subject>``, ``voxel_header_<subject>`` uint8); else empty
    video_names : str array (n_val_videos,), or None (a bare ``Trainer.fit`` records none)
    epoch : the validation's epoch
    val_score : its ``val/score``
    train_index : int64 array (n_train_videos,) the run trained on, or None (older files)
    """

    predictions: np.ndarray
    targets: np.ndarray
    r: np.ndarray
    noise_ceiling: np.ndarray
    video_index: np.ndarray
    groups: list[tuple[str, str, int, int]]
    voxel_masks: dict[str, np.ndarray] = field(default_factory=dict)
    video_names: np.ndarray | None = None
    epoch: int | None = None
    val_score: float | None = None
    train_index: np.ndarray | None = None
    voxel_spaces: dict[str, tuple[np.ndarray, bytes]] = field(default_factory=dict)

    @property
    def score(self) -> np.ndarray:
        """Noise-normalised r, ``r / sqrt(ceiling)``, NaN where the ceiling is not positive, (n_voxels_total,)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.noise_ceiling > 0, self.r / np.sqrt(self.noise_ceiling), np.nan)

    @property
    def layout(self) -> TargetLayout:
        """The voxels' (subject, region) layout the file records."""
        return layout_of(self.groups)

    def voxel_name(self, voxel: int) -> str:
        """``"sub01/V1 #12"``: the group of a flat voxel index and its position within the group."""
        for subject, roi, start, stop in self.groups:
            if start <= voxel < stop:
                return f"{subject}/{roi} #{voxel - start}"
        raise IndexError(f"voxel {voxel} is outside the layout's {self.groups[-1][3]} voxels")


def read_predictions(path: str | Path) -> ValidationPredictions:
    """Read a ``val_predictions.npz``; raises :class:`RunReadError` naming the file if it is malformed."""
    path = Path(path)
    needed = {"predictions", "targets", "r", "noise_ceiling", "video_index", "subjects", "rois", "voxel_counts"}
    with open_npz(path, needed, "ValidationDump") as data:
        groups = group_ranges(path, data)
        n_voxels = groups[-1][3] if groups else 0
        predictions, targets = data["predictions"], data["targets"]
        if predictions.shape != targets.shape or predictions.ndim != 2 or predictions.shape[1] != n_voxels:
            raise RunReadError(f"{path}: predictions {predictions.shape} and targets {targets.shape} "
                               f"must both be (n_videos, {n_voxels}) for the recorded layout")
        files = set(data.files)
        return ValidationPredictions(
            predictions=predictions, targets=targets, r=data["r"], noise_ceiling=data["noise_ceiling"],
            video_index=data["video_index"], groups=groups, voxel_masks=voxel_masks(data),
            video_names=data["video_names"] if "video_names" in files else None,
            epoch=int(data["epoch"]) if "epoch" in files else None,
            val_score=float(data["score"]) if "score" in files else None,
            train_index=data["train_index"].astype(np.int64) if "train_index" in files else None,
            voxel_spaces={k[len(AFFINE_PREFIX):]: (data[k].astype(np.float64),
                                                   data[HEADER_PREFIX + k[len(AFFINE_PREFIX):]].tobytes())
                          for k in files if k.startswith(AFFINE_PREFIX) and HEADER_PREFIX + k[len(AFFINE_PREFIX):] in files})


def write_predictions(path: str | Path, *, predictions: np.ndarray, targets: np.ndarray, r: np.ndarray,
                      noise_ceiling: np.ndarray | None, video_index: np.ndarray, layout: TargetLayout, epoch: int,
                      score: float, train_index: np.ndarray | None = None, video_names=None,
                      voxel_masks: dict[str, np.ndarray] | None = None,
                      voxel_spaces: dict[str, tuple[np.ndarray, bytes]] | None = None) -> Path:
    """Write a ``val_predictions.npz`` atomically (a temporary file, then ``os.replace``).

    predictions, targets : (n_val_videos, n_voxels), rows already sorted by ``video_index``
    r : (n_voxels,); noise_ceiling : (n_voxels,) or None (written as NaN everywhere)
    video_index : (n_val_videos,); train_index : (n_train_videos,) or None (not written)
    video_names : n_val_videos names, or None (not written); voxel_masks : ``{subject: bool (X, Y, Z)}``

    Arrays in this order, as ``np.load`` gives them: ``predictions``, ``targets`` (float32), ``r``,
    ``noise_ceiling`` (float32), ``video_index`` (int64), ``subjects``, ``rois`` (str, (n_groups,)),
    ``voxel_counts`` (int64, (n_groups,)), ``epoch`` (int64), ``score`` (float64), then, where
    given, ``train_index`` (int64), ``video_names`` (str) and ``voxel_mask_<subject>``.
    """
    arrays = {
        "predictions": np.asarray(predictions).astype(np.float32),
        "targets": np.asarray(targets).astype(np.float32),
        "r": np.asarray(r, dtype=np.float32),
        "noise_ceiling": (np.asarray(noise_ceiling, dtype=np.float32) if noise_ceiling is not None
                          else np.full(layout.n_voxels, np.nan, np.float32)),
        "video_index": np.asarray(video_index).astype(np.int64),
        **layout_arrays(layout),
        "epoch": np.int64(epoch),
        "score": np.float64(score),
    }
    if train_index is not None:
        arrays["train_index"] = np.asarray(train_index, dtype=np.int64)
    if video_names is not None:
        arrays["video_names"] = np.array(video_names)
    arrays.update({f"{MASK_PREFIX}{subject}": mask for subject, mask in (voxel_masks or {}).items()})
    for subject, (affine, header) in (voxel_spaces or {}).items():  # the masks' NIfTI space (brain maps)
        arrays[f"{AFFINE_PREFIX}{subject}"] = np.asarray(affine, np.float64)
        arrays[f"{HEADER_PREFIX}{subject}"] = np.frombuffer(header, np.uint8)
    return savez_atomic(Path(path), arrays)
