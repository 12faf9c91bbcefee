"""Decode the clip cache's rows, in this process or a pool of processes, in row order.

:class:`datamodules.clip_cache.ClipCache` writes what :func:`decoded_rows` yields into its array;
an undecodable video is reported as its error message, not raised, so the cache can skip it.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from datamodules.frame_sampling import SPREAD, FrameSampling
from datamodules.video import VideoDecodeError, read_clip


def _decode_row(job: tuple) -> tuple[int, np.ndarray | None, str | None]:
    """(row, frames (num_frames, 3, size, size) or None, error message or None)."""
    i, path, num_frames, size, backend, sampling = job
    try:
        return i, read_clip(path, num_frames, size, backend, sampling=sampling), None
    except VideoDecodeError as e:
        return i, None, str(e)


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def decoded_rows(video_paths: Sequence[Path], rows: list[int], num_frames: int, size: int, backend: str,
                 num_workers: int, sampling: FrameSampling = SPREAD) -> Iterator[tuple]:
    """Yield ``_decode_row`` results for ``rows`` in order, in this process or a process pool."""
    jobs = ((i, video_paths[i], num_frames, size, backend, sampling) for i in rows)
    if num_workers <= 0:
        yield from map(_decode_row, jobs)
        return
    pool = ProcessPoolExecutor(num_workers, mp_context=mp.get_context(),
                               initializer=_init_worker)
    try:
        first = zip(range(2 * num_workers), jobs, strict=False)
        inflight = deque(pool.submit(_decode_row, job) for _, job in first)
        while inflight:
            result = inflight.popleft().result()
            for job in jobs:  # top up: at most 2 * num_workers clips in flight
                inflight.append(pool.submit(_decode_row, job))
                break
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
