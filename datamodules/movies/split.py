"""Training and validation runs split by stimulus: every run of a held-out stimulus (all its
repetitions) is validation, so no TR of a validation run sits next to, or repeats, a training TR."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from datamodules.movies.files import MovieDataError, MovieRun


def default_val_stimuli(runs: Sequence[MovieRun], n_val: int) -> list[str]:
    """The last ``n_val`` Friends stimuli (sorted by name) any subject has; with no Friends runs,
    the last ``n_val`` stimuli."""
    stimuli = sorted({r.stimulus for r in runs})
    friends = sorted({r.stimulus for r in runs if r.task == "friends"}) or stimuli
    return friends[-n_val:] if n_val > 0 else []


def split_runs(runs: Sequence[MovieRun], val_stimuli: Sequence[str],
               known: Sequence[MovieRun] | None = None) -> tuple[list[MovieRun], list[MovieRun]]:
    """(training runs, validation runs): a run is validation when its stimulus is in
    ``val_stimuli``. A named stimulus that no run of ``known`` (default ``runs``: pass every
    subject's runs) shows, or a split leaving no training run, is an error."""
    val_stimuli = set(val_stimuli)
    unknown = sorted(val_stimuli - {r.stimulus for r in (runs if known is None else known)})
    if unknown:
        raise MovieDataError(f"data.val_stimuli: {unknown} not among the release's stimuli "
                             f"{sorted({r.stimulus for r in runs})}")
    train = [r for r in runs if r.stimulus not in val_stimuli]
    val = [r for r in runs if r.stimulus in val_stimuli]
    if not train:
        where = runs[0].subject if runs else "the release"
        raise MovieDataError(f"data.val_stimuli {sorted(val_stimuli)} leaves {where} no training "
                             "run")
    return train, val


def stimulus_groups(runs: Sequence[MovieRun]) -> tuple[np.ndarray, list[str]]:
    """Each TR of ``runs`` (concatenated in order) labelled by its stimulus, (sum of n_TRs,) int,
    and the stimuli in label order: the groups a CV must keep whole."""
    stimuli = sorted({r.stimulus for r in runs})
    return np.repeat([stimuli.index(r.stimulus) for r in runs], [r.n_trs for r in runs]), stimuli
