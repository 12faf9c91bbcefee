"""The movie modes' validation, shared by the ridge baseline and the fine-tuned model: whole
held-out runs predicted, scored the Algonauts 2025 way (Pearson r per parcel, mean over parcels
and subjects) per subject and per Schaefer network as a :class:`scoring.summary.ScoreSummary`
(what ``summary.json`` and TensorBoard take), the score normalised by the repeats' reliability
logged beside it (labelled as not the official one), and the arrays of ``val_predictions.npz``
for ``report.py``'s per-parcel maps.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from pytorch_lightning.utilities import rank_zero_info

from lightning_modules.movie_val_dump import movie_validation_arrays
from scoring.schaefer import parcel_networks
from scoring.summary import GroupMeans, ScoreSummary
from scoring.timeseries import (
    TimeseriesScore,
    normalised_r,
    reliability_from_repeats,
    score_subjects,
)

#: The logged score normalised by the repeats' reliability (labelled so, never the official one).
NORMALISED_KEY = "normalised_r_by_repeats"


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


class MovieValidation:
    """Validation of a movie model (a LightningModule with ``predict_runs(datamodule, subject,
    [(movie, n_TRs)]) -> [(n_TRs, n_parcels)]``) on the data module's ``val_runs``."""

    def score_held_out(self, datamodule, fitted_subjects) -> tuple[TimeseriesScore, ScoreSummary]:
        """Predict every held-out run of the subjects in ``fitted_subjects`` whole and score them;
        keeps ``val_predictions``, ``val_targets`` (``{subject: {run: (n_TRs, n_parcels)}}``) and
        ``val_per_parcel`` (``{subject: (n_parcels,)}``)."""
        predictions, targets = {}, {}
        for subject, runs in datamodule.val_runs.items():
            if runs and subject in fitted_subjects:
                pred = self.predict_runs(datamodule, subject, [(r.movie_path, r.n_trs) for r in runs])
                predictions[subject] = {r.name: p for r, p in zip(runs, pred, strict=True)}
                targets[subject] = {r.name: datamodule.responses(r) for r in runs}
        if not targets:
            raise ValueError("no subject has a validation run: name data.val_stimuli that subjects have")
        # each parcel's network from the atlas's label names where the release has them
        networks = datamodule.networks()[0] if hasattr(datamodule, "networks") else None
        score, summary = movie_summary(predictions, targets, datamodule.n_parcels, networks)
        self.val_predictions, self.val_targets = predictions, targets
        self.val_per_parcel = score.per_parcel
        return score, summary

    def log_held_out(self, datamodule, score: TimeseriesScore, summary: ScoreSummary) -> None:
        """``val/score`` (official), its groups, ``val/normalised_r_by_repeats[/subject]``, and a
        console line that says which is which."""
        self.log("val/score", score.overall, prog_bar=True)
        self.log_dict({f"val/{k}": v for k, v in summary.logged(per_group=False).items()})
        normalised = self.normalised_by_repeats(datamodule, score.per_parcel)
        self.log_dict({f"val/{k}": v for k, v in normalised.items()})
        line = (f"val/score {score.overall:.4f} (official: Pearson r per parcel, mean over parcels "
                "and subjects)")
        if NORMALISED_KEY in normalised:
            line += (f"; val/{NORMALISED_KEY} {normalised[NORMALISED_KEY]:.4f} (normalised: "
                     "r / sqrt(r between repeated runs), not the official score)")
        rank_zero_info(line)

    def repeat_reliability(self, datamodule, subject: str) -> np.ndarray | None:
        """(n_parcels,) r between the measured run-1 and run-2 of ``subject``'s repeated segments
        (:meth:`MovieDataModule.repeated_runs`), or None where it saw none twice; computed once."""
        cache = self.__dict__.setdefault("_reliability", {})
        if subject not in cache:
            pairs = (datamodule.repeated_runs(subject) if hasattr(datamodule, "repeated_runs")
                     else [])
            cache[subject] = reliability_from_repeats(
                [(datamodule.responses(a), datamodule.responses(b)) for a, b in pairs])
        return cache[subject]

    def normalised_by_repeats(self, datamodule,
                              per_parcel: dict[str, np.ndarray]) -> dict[str, float]:
        """``normalised_r_by_repeats[/<subject>]``: each parcel's validation r divided by the r a
        perfect model could reach, sqrt(r between the measured repeats), averaged over the parcels
        whose repeats agree (reliability > 0), then over subjects with repeats. Not the official
        score (that is ``val/score``, raw r); {} where no subject has repeats."""
        out = {}
        for subject, r in per_parcel.items():
            reliability = self.repeat_reliability(datamodule, subject)
            if reliability is not None and (reliability > 0).any():
                value = np.nanmean(normalised_r(r, reliability))
                out[f"{NORMALISED_KEY}/{subject}"] = float(value)
        if out:
            out[NORMALISED_KEY] = float(np.mean(list(out.values())))
        return out

    def validation_arrays(self) -> dict:
        """The last validation as :meth:`run_folder.contract.RunFolder.write_predictions`'s
        keyword arguments (less ``epoch`` and ``score``)."""
        cached = self.__dict__.get("_reliability", {})
        return movie_validation_arrays(self.val_predictions, self.val_targets, self.val_per_parcel,
                                       {s: cached.get(s) for s in self.val_targets})
