"""Decode every video once into one memory-mapped uint8 array; later epochs read bytes.

Files in ``cache_dir`` for one cache (``<stem> = clips-<backend>-<F>f-<S>px-<key>``, or
``clips-<backend>-<F>f-<S>px-<tag>-<key>`` for consecutive frames, tag ``c15hz``: 15 Hz):

- ``<stem>.npy``: the clips, uint8 of shape (n_videos, num_frames, 3, size, size), row i is
  ``read_clip(video_paths[i], num_frames, size, backend)``. Exists only once complete.
- ``<stem>.json``: the manifest (settings, video fingerprints, undecodable videos).
- while building: ``<stem>.npy.partial`` (the array being filled) and ``<stem>.rows``
  (one byte per row, 1 = row complete, flushed as rows are written), so an interrupted
  build resumes where it stopped; ``<stem>.lock`` serialises concurrent builders.

The key hashes everything that changes the content: format version, frame sampling (spread or
consecutive at a rate, :mod:`datamodules.frame_sampling`),
resize, num_frames, size, backend and each video's fingerprint (name, bytes, mtime_ns); it and
the manifest are :mod:`datamodules.clip_cache_manifest`'s; decoding (in a process pool or not) is
:mod:`datamodules.clip_cache_decode`'s.

The partial files reserve their blocks before any row is written, so a full disk is an error
naming the path and the size, not a SIGBUS (:mod:`datamodules.clip_cache_partial`). A cache folder that cannot be written (a read-only data folder) is an error naming the folder
and the setting that moves the cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from datamodules.clip_cache_decode import decoded_rows
from datamodules.clip_cache_manifest import (
    build_manifest,
    cache_key,
    rows_in_older_caches,
    video_fingerprint,
)
from datamodules.clip_cache_partial import open_partial
from datamodules.frame_sampling import SPREAD, FrameSampling
from datamodules.video import BACKENDS, VideoDecodeError

log = logging.getLogger(__name__)

ON_ERROR = ("raise", "skip")
_FLUSH_EVERY_S = 2.0
_CACHE_SETTING = "data.cache_dir (train.py) or --cache_dir (predict.py)"


class CacheLocationError(OSError):
    """The clip cache's folder cannot be created or written (read-only data folder, ...)."""


