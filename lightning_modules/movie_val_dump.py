"""A movie run's validation as ``val_predictions.npz`` (the run folder's file for the best
validation's predictions, targets and per-target r), so ``report.py`` can draw per-parcel maps.

Rows are the validation runs' TRs: every run name any subject has, in sorted order, each as long
as its longest subject's run; a subject without that run (or with a TR fewer) has NaN there.
Columns: each subject's parcels in label order, one ``(subject, "parcels")`` group per subject.
``r`` is each parcel's Pearson r over the subject's own validation TRs (the official per-parcel
score, not recomputed from the padded rows); ``noise_ceiling`` is the r between the subject's
measured repeats (Movie10 ``run-1`` / ``run-2``; NaN without repeats), so the file's
``score = r / sqrt(noise_ceiling)`` is the normalised-by-repeats score.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scoring.layout import TargetLayout

#: The region name of a movie run's parcels in ``val_predictions.npz``.
PARCELS_ROI = "parcels"


def movie_validation_arrays(predictions: Mapping[str, Mapping[str, np.ndarray]],
                            targets: Mapping[str, Mapping[str, np.ndarray]],
                            per_parcel: Mapping[str, np.ndarray],
                            reliability: Mapping[str, np.ndarray | None]) -> dict:
    """Keyword arguments of :meth:`run_folder.contract.RunFolder.write_predictions` (less
    ``epoch`` and ``score``) from ``{subject: {run: (n_TRs, n_parcels)}}`` predictions and targets,
    ``{subject: (n_parcels,)}`` r and ``{subject: (n_parcels,) or None}`` repeat reliability."""
    subjects = sorted(targets)
    n_parcels = {s: len(per_parcel[s]) for s in subjects}
    names = sorted({name for s in subjects for name in targets[s]})
    lengths = [max(len(targets[s][name]) for s in subjects if name in targets[s]) for name in names]
    starts = np.concatenate([[0], np.cumsum(lengths)])
    n_columns = sum(n_parcels.values())
    pred = np.full((int(starts[-1]), n_columns), np.nan, np.float32)
    true = np.full_like(pred, np.nan)
    column = 0
    for s in subjects:
        for i, name in enumerate(names):
            if name in targets[s]:
                n = len(targets[s][name])
                pred[starts[i]:starts[i] + n, column:column + n_parcels[s]] = predictions[s][name]
                true[starts[i]:starts[i] + n, column:column + n_parcels[s]] = targets[s][name]
        column += n_parcels[s]
    ceiling = [np.full(n_parcels[s], np.nan) if reliability.get(s) is None else reliability[s]
               for s in subjects]
    return {
        "predictions": pred, "targets": true,
        "r": np.concatenate([per_parcel[s] for s in subjects]),
        "noise_ceiling": np.concatenate(ceiling).astype(np.float32),
        "video_index": np.arange(len(pred)),
        "video_names": [f"{name}@TR{t}" for name, n in zip(names, lengths, strict=True)
                        for t in range(n)],
        "layout": TargetLayout({s: {PARCELS_ROI: n_parcels[s]} for s in subjects}),
    }
