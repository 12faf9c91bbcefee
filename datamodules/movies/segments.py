"""Segments of consecutive TRs with the frames they need, for training end to end on movies.

A segment is ``n_trs`` consecutive TRs of one run starting at TR ``start``. Its frames are the
samples at ``rate_hz`` inside those TRs (TR ``t`` covers ``[t tr, (t + 1) tr)``, as
:func:`datamodules.movies.frame_cache.tr_means`) plus ``context`` samples before the first, so
that a temporal stage reaching ``context + 1`` frames back sees a full window at every kept TR.
Frame positions before the movie starts read frame 0, past its end the last frame (as
``tr_means`` repeats the last sample); positions are absolute, so the same TR gets the same
frames from any segment that holds it.

:class:`MovieSegments` is the training Dataset: every (subject, run, start) with starts
``stride`` TRs apart, each item the segment's frames (uint8, from the frame cache, memory-mapped)
and its responses standardised per run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.movies.files import MovieDataError, MovieRun


def check_rate(rate_hz: float, tr: float) -> None:
    if not rate_hz * tr >= 1:
        raise MovieDataError(f"data.rate_hz {rate_hz} x data.tr {tr} < 1: some TRs would hold "
                             "no frame; raise data.rate_hz")


def max_frames(n_trs: int, rate_hz: float, tr: float, context: int) -> int:
    """The most frames any segment of ``n_trs`` TRs holds (its padded length)."""
    return context + math.ceil(n_trs * tr * rate_hz) + 1


@dataclass(frozen=True)
class SegmentFrames:
    """Where a segment's frames come from and how they make its TRs.

    Attributes
    ----------
    positions : int64 (n_frames,), sample indices (may be < 0 before the movie, >= n_samples after)
    read : int64 (n_frames,), the frame actually read for each position (clamped into the movie)
    pool : float32 (n_trs, n_frames), row t averages the frames inside TR ``start + t``
    """

    positions: np.ndarray
    read: np.ndarray
    pool: np.ndarray


def segment_frames(start: int, n_trs: int, rate_hz: float, tr: float, context: int, n_samples: int,
                   pad_to: int | None = None) -> SegmentFrames:
    """The frames of TRs ``start .. start + n_trs - 1`` with ``context`` frames before them.

    ``pad_to``: the number of frames to return (extra positions repeat the last, with no weight
    in ``pool``), so that segments stack into one batch.
    """
    check_rate(rate_hz, tr)
    first = math.floor(start * tr * rate_hz) - 1
    last = math.ceil((start + n_trs) * tr * rate_hz) + 1
    k = np.arange(first, last + 1)
    which = np.floor(k / rate_hz / tr + 1e-9).astype(np.int64)
    keep = (which >= start) & (which < start + n_trs)
    k0, k1 = int(k[keep][0]), int(k[keep][-1])
    positions = np.arange(k0 - context, k1 + 1)
    n = len(positions)
    if pad_to is not None:
        if pad_to < n:
            raise ValueError(f"pad_to {pad_to} < the segment's {n} frames")
        positions = np.concatenate([positions, np.full(pad_to - n, positions[-1])])
    pool = np.zeros((n_trs, len(positions)), np.float32)
    tr_of = np.floor(positions[:n] / rate_hz / tr + 1e-9).astype(np.int64) - start
    inside = (tr_of >= 0) & (tr_of < n_trs) & (np.arange(n) >= context)
    pool[tr_of[inside], np.flatnonzero(inside)] = 1.0
    pool /= pool.sum(1, keepdims=True)
    return SegmentFrames(positions, np.clip(positions, 0, n_samples - 1), pool)


class MovieSegments(Dataset):
    """Every segment of ``n_trs`` TRs starting ``stride`` TRs apart in every run of ``runs``.

    Parameters
    ----------
    runs : ``{subject: [MovieRun, ...]}`` (the training runs, already split by stimulus)
    subjects : the subjects in head order (item ``subject`` is an index into it)
    responses : run -> float32 (n_TRs, n_parcels) standardised
    frames : movie path -> uint8 (n_samples, 3, H, W) (a memory map is best)
    n_trs, stride, context, rate_hz, tr : see :func:`segment_frames`

    Items: ``frames`` uint8 (n_frames, 3, H, W), ``pool`` float32 (n_trs, n_frames),
    ``targets`` float32 (n_trs, n_parcels), ``subject`` int64 (); ``n_frames`` is the same for
    every item (:func:`max_frames`).
    """

    def __init__(self, runs: dict[str, Sequence[MovieRun]], subjects: Sequence[str],
                 responses: Callable[[MovieRun], np.ndarray], frames: Callable[[str], np.ndarray],
                 n_trs: int, stride: int, context: int, rate_hz: float, tr: float):
        if n_trs < 2 or stride < 1:
            raise ValueError(f"data.segment_trs must be >= 2 and data.segment_stride >= 1, "
                             f"got {n_trs}, {stride}")
        check_rate(rate_hz, tr)
        self.subjects, self.n_trs, self.context = list(subjects), n_trs, context
        self.rate_hz, self.tr = rate_hz, tr
        self.responses_of, self.frames_of = responses, frames
        self.n_frames = max_frames(n_trs, rate_hz, tr, context)
        self.items: list[tuple[str, MovieRun, int]] = []
        for subject in sorted(runs):
            for run in runs[subject]:
                if run.n_trs < n_trs:
                    raise MovieDataError(f"{run.where}: {run.n_trs} TRs, shorter than "
                                         f"data.segment_trs {n_trs}")
                starts = list(range(0, run.n_trs - n_trs + 1, stride))
                if starts[-1] != run.n_trs - n_trs:
                    starts.append(run.n_trs - n_trs)  # the run's last TRs too
                self.items += [(subject, run, s) for s in starts]
        if not self.items:
            raise MovieDataError("no training segments: no subject has a training run")
        self._responses: dict[MovieRun, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        # (position, epoch) from datamodules.sampling.EpochOrderSampler; a segment draws nothing
        index = key[0] if isinstance(key, tuple) else key
        subject, run, start = self.items[index]
        if run not in self._responses:
            self._responses[run] = self.responses_of(run)
        movie = self.frames_of(str(run.movie_path))
        seg = segment_frames(start, self.n_trs, self.rate_hz, self.tr, self.context, len(movie),
                             self.n_frames)
        return {"frames": torch.from_numpy(np.ascontiguousarray(movie[seg.read])),
                "pool": torch.from_numpy(seg.pool),
                "targets": torch.from_numpy(self._responses[run][start:start + self.n_trs]),
                "subject": torch.tensor(self.subjects.index(subject))}
