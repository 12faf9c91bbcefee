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

Each file's format has its own module (:mod:`run_folder.summary_file`, :mod:`run_folder.predictions_file`,
:mod:`run_folder.band_weights_file`, names in :mod:`run_folder.names`); this one ties them to a folder.
The package imports nothing of the project but :mod:`scoring`.
"""


from __future__ import annotations

import json
from pathlib import Path

import yaml

from run_folder.band_weights_file import BandWeightsRecord, read_band_weights, write_band_weights
from run_folder.names import (
    BAND_WEIGHTS_FILE,
    BEST_CHECKPOINT_FILENAME,
    BEST_CHECKPOINT_GLOB,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    LAST_CHECKPOINT_FILE,
    LAST_CHECKPOINT_GLOB,
    PREDICTIONS_FILE,
    SUMMARY_FILE,
    RunReadError,
)
from run_folder.predictions_file import ValidationPredictions, read_predictions, write_predictions
from run_folder.summary_file import RunSummaryRecord

__all__ = ["BAND_WEIGHTS_FILE", "BEST_CHECKPOINT_FILENAME", "BEST_CHECKPOINT_GLOB", "CHECKPOINTS_DIR", "CONFIG_FILE",
           "LAST_CHECKPOINT_FILE", "LAST_CHECKPOINT_GLOB", "PREDICTIONS_FILE", "SUMMARY_FILE", "BandWeightsRecord",
           "RunFolder", "RunReadError", "RunSummaryRecord", "ValidationPredictions", "read_band_weights",
           "read_predictions", "write_band_weights", "write_predictions"]


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
