"""The movie time-series data module: runs of every subject split by stimulus, frames cached per
movie, series standardised per run.

It holds no batches of its own: the ridge baseline (:class:`lightning_modules.movie_ridge.MovieRidge`)
reads whole runs through :meth:`responses` and :meth:`frames`; Lightning's loops get one empty batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from torch.utils.data import DataLoader

from datamodules.movies.files import (
    ALGONAUTS_2025_TR,
    TASKS,
    MovieDataError,
    MovieRun,
    list_runs,
    list_subjects,
    load_run,
    movie_path,
    read_sample_numbers,
)
from datamodules.movies.frame_cache import cached_frames
from datamodules.movies.split import default_val_stimuli, split_runs


class MovieDataModule(pl.LightningDataModule):
    """Algonauts 2025 movie fMRI (``ROOT/fmri``, ``ROOT/stimuli/movies``).

    Parameters
    ----------
    root : the release's folder
    subjects : e.g. ``[sub-01]``; None: every subject under ``ROOT/fmri``
    tasks : ``friends`` and/or ``movie10`` (default both)
    tr : seconds per TR
    val_stimuli : stimuli held out for validation with all their runs (``s01e02a``, ``bourne01``);
        None: the last ``n_val`` Friends stimuli by name
    n_val : see ``val_stimuli``
    rate_hz, image_size : frames sampled per second, resized to ``image_size`` square
    cache_dir : where decoded frames are kept (one file per movie)
    """

    def __init__(self, root: str = "data/movies", subjects: list[str] | None = None,
                 tasks: list[str] | None = None, tr: float = ALGONAUTS_2025_TR,
                 val_stimuli: list[str] | None = None, n_val: int = 1, rate_hz: float = 2.0,
                 image_size: int = 224, cache_dir: str = "cache/movie_frames"):
        super().__init__()
        self.save_hyperparameters()
        self.root = Path(root)
        self.train_runs: dict[str, list[MovieRun]] = {}
        self.val_runs: dict[str, list[MovieRun]] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.train_runs:
            return
        h = self.hparams
        subjects = h.subjects or list_subjects(self.root)
        runs = {s: list_runs(self.root, s, tuple(h.tasks or TASKS), h.tr) for s in subjects}
        every = [r for rs in runs.values() for r in rs]
        val = h.val_stimuli if h.val_stimuli is not None else default_val_stimuli(every, h.n_val)
        for subject, subject_runs in runs.items():
            self.train_runs[subject], self.val_runs[subject] = split_runs(subject_runs, val, known=every)
        parcels = {r.n_parcels for r in every}
        if len(parcels) != 1:
            raise MovieDataError(f"{self.root}: runs differ in their number of parcels {sorted(parcels)}")
        self.n_parcels = parcels.pop()

    def responses(self, run: MovieRun) -> np.ndarray:
        """float32 (n_TRs, n_parcels), each parcel z-scored over the run (constant parcels: 0)."""
        data = load_run(run)
        sd = data.std(0)
        return ((data - data.mean(0)) / np.where(sd > 0, sd, 1)).astype(np.float32)

    def frames(self, movie: str | Path) -> np.ndarray:
        """uint8 (n_samples, 3, image_size, image_size) at ``rate_hz`` from the first frame."""
        return cached_frames(movie, self.hparams.rate_hz, self.hparams.image_size, self.hparams.cache_dir)

    def test_episodes(self, split: str = "friends-s7") -> dict[str, dict[str, tuple[Path, int]]]:
        """``{subject: {episode: (movie, n_TRs to predict)}}`` from ``target_sample_number``."""
        counts = read_sample_numbers(self.root, split, self.hparams.subjects or list_subjects(self.root))
        out = {}
        for subject, episodes in counts.items():
            out[subject] = {}
            for episode, n in episodes.items():
                movie = movie_path(self.root, "friends", episode)
                if not movie.is_file():
                    raise MovieDataError(f"{movie}: no movie for test episode {episode} of {subject}")
                out[subject][episode] = (movie, int(n))
        return out

    def train_dataloader(self):  # the ridge learns in on_fit_start; the loop gets one empty batch
        return DataLoader([0], batch_size=1)

    def val_dataloader(self):
        return DataLoader([0], batch_size=1)
