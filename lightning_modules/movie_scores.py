"""The movie mode's validation summary: the Algonauts 2025 score of whole held-out runs, per
subject and per Schaefer network, as a :class:`scoring.summary.ScoreSummary` (what
``summary.json`` and TensorBoard take). The same computation as
:meth:`lightning_modules.movie_ridge.MovieRidge.on_validation_epoch_end`."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scoring.schaefer import parcel_networks
from scoring.summary import GroupMeans, ScoreSummary
from scoring.timeseries import TimeseriesScore, score_subjects


def movie_summary(predictions: Mapping[str, Mapping[str, np.ndarray]],
                  targets: Mapping[str, Mapping[str, np.ndarray]],
                  n_parcels: int, networks: list[str] | None = None
                  ) -> tuple[TimeseriesScore, ScoreSummary]:
    """``{subject: {run: (n_TRs, n_parcels)}}`` predicted and measured -> the score and its
    summary (overall, per subject, per network, per (subject, network)); ``networks`` (n_parcels,)
    names each parcel's network (default :func:`scoring.schaefer.parcel_networks`'s)."""
    score = score_subjects(predictions, targets)
    networks = np.array(parcel_networks(n_parcels) if networks is None else networks)
    names = list(dict.fromkeys(networks))
    groups = {(s, n): float(np.nanmean(r[networks == n])) for s, r in score.per_parcel.items()
              for n in names}
    rois = {n: float(np.mean([v for (_, m), v in groups.items() if m == n])) for n in names}
    return score, ScoreSummary(GroupMeans(score.overall, score.per_subject, rois, groups))
