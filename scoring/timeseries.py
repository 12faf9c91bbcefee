"""Scores of predicted fMRI time series, as Algonauts 2025 scores them, and a normalised variant.

The official score: for each subject, Pearson r per parcel between the predicted and measured
series over the held-out runs' TRs (the runs concatenated), averaged over parcels, then over
subjects. It has no noise ceiling. Where a segment was shown twice (Movie10's ``run-1`` and
``run-2``), the correlation of the two measured series estimates how much of one run is
repeatable; :func:`normalised_r` divides by the r that such a run allows, and is labelled as
that, never as the official score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from scoring.pearson import pearson_r


def _concatenate(name: str, runs: Sequence[np.ndarray]) -> np.ndarray:
    if len(runs) == 0:
        raise ValueError(f"{name}: no runs to score")
    arrays = [np.asarray(r, np.float64) for r in runs]
    if any(a.ndim != 2 for a in arrays):
        raise ValueError(f"{name}: every run must be (n_TRs, n_parcels), got "
                         f"{[a.shape for a in arrays]}")
    return np.concatenate(arrays)


def parcel_r(predictions: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> np.ndarray:
    """Pearson r per parcel over the TRs of all runs, concatenated in the given order.

    Parameters
    ----------
    predictions, targets : lists of (n_TRs_i, n_parcels) arrays, run ``i`` in both

    Returns
    -------
    (n_parcels,) float64; 0 for a parcel constant in either series.
    """
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predicted runs but {len(targets)} measured ones")
    for i, (p, t) in enumerate(zip(predictions, targets, strict=True)):
        if np.shape(p) != np.shape(t):
            raise ValueError(f"run {i}: prediction {np.shape(p)} and measurement {np.shape(t)} "
                             "differ in shape")
    return pearson_r(_concatenate("predictions", predictions), _concatenate("targets", targets))


@dataclass
class TimeseriesScore:
    """The official score and its parts.

    Attributes
    ----------
    per_parcel : {subject: (n_parcels,) r}
    per_subject : {subject: mean r over parcels}
    overall : mean of ``per_subject`` (subjects count equally)
    """

    per_parcel: dict[str, np.ndarray]
    per_subject: dict[str, float]
    overall: float


def score_subjects(predictions: Mapping[str, Mapping[str, np.ndarray]],
                   targets: Mapping[str, Mapping[str, np.ndarray]]) -> TimeseriesScore:
    """The Algonauts 2025 score of ``{subject: {run: (n_TRs, n_parcels)}}`` against the same.

    Every measured run of a subject must be predicted (a missing one is an error naming it);
    runs are concatenated in sorted key order before the per-parcel r.
    """
    if not targets:
        raise ValueError("no subjects to score")
    per_parcel = {}
    for subject in sorted(targets):
        if subject not in predictions:
            raise ValueError(f"{subject}: no predictions")
        missing = sorted(set(targets[subject]) - set(predictions[subject]))
        if missing:
            raise ValueError(f"{subject}: no prediction for run(s) {missing}")
        runs = sorted(targets[subject])
        per_parcel[subject] = parcel_r([predictions[subject][r] for r in runs],
                                       [targets[subject][r] for r in runs])
    per_subject = {s: float(r.mean()) for s, r in per_parcel.items()}
    return TimeseriesScore(per_parcel, per_subject, float(np.mean(list(per_subject.values()))))


def repeat_reliability(first: Sequence[np.ndarray], second: Sequence[np.ndarray]) -> np.ndarray:
    """Pearson r per parcel between two measured repetitions of the same segments, (n_parcels,).

    ``first[i]`` and ``second[i]`` are the two runs of segment ``i`` (e.g. ``run-1``, ``run-2``);
    lengths must match (trim to the shorter beforehand).
    """
    return parcel_r(first, second)


def reliability_from_repeats(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray | None:
    """Per-parcel r between the two measured runs of repeated segments, (n_parcels,), or None
    without any pair. Each pair ``(run-1, run-2)`` (n_TRs_i, n_parcels) is trimmed to the shorter
    run (a scan may hold a TR more); the pairs are concatenated as :func:`repeat_reliability`
    does."""
    if not pairs:
        return None
    first, second = [], []
    for a, b in pairs:
        n = min(len(a), len(b))
        first.append(np.asarray(a)[:n])
        second.append(np.asarray(b)[:n])
    return repeat_reliability(first, second)


def normalised_r(r: np.ndarray, reliability: np.ndarray, n_averaged: int = 1) -> np.ndarray:
    """``r`` divided by the r a perfect model could reach, estimated from repeated runs.

    With ``reliability`` = r between two single runs (:func:`repeat_reliability`), the r of the
    noise-free series with one run is ``sqrt(reliability)``; with the mean of ``n_averaged``
    runs, ``sqrt(k rel / (1 + (k - 1) rel))`` (Spearman-Brown). NaN where the reliability is not
    positive (no repeatable signal to normalise by). Labelled "normalised by repeats", never
    the official score.

    ``r`` and ``reliability`` broadcast, e.g. both (n_parcels,).
    """
    if n_averaged < 1:
        raise ValueError(f"n_averaged must be >= 1, got {n_averaged}")
    rel = np.asarray(reliability, np.float64)
    ok = rel > 0
    k = float(n_averaged)
    ceiling = np.sqrt(np.where(ok, k * rel / (1 + (k - 1) * rel), 1.0))
    return np.where(ok, np.asarray(r, np.float64) / ceiling, np.nan)
