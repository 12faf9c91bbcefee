"""``summary.json``: a run's best and last validation scores, its baselines' and its checkpoints,
as :class:`RunSummaryRecord`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scoring.summary import GroupMeans, ScoreSummary


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
