"""Frames of a movie sampled at a fixed rate, decoded once into a cache file, and features per TR.

Cache file: ``CACHE/<movie stem>-<hash>.npy``, uint8 (n_samples, 3, size, size), the frames on
screen at ``0, 1 / rate_hz, ...`` s (:func:`datamodules.movies.decode.decode_at_rate`). The hash
covers the movie's path, size and modification time, the rate and the frame size, so an edited
movie or another setting is decoded afresh. Written to a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from datamodules.movies.decode import decode_at_rate


def cache_file(cache_dir: str | Path, movie: str | Path, rate_hz: float, size: int) -> Path:
    movie = Path(movie)
    stat = movie.stat()
    key = f"{movie.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{rate_hz}|{size}"
    return Path(cache_dir) / f"{movie.stem}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.npy"


def cached_frames(movie: str | Path, rate_hz: float, size: int,
                  cache_dir: str | Path) -> np.ndarray:
    """uint8 (n_samples, 3, size, size): read from the cache, or decoded and cached."""
    path = cache_file(cache_dir, movie, rate_hz, size)
    if path.is_file():
        return np.load(path)
    frames, _ = decode_at_rate(movie, rate_hz, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, frames)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return frames


def tr_means(features: np.ndarray, rate_hz: float, tr: float, n_trs: int) -> np.ndarray:
    """Mean of the samples inside each TR: (n_samples, n_features) at ``k / rate_hz`` s ->
    float32 (n_trs, n_features), row ``t`` the mean over samples in ``[t * tr, (t + 1) * tr)``.
    A TR without a sample (the movie ended inside it) repeats the last sample."""
    times = np.arange(len(features)) / rate_hz
    tr_of_sample = np.floor(times / tr + 1e-9).astype(np.int64)
    out = np.empty((n_trs, features.shape[1]), np.float32)
    for t in range(n_trs):
        inside = features[tr_of_sample == t]
        last = features[min(len(features) - 1, int(t * tr * rate_hz))]
        out[t] = inside.mean(0) if len(inside) else last
    return out
