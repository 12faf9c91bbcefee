"""The movie data module for training end to end: batches of segments of consecutive TRs.

:class:`MovieSegmentDataModule` is :class:`datamodules.movies.module.MovieDataModule` (runs split
by stimulus, frames cached per movie, series standardised per run) plus a training loader of
:class:`datamodules.movies.segments.MovieSegments`. Validation predicts whole held-out runs in
the model's ``on_validation_epoch_end`` (as the ridge baseline does), so the validation loader
is the parent's single empty batch. The training order follows (seed, epoch) as the clip
mode's (:class:`datamodules.loaders.EpochOrderLoaders`): a run resumed from a checkpoint saved
part-way through an epoch (a SLURM requeue) trains the segments the interrupted run had left.

The model sets :attr:`context_frames` (its temporal window less one frame) in its ``setup``,
before the loaders are made.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules.loaders import EpochOrderLoaders
from datamodules.movies.frame_cache import cache_file, cached_frames
from datamodules.movies.module import MovieDataModule
from datamodules.movies.segments import MovieSegments, check_rate


class MovieSegmentDataModule(EpochOrderLoaders, MovieDataModule):
    """Parameters of :class:`MovieDataModule` (passed on as keywords), plus

    segment_trs : consecutive TRs per training segment (one forward pass computes each of its
        frames once; activation memory grows with ``batch_size x (segment_trs x tr + window_s)
        x rate_hz`` frames)
    segment_stride : TRs between the starts of a run's segments (an epoch sees each TR about
        ``segment_trs / segment_stride`` times)
    batch_size : segments per training step (the correlation is over all their TRs, per subject)
    num_workers : loader processes
    seed : the training order's seed (mixed with the run's ``seed_everything``)
    """

    def __init__(self, segment_trs: int = 16, segment_stride: int = 8, batch_size: int = 2,
                 num_workers: int = 0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        check_rate(self.hparams.rate_hz, self.hparams.tr)
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        self.context_frames: int | None = None
        self._maps: dict[str, np.ndarray] = {}

    @property
    def head_subjects(self) -> list[str]:
        """Subjects with training runs, in head order (after :meth:`setup`)."""
        return sorted(s for s, runs in self.train_runs.items() if runs)

    def frame_map(self, movie: str | Path) -> np.ndarray:
        """The movie's cached frames, memory-mapped (decoded into the cache first if needed)."""
        key = str(movie)
        if key not in self._maps:
            h = self.hparams
            cached_frames(movie, h.rate_hz, h.image_size, h.cache_dir)
            path = cache_file(h.cache_dir, movie, h.rate_hz, h.image_size)
            self._maps[key] = np.load(path, mmap_mode="r")
        return self._maps[key]

    def segments(self) -> MovieSegments:
        if self.context_frames is None:
            raise RuntimeError("MovieSegmentDataModule.context_frames is set by the model's setup "
                               "(MovieFinetune) before the loaders are made")
        h = self.hparams
        return MovieSegments(self.train_runs, self.head_subjects, self.responses, self.frame_map,
                             h.segment_trs, h.segment_stride, self.context_frames, h.rate_hz, h.tr)

    def train_dataloader(self):
        return self._loader(self.segments(), shuffle=True)
