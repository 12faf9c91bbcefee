"""A clip-cache file cut short (a copy that stopped, a disk that filled) is named in a warning and
rebuilt, instead of a traceback from the memory map."""

import logging
import os

import numpy as np

from datamodules.clip_cache import ClipCache
from datamodules.mp4_writer import write_mp4

F, S = 4, 16


def test_a_cache_cut_short_is_named_and_rebuilt(tmp_path, caplog):
    rng = np.random.default_rng(0)
    videos = []
    for k in range(3):
        path = tmp_path / "videos" / f"{k + 1:04d}_clip.mp4"
        path.parent.mkdir(exist_ok=True)
        write_mp4(path, rng.integers(0, 255, size=(12, 32, 32, 3), dtype=np.uint8), fps=12)
        videos.append(path)
    built = ClipCache(tmp_path / "cache", videos, F, S, backend="pyav").build(progress=False)
    whole = np.array(built.array)
    size = built.path.stat().st_size
    os.truncate(built.path, size - 700)  # the last rows missing

    cache = ClipCache(tmp_path / "cache", videos, F, S, backend="pyav")
    with caplog.at_level(logging.WARNING, logger="datamodules.clip_cache"):
        assert not cache.is_built
    assert f"clip cache {cache.path} is cut short ({size - 700} of {size} bytes" in caplog.text
    assert "it will be rebuilt" in caplog.text
    cache.build(progress=False)
    assert cache.path.stat().st_size == size and np.array_equal(np.array(cache.array), whole)