class ClipCache:
    """A memory-mapped uint8 array of decoded clips, built once, shared by DataLoader workers.

    Parameters
    ----------
    cache_dir : folder for the cache files (created if needed).
    video_paths : the videos, in row order; row i holds ``video_paths[i]``.
    num_frames, size, backend, sampling : as in :func:`datamodules.video.read_clip`.
    on_error : ``"raise"`` (default) stops on the first undecodable video with its
        :class:`VideoDecodeError`; ``"skip"`` stores all-zero frames for it, lists it in
        :attr:`bad_videos` and the manifest, and logs a warning with the count.

    ``cache[i]`` is a read-only view of shape (num_frames, 3, size, size), uint8; copy it
    (``np.array(cache[i])``) before handing it to ``torch.from_numpy``. The memmap opens
    lazily in each process and is not pickled, so the object can go to worker processes.
    """

    def __init__(self, cache_dir: str | Path, video_paths: Sequence[str | Path], num_frames: int,
                 size: int, backend: str = "decord", on_error: str = "raise",
                 sampling: FrameSampling = SPREAD):
        if backend not in BACKENDS:
            raise ValueError(
                f"unknown video backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        if not video_paths:
            raise ValueError("ClipCache needs at least one video")
        self.cache_dir = Path(cache_dir)
        self.video_paths = [Path(p) for p in video_paths]
        self.num_frames, self.size = num_frames, size
        self.backend, self.on_error, self.sampling = backend, on_error, sampling
        self.fingerprints = [video_fingerprint(p) for p in self.video_paths]
        self.key = cache_key(self.fingerprints, num_frames, size, backend, sampling.description)
        self._mm: np.ndarray | None = None
        self._manifest: dict | None = None

    # ------------------------------------------------------------------ paths, state
    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """(n_videos, num_frames, 3, size, size)."""
        return (len(self.video_paths), self.num_frames, 3, self.size, self.size)

    @property
    def _prefix(self) -> str:
        tag = f"{self.sampling.tag}-" if self.sampling.tag else ""
        return f"clips-{self.backend}-{self.num_frames}f-{self.size}px-{tag}"

    def _file(self, suffix: str) -> Path:
        return self.cache_dir / f"{self._prefix}{self.key}{suffix}"

    @property
    def path(self) -> Path:
        """The final ``.npy`` file (exists only once the build is complete)."""
        return self._file(".npy")

    @property
    def manifest_path(self) -> Path:
        return self._file(".json")

    @property
    def is_built(self) -> bool:
        """Complete: the file renamed into place, its manifest, and every row (not cut short)."""
        if not (self.path.is_file() and self.manifest_path.is_file()):
            return False
        return self._mm is not None or self._whole()

    def _whole(self) -> bool:
        """Whether the ``.npy`` holds its header and all its rows. A copy that stopped (a disk that
        filled, ``rsync`` killed) leaves it cut short: warned, naming it, and rebuilt by :meth:`build`."""
        expected = int(np.prod(self.shape))
        try:
            with open(self.path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                read(f)
                expected += f.tell()
                size = os.fstat(f.fileno()).st_size
        except (OSError, ValueError) as err:
            log.warning("clip cache %s is unreadable (%s): it will be rebuilt", self.path, err)
            return False
        if size < expected:
            log.warning("clip cache %s is cut short (%d of %d bytes; a copy or a full disk?): it will be rebuilt",
                        self.path, size, expected)
            return False
        return True

    @property
    def manifest(self) -> dict:
        if self._manifest is None:
            if not self.is_built:
                raise RuntimeError(f"clip cache {self.path} is not built; call .build() first")
            self._manifest = json.loads(self.manifest_path.read_text())
        return self._manifest

    @property
    def bad_videos(self) -> list[Path]:
        """Videos stored as all-zero clips because they could not be decoded."""
        return [self.video_paths[b["index"]] for b in self.manifest["bad_videos"]]

    def __len__(self) -> int:
        return len(self.video_paths)

    def __repr__(self) -> str:
        return f"ClipCache({str(self.path)!r}, shape={self.shape}, built={self.is_built})"

    # ------------------------------------------------------------------ reading
    @property
    def array(self) -> np.ndarray:
        """The whole cache, read-only memmap of shape (n_videos, num_frames, 3, size, size)."""
        if self._mm is None:
            if not self.is_built:
                raise RuntimeError(f"clip cache {self.path} is not built; call .build() first")
            mm = np.load(self.path, mmap_mode="r")
            if mm.shape != self.shape or mm.dtype != np.uint8:
                raise RuntimeError(f"{self.path}: expected uint8 {self.shape}, "
                                   f"found {mm.dtype} {mm.shape}; delete it and rebuild")
            self._mm = mm
        return self._mm

    def __getitem__(self, i: int) -> np.ndarray:
        """Clip ``i``: read-only uint8 view of shape (num_frames, 3, size, size)."""
        return self.array[i]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_mm"] = None  # each process maps the file itself
        return state

    # ------------------------------------------------------------------ building
    def build(self, progress: bool = True, num_workers: int = 0) -> ClipCache:
        """Decode every video not yet cached; a no-op when the cache is complete.

        Resumes an interrupted build (completed rows are kept; failed rows are retried) and
        copies rows of unchanged videos from other caches in ``cache_dir`` with the same
        settings. ``num_workers > 0`` decodes in that many processes. Returns ``self``.
        """
        if not self.is_built:
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                lock = open(self._file(".lock"), "a")
            except OSError as err:
                raise CacheLocationError(
                    err.errno, f"{self.cache_dir}: cannot write the clip cache here ({err.strerror or err}); "
                               f"set {_CACHE_SETTING} to a writable folder") from err
            with lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building this cache
                if not self.is_built:
                    self._build(progress, num_workers)
        self._file(".rows").unlink(missing_ok=True)  # stale after a crash right at the end
        self._check_bad()
        return self

    def _check_bad(self) -> None:
        bad = self.manifest["bad_videos"]
        if not bad:
            return
        names = ", ".join(str(self.video_paths[b["index"]]) for b in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        if self.on_error == "raise":
            raise VideoDecodeError(f"{len(bad)} video(s) in clip cache {self.path} could not be "
                                   f"decoded (built with on_error='skip'): {names}{more}")
        log.warning("%d of %d videos could not be decoded; they are all-zero clips in %s: %s%s",
                    len(bad), len(self), self.path, names, more)

    def _reuse_rows(self, mm: np.ndarray, done: np.ndarray) -> list[int]:
        """Copy rows of identical videos from other complete caches with the same settings."""
        want = {json.dumps(f, sort_keys=True): i for i, f in enumerate(self.fingerprints)
                if not done[i] and f["bytes"] >= 0}
        copied = []
        for i, clip in rows_in_older_caches(self.cache_dir, self._prefix, self.manifest_path, want,
                                            self.sampling.description):
            mm[i] = clip
            copied.append(i)
        if copied:
            log.info("clip cache: reused %d unchanged rows from older caches", len(copied))
        return copied

    def _decoded(self, rows: list[int], num_workers: int) -> Iterator[tuple]:
        """Yield ``(row, frames or None, error or None)`` in order (:func:`decoded_rows`)."""
        return decoded_rows(self.video_paths, rows, self.num_frames, self.size, self.backend, num_workers,
                            self.sampling)

    def _build(self, progress: bool, num_workers: int) -> None:
        mm, status = open_partial(self._file(".npy.partial"), self._file(".rows"), self.shape, _CACHE_SETTING)
        pending = self._reuse_rows(mm, status)  # rows written but not yet marked done
        status[pending] = 1
        todo = [i for i in range(len(self)) if not status[i]]
        errors: dict[int, str] = {}
        rows_file = open(self._file(".rows"), "r+b")

        def flush() -> None:  # data first, then the rows that point at it
            mm.flush()
            for i in pending:
                rows_file.seek(i)
                rows_file.write(b"\x01")
            rows_file.flush()
            os.fsync(rows_file.fileno())
            pending.clear()

        bar = tqdm(total=len(self), initial=len(self) - len(todo), unit="clip",
                   disable=not progress,
                   desc=f"clip cache ({self.backend}, {self.num_frames}x{self.size}px"
                        f"{', ' + self.sampling.tag if self.sampling.tag else ''})")
        last = time.monotonic()
        try:
            with contextlib.closing(self._decoded(todo, num_workers)) as results:
                for i, frames, err in results:
                    if err is not None:
                        if self.on_error == "raise":
                            raise VideoDecodeError(err)
                        errors[i], frames = err, 0
                    mm[i] = frames
                    if err is None:
                        pending.append(i)
                    bar.update(1)
                    if time.monotonic() - last > _FLUSH_EVERY_S:
                        flush()
                        last = time.monotonic()
            flush()
        finally:
            with contextlib.suppress(Exception):
                flush()  # keep what is done for the next attempt
            rows_file.close()
            bar.close()
            mm = None  # unmapped before the file is moved into place
        self._finish(errors)

    def _finish(self, errors: dict[int, str]) -> None:
        """Write the manifest, then atomically move the array into place."""
        bad = [{"index": i, "name": self.video_paths[i].name, "error": e} for i, e in sorted(errors.items())]
        manifest = build_manifest(self.key, self.path.name, self.shape, self.num_frames, self.size, self.backend,
                                  self.fingerprints, bad, self.sampling.description,
                                  {"kind": self.sampling.kind, "rate": self.sampling.rate})
        tmp = self._file(".json.partial")
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, self.manifest_path)
        os.replace(self._file(".npy.partial"), self.path)
        self._file(".rows").unlink(missing_ok=True)
        self._manifest = manifest
