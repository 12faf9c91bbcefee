"""Every selected recording's responses side by side, read as slices, never stacked in memory.

A whole-brain BOLD Moments release is ten subjects of about 108k voxels: its train responses side
by side are (1000, 3, 1.08M) float32, 13 GB. Each subject's array is a memory-mapped float32 cache
(:mod:`datamodules.response_cache`); :class:`StackedResponses` presents them as one
``(n_videos, n_repetitions, n_voxels_total)`` array in the flat order of
:class:`scoring.layout.TargetLayout` and reads only what is asked for:

- ``stack[rows]`` (an int, a slice or an int array of videos): those videos' rows of every voxel,
  ``(..., n_repetitions, n_voxels_total)`` (a batch of the data loader: 13 MB a video);
- ``stack.columns(start, stop)`` or ``stack[..., start:stop]``: every video's responses of a range
  of voxels, reading only the recordings that hold them;
- :meth:`StackedResponses.repetition_means`: the repetition means ``(n_videos, n_voxels_total)``,
  computed once in voxel blocks and written to a float32 ``.npy`` beside the cache (4.3 GB for the
  whole release), then read memory-mapped.

Where every recording is already in memory (regions, small releases) the data module keeps the
plain concatenated array (:meth:`datamodules.sources.base.Release.stacked_train`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from datamodules.dataset import mean_over_repetitions
from datamodules.voxel_checks import VoxelReport, check_voxels
from scoring.noise_ceiling import noise_ceiling

#: Voxels per block when a pass runs over every voxel (a block of 1000 x 3 videos is 200 MB).
COLUMN_BLOCK = 16384


class StackedResponses:
    """``parts`` (each ``(n_videos, n_repetitions, n_voxels_i)``, in memory or ``np.memmap``) side by
    side along the voxel axis, as one read-only array-like of shape ``(n_videos, n_repetitions,
    sum n_voxels_i)``, dtype float32."""

    def __init__(self, parts: Sequence[np.ndarray]):
        if not parts:
            raise ValueError("StackedResponses needs at least one response array")
        first = parts[0].shape[:2]
        for part in parts:
            if part.ndim != 3 or part.shape[:2] != first:
                raise ValueError(f"response arrays must agree on (videos, repetitions) {first}, got {part.shape}")
        self.parts = list(parts)
        self.offsets = np.concatenate([[0], np.cumsum([p.shape[2] for p in parts])]).astype(np.int64)
        self.shape = (*first, int(self.offsets[-1]))
        self.dtype = np.dtype(np.float32)
        self.ndim = 3
        self._means: np.ndarray | None = None

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def __getitem__(self, key):
        if isinstance(key, tuple):
            if len(key) == 2 and key[0] is Ellipsis and isinstance(key[1], slice) and key[1].step in (None, 1):
                start, stop, _ = key[1].indices(self.shape[2])
                return self.columns(start, stop)
            raise TypeError("StackedResponses takes rows (stack[rows]) or a voxel range (stack[..., a:b]), "
                            f"got {key!r}")
        return np.concatenate([np.asarray(part[key], dtype=np.float32) for part in self.parts], axis=-1)

    def columns(self, start: int, stop: int) -> np.ndarray:
        """Every video's responses of voxels ``start:stop``, ``(n_videos, n_repetitions, stop - start)``."""
        stop = max(start, stop)
        pieces = []
        for part, lo, hi in zip(self.parts, self.offsets[:-1], self.offsets[1:], strict=True):
            a, b = max(start, lo), min(stop, hi)
            if a < b:
                pieces.append(np.asarray(part[:, :, a - lo:b - lo], dtype=np.float32))
        if not pieces:
            return np.empty((*self.shape[:2], 0), np.float32)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=2)

    def blocks(self, size: int = COLUMN_BLOCK) -> Iterator[slice]:
        """Consecutive voxel ranges of at most ``size`` that never straddle two recordings."""
        for lo, hi in zip(self.offsets[:-1], self.offsets[1:], strict=True):
            for start in range(int(lo), int(hi), size):
                yield slice(start, min(start + size, int(hi)))

    def __array__(self, dtype=None, copy=None):
        out = self.columns(0, self.shape[2])  # the whole array: only for small releases and tests
        return out if dtype is None else out.astype(dtype)

    def astype(self, dtype, copy: bool = True) -> np.ndarray:
        return np.asarray(self).astype(dtype)

    def repetition_means(self) -> np.ndarray:
        """Means over the repetitions present (NaN ignored; NaN where a video has none),
        ``(n_videos, n_voxels_total)`` float32; memory-mapped from a file beside the first
        recording's cache when every recording is memory-mapped, else in memory."""
        if self._means is None:
            self._means = self._compute_means()
        return self._means

    def _means_path(self) -> Path | None:
        if not all(isinstance(p, np.memmap) and p.filename for p in self.parts):
            return None
        digest = hashlib.blake2b(digest_size=12)
        for part in self.parts:
            stat = os.stat(part.filename)
            digest.update(f"{part.filename}|{stat.st_size}|{stat.st_mtime_ns}|{part.shape}".encode())
        return Path(self.parts[0].filename).parent / f"means-{digest.hexdigest()}.f32.npy"

    def _compute_means(self) -> np.ndarray:
        path = self._means_path()
        if path is not None and path.is_file():
            return np.load(path, mmap_mode="r")
        shape = (self.shape[0], self.shape[2])
        if path is None:
            out = np.empty(shape, np.float32)
        else:
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npy")
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        for block in self.blocks():
            out[:, block] = mean_over_repetitions(self.columns(block.start, block.stop))
        if path is None:
            return out
        out.flush()
        del out
        os.replace(tmp, path)
        return np.load(path, mmap_mode="r")


def voxel_report(responses, means: np.ndarray, rows: np.ndarray) -> VoxelReport:
    """:func:`datamodules.voxel_checks.check_voxels` of ``responses`` (an array or a
    :class:`StackedResponses`) with constancy judged over ``means[rows]``, in voxel blocks for a stack."""
    if not isinstance(responses, StackedResponses):
        return check_voxels(responses, means[rows])
    reports = [check_voxels(responses.columns(b.start, b.stop), means[:, b][rows]) for b in responses.blocks()]
    return VoxelReport(*(np.concatenate([getattr(r, kind) for r in reports])
                         for kind in ("missing", "unmeasured", "constant")))


def split_noise_ceiling(responses, rows) -> np.ndarray:
    """:func:`scoring.noise_ceiling.noise_ceiling` of ``responses[rows]`` (float64 ``(n_voxels_total,)``),
    in voxel blocks for a :class:`StackedResponses`."""
    if not isinstance(responses, StackedResponses):
        return noise_ceiling(responses[rows])
    return np.concatenate([noise_ceiling(responses.columns(b.start, b.stop)[rows]) for b in responses.blocks()])
