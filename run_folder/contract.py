"""The run folder: every file a training run leaves, its name, its format, its writer and its reader.

A ``train.py fit`` run writes into ``runs/<name>/version_N`` (the logger's folder)::

    config.yaml              the run's full settings (LightningCLI writes it at the start)
    summary.json             best/last validation scores, baselines, checkpoints (end of fit)
    val_predictions.npz      the best validation's predictions and targets (at every new best)
    band_weights.npz         banded ridge's per-voxel band weights (runs with ``model.ridge.banded``)
    checkpoints/last.ckpt    the latest epoch (for resuming)
    checkpoints/best-epochNNN.ckpt   the best ``val/score``'s epoch

Training's callbacks write through :class:`RunFolder`; export, reports, sweeps, k-fold and the
benchmarks read through it. Old run folders read: the formats are those written since the first
``summary.json`` (score records nested ``{"score": {...}, "r": {...}}``, or the flat
``"score/sub01/V1"`` dicts :meth:`scoring.summary.ScoreSummary.from_json` also reads) and the first
``val_predictions.npz`` (``train_index`` came later and may be absent). A malformed file raises
:class:`RunReadError` naming it.

This module imports nothing of the project but :mod:`scoring`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from scoring.layout import TargetLayout
from scoring.summary import GroupMeans, ScoreSummary

SUMMARY_FILE = "summary.json"
PREDICTIONS_FILE = "val_predictions.npz"
BAND_WEIGHTS_FILE = "band_weights.npz"
CONFIG_FILE = "config.yaml"
CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT_FILE = "last.ckpt"
#: Lightning names a second ``last`` checkpoint in one folder ``last-v1.ckpt``: resuming looks at all.
LAST_CHECKPOINT_GLOB = "last*.ckpt"
#: ``ModelCheckpoint(filename=...)`` of the best checkpoint (Lightning adds ``.ckpt``): ``best-epoch007.ckpt``.
BEST_CHECKPOINT_FILENAME = "best-epoch{epoch:03d}"
BEST_CHECKPOINT_GLOB = "best-*.ckpt"

_MASK_PREFIX = "voxel_mask_"


class RunReadError(ValueError):
    """A run folder's file is missing or malformed; the message names the file and what is wrong."""


# --------------------------------------------------------------------------------------------
# summary.json
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunSummaryRecord:
    """``summary.json``: what a finished fit reports.

    Attributes
    ----------
    best, last : the best (highest ``val/score``) and the last validation's scores, or None
    ridge, banded_ridge : the baselines' validation scores, or None where the run fitted none
    best_epoch : the best validation's epoch
    best_checkpoint, last_checkpoint : the checkpoints' paths as training saw them (may be relative
        to another working folder: :meth:`RunFolder.best_checkpoint` looks them up by name)
    epochs_run : ``trainer.current_epoch`` at the end of fit
    gain_over_ridge : best ``val/score`` minus the ridge baseline's (None without a ridge)

    On disk (``json.dumps(indent=2)``, NaN written as null), keys in this order, the score records
    only where not None and ``gain_over_ridge`` only where known::

        {"best_epoch": 3, "best_checkpoint": ".../best-epoch003.ckpt", "last_checkpoint": ".../last.ckpt",
         "epochs_run": 4, "best": ScoreSummary.as_json(), "last": ..., "ridge": ..., "banded_ridge": ...,
         "gain_over_ridge": 0.0267}
    """

    best: ScoreSummary | None = None
    last: ScoreSummary | None = None
    ridge: ScoreSummary | None = None
    banded_ridge: ScoreSummary | None = None
    best_epoch: int | None = None
    best_checkpoint: str | None = None
    last_checkpoint: str | None = None
    epochs_run: int | None = None
    gain_over_ridge: float | None = None

    @property
    def best_score(self) -> float | None:
        """The best ``val/score`` (:attr:`ScoreSummary.main`), None where unknown or NaN."""
        return _finite(self.best.main) if self.best is not None else None

    @property
    def ridge_score(self) -> float | None:
        """The ridge baseline's ``val/score``, None where the run fitted none."""
        return _finite(self.ridge.main) if self.ridge is not None else None

    def as_json(self) -> dict:
        """The plain dict ``summary.json`` holds (NaN as None)."""
        record = {"best_epoch": self.best_epoch, "best_checkpoint": self.best_checkpoint,
                  "last_checkpoint": self.last_checkpoint, "epochs_run": self.epochs_run}
        for name in ("best", "last", "ridge", "banded_ridge"):
            if (summary := getattr(self, name)) is not None:
                record[name] = summary.as_json()
        if self.gain_over_ridge is not None:
            record["gain_over_ridge"] = self.gain_over_ridge
        return _clean(record)

    @classmethod
    def from_json(cls, data: dict) -> RunSummaryRecord:
        """From :meth:`as_json`, or a summary written by older code (see the module's docstring)."""
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        scores = {}
        for name in ("best", "last", "ridge", "banded_ridge"):
            value = data.get(name)
            if value is not None and not isinstance(value, dict):
                raise TypeError(f"{name!r} must be an object of scores, got {type(value).__name__}")
            scores[name] = _score_summary(value or None)
        gain = data.get("gain_over_ridge")
        return cls(**scores, best_epoch=_int(data.get("best_epoch")), best_checkpoint=data.get("best_checkpoint"),
                   last_checkpoint=data.get("last_checkpoint"), epochs_run=_int(data.get("epochs_run")),
                   gain_over_ridge=None if gain is None else float(gain))


