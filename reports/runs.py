"""Reading finished training runs: ``summary.json``, ``config.yaml`` and ``val_predictions.npz``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from run_folder.validation_dump import FILE_NAME as PREDICTIONS_FILE


class RunReadError(ValueError):
    """A run folder is missing what a report needs."""


@dataclass
class ValidationPredictions:
    """The best validation of a run, as :class:`run_folder.validation_dump.ValidationDump` wrote it.

    Attributes
    ----------
    predictions, targets : float32 arrays of shape (n_val_videos, n_voxels_total)
    r : float32 array of shape (n_voxels_total,), per-voxel Pearson r
    noise_ceiling : float32 array of shape (n_voxels_total,), NaN where unknown
    video_index : int64 array of shape (n_val_videos,)
    groups : list of ``(subject, roi, start, stop)``, the flat voxel layout
    voxel_masks : ``{subject: bool array (X, Y, Z)}`` for whole-brain runs
    epoch : the validation's epoch
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

    @property
    def score(self) -> np.ndarray:
        """Noise-normalised r, ``r / sqrt(ceiling)``, NaN where the ceiling is not positive, (n_voxels_total,)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.noise_ceiling > 0, self.r / np.sqrt(self.noise_ceiling), np.nan)

    def voxel_name(self, voxel: int) -> str:
        """``"sub01/V1 #12"``: the group of a flat voxel index and its position within the group."""
        for subject, roi, start, stop in self.groups:
            if start <= voxel < stop:
                return f"{subject}/{roi} #{voxel - start}"
        raise IndexError(f"voxel {voxel} is outside the layout's {self.groups[-1][3]} voxels")


def load_predictions(path: str | Path) -> ValidationPredictions:
    """Read a ``val_predictions.npz``; raises :class:`RunReadError` naming the file if it is malformed."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise RunReadError(f"{path}: not a readable .npz ({err})") from err
    needed = {"predictions", "targets", "r", "noise_ceiling", "video_index", "subjects", "rois", "voxel_counts"}
    if missing := needed - set(data.files):
        raise RunReadError(f"{path}: missing arrays {sorted(missing)} (expected those ValidationDump writes)")
    counts = data["voxel_counts"].astype(int)
    stops = np.cumsum(counts)
    groups = [(str(s), str(r), int(stop - n), int(stop))
              for s, r, n, stop in zip(data["subjects"], data["rois"], counts, stops)]
    if data["predictions"].shape != data["targets"].shape or data["predictions"].shape[1] != stops[-1]:
        raise RunReadError(f"{path}: predictions {data['predictions'].shape} and targets {data['targets'].shape} "
                           f"must both be (n_videos, {stops[-1]}) for the recorded layout")
    masks = {name[len("voxel_mask_"):]: data[name].astype(bool) for name in data.files
             if name.startswith("voxel_mask_")}
    return ValidationPredictions(
        predictions=data["predictions"], targets=data["targets"], r=data["r"], noise_ceiling=data["noise_ceiling"],
        video_index=data["video_index"], groups=groups, voxel_masks=masks,
        video_names=data["video_names"] if "video_names" in data.files else None,
        epoch=int(data["epoch"]) if "epoch" in data.files else None)


@dataclass
class RunResult:
    """One training run's results.

    Attributes
    ----------
    path : the run folder (``runs/<name>/version_N``)
    name : ``<name>/version_N``, how figures label it
    summary : the parsed ``summary.json`` (best/last scores grouped overall/subjects/rois/groups)
    config : the parsed ``config.yaml``, or {} if absent
    predictions : the best validation's predictions, or None for runs that predate ``ValidationDump``
    """

    path: Path
    name: str
    summary: dict
    config: dict
    predictions: ValidationPredictions | None

    @property
    def best_scores(self) -> dict:
        """``{"overall": x, "subjects": {...}, "rois": {...}, "groups": {"sub01/V1": x}}`` of the best epoch."""
        return self.summary.get("best", {}).get("score", {}) or {}

    @property
    def whole_brain(self) -> bool:
        return bool(self.predictions and self.predictions.voxel_masks)


def load_run(run_dir: str | Path) -> RunResult:
    """Read one run folder; raises :class:`RunReadError` naming what is missing."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunReadError(f"{path}: run folder not found")
    summary_path = path / "summary.json"
    if not summary_path.is_file():
        raise RunReadError(f"{summary_path}: not found (expected a finished train.py fit run's folder, "
                           "e.g. runs/demo/version_0)")
    try:
        summary = json.loads(summary_path.read_text())
    except json.JSONDecodeError as err:
        raise RunReadError(f"{summary_path}: not valid JSON ({err})") from err
    config_path = path / "config.yaml"
    config = yaml.safe_load(config_path.read_text()) if config_path.is_file() else {}
    predictions_path = path / PREDICTIONS_FILE
    predictions = load_predictions(predictions_path) if predictions_path.is_file() else None
    return RunResult(path=path, name=f"{path.parent.name}/{path.name}", summary=summary, config=config or {},
                     predictions=predictions)
