"""The movie time-series data module: runs of every subject split by stimulus, frames cached per
movie, series standardised per run.

Two layouts (:mod:`datamodules.movies.files` has them in full), told apart by the folder's
contents or chosen with ``data.layout``:

- ``algonauts2025``: ``ROOT/fmri/sub-0X/func/*_bold.h5`` and ``ROOT/stimuli/movies/...``; TR 1.49 s
  unless ``data.tr`` says otherwise.
- ``generic``: ``ROOT/movies/<name>.mkv|mp4|...`` and ``ROOT/fmri/<name>[_run-N].npy`` (one
  subject, ``sub-01``) or ``ROOT/fmri/<subject>/<name>[_run-N].npy``, each (n_TRs, n_targets);
  ``data.tr`` must be given (``--data.tr 2.0``). Test episodes for a submission, if any, in
  ``ROOT/target_sample_number/<subject>_<split>_fmri_samples.npy`` name movies of ``ROOT/movies``.

It holds no batches of its own: the ridge baseline
(:class:`lightning_modules.movie_ridge.MovieRidge`) reads whole runs through :meth:`responses` and
:meth:`frames`; Lightning's loops get one empty batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_info
from torch.utils.data import DataLoader

from datamodules.movies.atlas import atlas_file, find_atlas_labels, read_atlas_labels
from datamodules.movies.files import (
    ALGONAUTS_2025_TR,
    LAYOUTS,
    TASKS,
    MovieDataError,
    MovieRun,
    detect_layout,
    list_runs,
    list_subjects,
    load_run,
    test_movie_path,
)
from datamodules.movies.frame_cache import cached_frames
from datamodules.movies.generic import (
    generic_test_movie,
    list_generic_subject_runs,
    list_generic_subjects,
)
from datamodules.movies.samples import read_sample_numbers
from datamodules.movies.split import default_val_stimuli, split_runs
from scoring.schaefer import APPROXIMATED, FROM_NAMES, parcel_networks


class MovieDataModule(pl.LightningDataModule):
    """Movie fMRI: an Algonauts 2025 release or a generic movie folder (see the module's doc).

    Parameters
    ----------
    root : the release's folder
    subjects : e.g. ``[sub-01]``; None: every subject under ``ROOT/fmri``
    tasks : ``friends`` and/or ``movie10`` (default both; Algonauts 2025 only)
    tr : seconds per TR; None: 1.49 for Algonauts 2025, required for the generic layout
    layout : ``auto`` (from the folder's contents), ``algonauts2025`` or ``generic``
    val_stimuli : stimuli held out for validation with all their runs (``s01e02a``, ``bourne01``);
        None: the last ``n_val`` Friends stimuli by name
    n_val : see ``val_stimuli``
    rate_hz, image_size : frames sampled per second, resized to ``image_size`` square
    cache_dir : where decoded frames are kept (one file per movie)
    """

    def __init__(self, root: str = "data/movies", subjects: list[str] | None = None,
                 tasks: list[str] | None = None, tr: float | None = None,
                 val_stimuli: list[str] | None = None, n_val: int = 1, rate_hz: float = 2.0,
                 image_size: int = 224, cache_dir: str = "cache/movie_frames",
                 layout: str = "auto"):
        super().__init__()
        self.save_hyperparameters()
        self.root = Path(root)
        if layout not in ("auto", *LAYOUTS):
            raise MovieDataError(f"data.layout must be one of {('auto', *LAYOUTS)}, got {layout!r}")
        self.layout = detect_layout(self.root) if layout == "auto" else layout
        if tr is None:
            if self.layout == "generic":
                raise MovieDataError(f"{self.root}: a generic movie folder's TR is not in its "
                                     "files; give it with --data.tr SECONDS")
            self.hparams.tr = ALGONAUTS_2025_TR  # the features per TR read hparams.tr
        elif not tr > 0:
            raise MovieDataError(f"data.tr must be > 0 seconds, got {tr}")
        self.train_runs: dict[str, list[MovieRun]] = {}
        self.val_runs: dict[str, list[MovieRun]] = {}
        self._networks: tuple[list[str], str] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_runs:
            return
        h = self.hparams
        runs = {s: self.subject_runs(s) for s in self.subjects()}
        every = [r for rs in runs.values() for r in rs]
        val = h.val_stimuli if h.val_stimuli is not None else default_val_stimuli(every, h.n_val)
        for subject, subject_runs in runs.items():
            self.train_runs[subject], self.val_runs[subject] = split_runs(subject_runs, val,
                                                                          known=every)
        for run in every:
            if run.n_parcels != every[0].n_parcels:
                raise MovieDataError(f"{run.where}: {run.n_parcels} targets, but {every[0].where} "
                                     f"has {every[0].n_parcels} (every run needs the same targets)")
        self.n_parcels = every[0].n_parcels
        rank_zero_info(self.networks()[1])

    def networks(self) -> tuple[list[str], str]:
        """Each target's Schaefer network in label order, (n_parcels,) names, and a line saying
        where they came from: the label table beside the (first subject's) atlas when there is
        one, else :func:`scoring.schaefer.parcel_networks`'s approximation. A generic folder's
        targets form one group, ``all``. After :meth:`setup`."""
        if self._networks is None:
            n = self.n_parcels
            if self.layout == "generic":
                self._networks = ["all"] * n, "generic movie folder: no atlas, one group of targets"
                return self._networks
            subject = self.subjects()[0]
            try:
                atlas = atlas_file(self.root, subject)
            except MovieDataError:
                atlas = None
            table = find_atlas_labels(atlas) if atlas is not None else None
            if table is None:
                where = atlas.parent if atlas is not None else self.root / "fmri" / subject
                self._networks = (parcel_networks(n), f"Schaefer networks per parcel "
                                                      f"{APPROXIMATED}: no label table in {where}")
            else:
                self._networks = (parcel_networks(n, read_atlas_labels(table, n)),
                                  f"Schaefer networks per parcel {FROM_NAMES} in {table}")
        return self._networks

    def subjects(self) -> list[str]:
        """``data.subjects``, or every subject of the folder."""
        if self.hparams.subjects:
            return list(self.hparams.subjects)
        if self.layout == "generic":
            return list_generic_subjects(self.root)
        return list_subjects(self.root)

    def subject_runs(self, subject: str) -> list[MovieRun]:
        """Every run of ``subject``, each checked against its movie."""
        h = self.hparams
        if self.layout == "generic":
            return list_generic_subject_runs(self.root, subject, h.tr)
        return list_runs(self.root, subject, tuple(h.tasks or TASKS), h.tr)

    def repeated_runs(self, subject: str) -> list[tuple[MovieRun, MovieRun]]:
        """``(run-1, run-2)`` of every segment ``subject`` saw twice (Movie10's repeats), training
        and validation runs alike (only measured data is compared); the first two repeats of
        each. After :meth:`setup`."""
        by_stimulus: dict[str, list[MovieRun]] = {}
        for run in self.train_runs.get(subject, []) + self.val_runs.get(subject, []):
            if run.repeat is not None:
                by_stimulus.setdefault(run.stimulus, []).append(run)
        pairs = []
        for stimulus in sorted(by_stimulus):
            runs = sorted(by_stimulus[stimulus], key=lambda r: r.repeat)
            if len(runs) >= 2:
                pairs.append((runs[0], runs[1]))
        return pairs

    def responses(self, run: MovieRun) -> np.ndarray:
        """float32 (n_TRs, n_parcels), each parcel z-scored over the run (constant parcels: 0)."""
        data = load_run(run)
        sd = data.std(0)
        return ((data - data.mean(0)) / np.where(sd > 0, sd, 1)).astype(np.float32)

    def frames(self, movie: str | Path) -> np.ndarray:
        """uint8 (n_samples, 3, image_size, image_size) at ``rate_hz`` from the first frame."""
        h = self.hparams
        return cached_frames(movie, h.rate_hz, h.image_size, h.cache_dir)

    def test_episodes(self, split: str = "friends-s7") -> dict[str, dict[str, tuple[Path, int]]]:
        """``{subject: {episode: (movie, n_TRs to predict)}}`` from ``target_sample_number``
        (``split``: ``friends-s7``, or ``ood``, the out-of-distribution films)."""
        counts = read_sample_numbers(self.root, split, self.subjects())
        out = {}
        for subject, episodes in counts.items():
            out[subject] = {}
            for episode, n in episodes.items():
                try:
                    movie = (generic_test_movie(self.root, episode) if self.layout == "generic"
                             else test_movie_path(self.root, split, episode))
                except ValueError as err:
                    raise MovieDataError(f"target_sample_number of {subject} ({split}): "
                                         f"{err}") from None
                if not movie.is_file():
                    raise MovieDataError(f"{movie}: no movie for test episode {episode} of "
                                         f"{subject}")
                out[subject][episode] = (movie, int(n))
        return out

    def train_dataloader(self):  # the ridge learns in on_fit_start; the loop gets one empty batch
        return DataLoader([0], batch_size=1)

    def val_dataloader(self):
        return DataLoader([0], batch_size=1)