# --------------------------------------------------------------------------------------------
# val_predictions.npz
# --------------------------------------------------------------------------------------------

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

    @property
    def score(self) -> np.ndarray:
        """Noise-normalised r, ``r / sqrt(ceiling)``, NaN where the ceiling is not positive, (n_voxels_total,)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.noise_ceiling > 0, self.r / np.sqrt(self.noise_ceiling), np.nan)

    @property
    def layout(self) -> TargetLayout:
        """The voxels' (subject, region) layout the file records."""
        return _layout(self.groups)

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
    with _open_npz(path, needed, "ValidationDump") as data:
        groups = _groups(path, data)
        n_voxels = groups[-1][3] if groups else 0
        predictions, targets = data["predictions"], data["targets"]
        if predictions.shape != targets.shape or predictions.ndim != 2 or predictions.shape[1] != n_voxels:
            raise RunReadError(f"{path}: predictions {predictions.shape} and targets {targets.shape} "
                               f"must both be (n_videos, {n_voxels}) for the recorded layout")
        files = set(data.files)
        return ValidationPredictions(
            predictions=predictions, targets=targets, r=data["r"], noise_ceiling=data["noise_ceiling"],
            video_index=data["video_index"], groups=groups, voxel_masks=_masks(data),
            video_names=data["video_names"] if "video_names" in files else None,
            epoch=int(data["epoch"]) if "epoch" in files else None,
            val_score=float(data["score"]) if "score" in files else None,
            train_index=data["train_index"].astype(np.int64) if "train_index" in files else None)


def write_predictions(path: str | Path, *, predictions: np.ndarray, targets: np.ndarray, r: np.ndarray,
                      noise_ceiling: np.ndarray | None, video_index: np.ndarray, layout: TargetLayout, epoch: int,
                      score: float, train_index: np.ndarray | None = None, video_names=None,
                      voxel_masks: dict[str, np.ndarray] | None = None) -> Path:
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
        **_layout_arrays(layout),
        "epoch": np.int64(epoch),
        "score": np.float64(score),
    }
    if train_index is not None:
        arrays["train_index"] = np.asarray(train_index, dtype=np.int64)
    if video_names is not None:
        arrays["video_names"] = np.array(video_names)
    arrays.update({f"{_MASK_PREFIX}{subject}": mask for subject, mask in (voxel_masks or {}).items()})
    return _savez_atomic(Path(path), arrays)


