"""Reading finished training runs for a report, through :class:`run_folder.contract.RunFolder`:
``summary.json``, ``config.yaml`` and ``val_predictions.npz``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from run_folder.contract import RunFolder, RunReadError, RunSummaryRecord, ValidationPredictions


@dataclass
class RunResult:
    """One training run's results.

    Attributes
    ----------
    path : the run folder (``runs/<name>/version_N``)
    name : ``<name>/version_N``, how figures label it
    summary : its ``summary.json`` (best/last/ridge scores, epochs, checkpoints)
    config : the parsed ``config.yaml``, or {} if absent
    predictions : the best validation's predictions, or None for runs that predate ``ValidationDump``
    """

    path: Path
    name: str
    summary: RunSummaryRecord
    config: dict
    predictions: ValidationPredictions | None

    @property
    def best_scores(self) -> dict:
        """``{"overall": x, "subjects": {...}, "rois": {...}, "groups": {"sub01/V1": x}}`` of the best
        epoch's noise-normalised score (NaN as None), {} where the run recorded none."""
        best = self.summary.best
        return best.score.as_json() if best is not None and best.score is not None else {}

    @property
    def whole_brain(self) -> bool:
        return bool(self.predictions and self.predictions.voxel_masks)


def load_run(run_dir: str | Path) -> RunResult:
    """Read one run folder; raises :class:`RunReadError` naming what is missing."""
    folder = RunFolder(run_dir)
    if not folder.path.is_dir():
        raise RunReadError(f"{folder.path}: run folder not found")
    return RunResult(path=folder.path, name=f"{folder.path.parent.name}/{folder.path.name}",
                     summary=folder.read_summary(), config=folder.read_config(),
                     predictions=folder.read_predictions() if folder.has_predictions else None)