# --------------------------------------------------------------------------------------------
# band_weights.npz
# --------------------------------------------------------------------------------------------

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
    with _open_npz(path, {"band_names", "weights", "subjects", "rois", "voxel_counts"}, "write_band_weights") as data:
        groups = _groups(path, data)
        names = [str(n) for n in data["band_names"]]
        weights = data["weights"]
        n_voxels = groups[-1][3] if groups else 0
        if weights.shape != (len(names), n_voxels):
            raise RunReadError(f"{path}: weights {weights.shape} must be (n_bands={len(names)}, n_voxels={n_voxels})")
        optional = {k: data[k] if k in data.files else None for k in ("val_r", "val_split_r", "alphas", "cv_r")}
        return BandWeightsRecord(names, weights, groups, _masks(data), **optional)


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
        **_layout_arrays(layout),
        **{f"{_MASK_PREFIX}{s}": np.asarray(m, bool) for s, m in (voxel_masks or {}).items()},
    }
    return _savez_atomic(Path(path), arrays)


# --------------------------------------------------------------------------------------------
# The folder
# --------------------------------------------------------------------------------------------

class RunFolder:
    """One run folder (``runs/<name>/version_N``): its files' paths, writers and readers.

    Nothing is read or created until asked: ``RunFolder(path)`` of a folder that does not exist yet
    is fine (training writes into it).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @classmethod
    def of_checkpoint(cls, checkpoint: str | Path) -> RunFolder | None:
        """The run folder a checkpoint file sits in (``<run>/checkpoints/x.ckpt`` -> ``<run>``), or None."""
        checkpoint = Path(checkpoint)
        return cls(checkpoint.parent.parent) if checkpoint.parent.name == CHECKPOINTS_DIR else None

    # ---- paths
    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY_FILE

    @property
    def predictions_path(self) -> Path:
        return self.path / PREDICTIONS_FILE

    @property
    def band_weights_path(self) -> Path:
        return self.path / BAND_WEIGHTS_FILE

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    @property
    def last_checkpoint(self) -> Path:
        """``checkpoints/last.ckpt`` (whether or not it exists)."""
        return self.checkpoints_dir / LAST_CHECKPOINT_FILE

    @property
    def finished(self) -> bool:
        """Whether the fit ended and wrote its ``summary.json``."""
        return self.summary_path.is_file()

    @property
    def has_predictions(self) -> bool:
        return self.predictions_path.is_file()

    @property
    def has_band_weights(self) -> bool:
        return self.band_weights_path.is_file()

    # ---- summary.json
    def write_summary(self, record: RunSummaryRecord) -> Path:
        """Write ``summary.json`` (creating the folder); returns its path."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.summary_path.write_text(json.dumps(record.as_json(), indent=2))
        return self.summary_path

    def read_summary(self) -> RunSummaryRecord:
        """Read ``summary.json``; :class:`RunReadError` names it when missing or malformed."""
        path = self.summary_path
        if not path.is_file():
            raise RunReadError(f"{path}: not found (expected a finished train.py fit run's folder, "
                               "e.g. runs/demo/version_0)")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise RunReadError(f"{path}: not valid JSON ({err})") from err
        try:
            return RunSummaryRecord.from_json(data)
        except (TypeError, ValueError, AttributeError) as err:
            raise RunReadError(f"{path}: not a run summary ({err})") from err

    # ---- val_predictions.npz
    def write_predictions(self, **arrays) -> Path:
        """Write ``val_predictions.npz`` atomically (arguments: :func:`write_predictions`'s)."""
        return write_predictions(self.predictions_path, **arrays)

    def read_predictions(self) -> ValidationPredictions:
        return read_predictions(self.predictions_path)

    # ---- band_weights.npz
    def write_band_weights(self, **arrays) -> Path:
        """Write ``band_weights.npz`` atomically (arguments: :func:`write_band_weights`'s)."""
        return write_band_weights(self.band_weights_path, **arrays)

    def read_band_weights(self) -> BandWeightsRecord:
        return read_band_weights(self.band_weights_path)

    # ---- config.yaml
    def read_config(self) -> dict:
        """The parsed ``config.yaml``, or {} where the run has none; :class:`RunReadError` if it is not YAML."""
        if not self.config_path.is_file():
            return {}
        try:
            config = yaml.safe_load(self.config_path.read_text())
        except yaml.YAMLError as err:
            raise RunReadError(f"{self.config_path}: not valid YAML ({err})") from err
        if config is not None and not isinstance(config, dict):
            raise RunReadError(f"{self.config_path}: expected a mapping of settings, got {type(config).__name__}")
        return config or {}

    # ---- checkpoints
    def best_checkpoint(self) -> tuple[Path, str]:
        """The checkpoint this run stands for, and a line saying which it is and why.

        The best checkpoint named in ``summary.json`` (looked up in ``checkpoints/`` by name, so a
        moved run folder still works); a run without a summary (stopped before the end) gives its
        newest ``best-*.ckpt``, else ``last.ckpt``. Raises FileNotFoundError when it has none.
        """
        checkpoints = self.checkpoints_dir
        if self.finished:
            summary = self.read_summary()
            if summary.best_checkpoint:
                for candidate in (checkpoints / Path(summary.best_checkpoint).name, Path(summary.best_checkpoint)):
                    if candidate.is_file():
                        score = summary.best_score
                        detail = (f"best val/score {score:.4f}, epoch {summary.best_epoch}" if score is not None
                                  else f"epoch {summary.best_epoch}")
                        return candidate, f"checkpoint: {candidate} (the run's best: {detail}; from {self.summary_path})"
        best = sorted(checkpoints.glob(BEST_CHECKPOINT_GLOB), key=lambda p: p.stat().st_mtime_ns)
        if best:
            return best[-1], f"checkpoint: {best[-1]} (newest {BEST_CHECKPOINT_GLOB}; {SUMMARY_FILE} names none)"
        if self.last_checkpoint.is_file():
            return self.last_checkpoint, (f"checkpoint: {self.last_checkpoint} (no best checkpoint in "
                                          f"{checkpoints}: the latest epoch's)")
        raise FileNotFoundError(f"{self.path}: a folder without checkpoints (expected a run folder such as "
                                f"runs/demo/version_0, holding {CHECKPOINTS_DIR}/ and {SUMMARY_FILE})")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def _savez_atomic(path: Path, arrays: dict[str, np.ndarray]) -> Path:
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


class _open_npz:
    """``with _open_npz(path, needed, writer) as data``: the open archive, checked for ``needed`` arrays."""

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


def _layout_arrays(layout: TargetLayout) -> dict[str, np.ndarray]:
    return {"subjects": np.array([g.subject for g in layout.groups]),
            "rois": np.array([g.roi for g in layout.groups]),
            "voxel_counts": np.array([g.n_voxels for g in layout.groups], dtype=np.int64)}


def _groups(path: Path, data) -> list[tuple[str, str, int, int]]:
    subjects, rois, counts = data["subjects"], data["rois"], data["voxel_counts"]
    if not (subjects.ndim == rois.ndim == counts.ndim == 1 and len(subjects) == len(rois) == len(counts)):
        raise RunReadError(f"{path}: subjects {subjects.shape}, rois {rois.shape} and voxel_counts {counts.shape} "
                           "must be one entry per (subject, region) group")
    counts = counts.astype(int)
    stops = np.cumsum(counts)
    return [(str(s), str(r), int(stop - n), int(stop)) for s, r, n, stop in zip(subjects, rois, counts, stops, strict=True)]


def _masks(data) -> dict[str, np.ndarray]:
    return {k[len(_MASK_PREFIX):]: data[k].astype(bool) for k in data.files if k.startswith(_MASK_PREFIX)}


def _layout(groups: list[tuple[str, str, int, int]]) -> TargetLayout:
    counts: dict[str, dict[str, int]] = {}
    for subject, roi, start, stop in groups:
        counts.setdefault(subject, {})[roi] = stop - start
    return TargetLayout(counts)


def _clean(value):
    """JSON has no NaN: write null."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _score_summary(data: dict | None) -> ScoreSummary | None:
    """:meth:`ScoreSummary.from_json`, also of a nested record that holds only one of ``score`` and ``r``
    (``{"score": {"overall": 0.52}}``: readers before this contract took the score alone)."""
    if data is None:
        return None
    score, r = data.get("score"), data.get("r")
    if isinstance(score, dict) and not isinstance(r, dict):
        unreliable = data.get("n_unreliable_voxels")
        return ScoreSummary(GroupMeans.from_json({}), GroupMeans.from_json(score),
                            None if unreliable is None else int(unreliable))
    return ScoreSummary.from_json(data)


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _int(value) -> int | None:
    return None if value is None else int(value)
