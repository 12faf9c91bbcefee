"""Tests for datamodules/clip_cache.py on tiny generated mp4s."""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import datamodules.clip_cache as cc
import datamodules.clip_cache_decode as decode
from datamodules.clip_cache import ClipCache
from datamodules.mp4_writer import write_mp4
from datamodules.video import VideoDecodeError, read_clip

F, S = 6, 32  # frames per clip, pixels


def tiny_video(path: Path, n_frames: int, fps: float, seed: int) -> Path:
    """A 64x64 mp4 of a square moving over noise; content differs by seed."""
    rng = np.random.default_rng(seed)
    frames = np.repeat(rng.integers(0, 200, (1, 64, 64, 3), dtype=np.uint8), n_frames, axis=0)
    for t in range(n_frames):
        r = (t * 3 + seed * 7) % 48
        frames[t, r:r + 16, r:r + 16] = 255
    write_mp4(path, frames, fps)
    return path


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("clips")
    for k, (n, fps) in enumerate([(20, 15), (30, 25), (45, 30), (25, 25), (60, 30)]):
        tiny_video(d / f"{k + 1:04d}_clip.mp4", n, fps, seed=k)
    return d


@pytest.fixture
def videos(video_dir, tmp_path) -> list[Path]:
    """Private copies (tests may modify them), mtimes preserved."""
    out = []
    for src in sorted(video_dir.glob("*.mp4")):
        dst = tmp_path / "videos" / src.name
        dst.parent.mkdir(exist_ok=True)
        dst.write_bytes(src.read_bytes())
        st = src.stat()
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
        out.append(dst)
    return out


class CountingReader:
    """Wraps read_clip: records decoded paths; raises on the call numbered ``fail_on``."""

    def __init__(self, fail_on: int | None = None):
        self.calls: list[Path] = []
        self.fail_on = fail_on

    def __call__(self, path, num_frames, size, backend="decord", **sampling):
        if self.fail_on is not None and len(self.calls) == self.fail_on:
            raise KeyboardInterrupt("simulated crash mid-build")
        self.calls.append(Path(path))
        return read_clip(path, num_frames, size, backend, **sampling)


def test_cache_equals_direct_decoding(videos, tmp_path):
    cache = ClipCache(tmp_path / "cache", videos, F, S, backend="pyav").build(progress=False)
    assert cache.is_built and cache.path.is_file() and cache.path.suffix == ".npy"
    assert len(cache) == len(videos)
    assert np.load(cache.path, mmap_mode="r").shape == (len(videos), F, 3, S, S)
    for i, v in enumerate(videos):
        clip = cache[i]
        assert clip.shape == (F, 3, S, S) and clip.dtype == np.uint8
        assert isinstance(clip.base, np.memmap) or isinstance(clip, np.memmap)
        np.testing.assert_array_equal(clip, read_clip(v, F, S, backend="pyav"))
    man = json.loads(cache.manifest_path.read_text())
    assert man["shape"] == [len(videos), F, 3, S, S] and man["bad_videos"] == []
    assert [v["name"] for v in man["videos"]] == [v.name for v in videos]
    leftovers = [p.name for p in cache.path.parent.iterdir() if p.suffix in {".partial", ".rows"}]
    assert leftovers == []


def test_second_open_reads_the_cache_without_decoding(videos, tmp_path, monkeypatch):
    first = ClipCache(tmp_path, videos, F, S, backend="decord").build(progress=False)
    expected = np.array(first.array)

    def no_decoding(*args, **kwargs):
        raise AssertionError("read_clip called although the cache is built")

    monkeypatch.setattr(decode, "read_clip", no_decoding)
    again = ClipCache(tmp_path, videos, F, S, backend="decord")
    assert again.is_built and again.path == first.path
    again.build(progress=False)
    np.testing.assert_array_equal(np.stack([again[i] for i in range(len(again))]), expected)


def test_key_changes_with_everything_that_changes_content(videos, tmp_path):
    base = ClipCache(tmp_path, videos, F, S, backend="pyav")
    variants = [
        ClipCache(tmp_path, videos, F, S + 2, backend="pyav"),
        ClipCache(tmp_path, videos, F + 1, S, backend="pyav"),
        ClipCache(tmp_path, videos, F, S, backend="decord"),
        ClipCache(tmp_path, videos[::-1], F, S, backend="pyav"),
        ClipCache(tmp_path, videos[:-1], F, S, backend="pyav"),
    ]
    keys = {base.key} | {v.key for v in variants}
    assert len(keys) == 1 + len(variants)
    assert ClipCache(tmp_path, videos, F, S, backend="pyav", on_error="skip").key == base.key

    st = videos[2].stat()
    os.utime(videos[2], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched
    assert ClipCache(tmp_path, videos, F, S, backend="pyav").key != base.key


def test_changed_video_rebuilds_and_reuses_unchanged_rows(videos, tmp_path, monkeypatch):
    old = ClipCache(tmp_path, videos, F, S, backend="pyav").build(progress=False)
    tiny_video(videos[1], 35, 30, seed=99)  # new content, new fingerprint
    counter = CountingReader()
    monkeypatch.setattr(decode, "read_clip", counter)
    new = ClipCache(tmp_path, videos, F, S, backend="pyav")
    assert not new.is_built and new.path != old.path
    new.build(progress=False)
    assert counter.calls == [videos[1]]  # only the changed video is decoded again
    for i, v in enumerate(videos):
        np.testing.assert_array_equal(new[i], read_clip(v, F, S, backend="pyav"))


def test_interrupted_build_is_not_valid_and_resumes_only_missing_rows(videos, tmp_path,
                                                                     monkeypatch):
    crashing = CountingReader(fail_on=3)
    monkeypatch.setattr(decode, "read_clip", crashing)
    cache = ClipCache(tmp_path, videos, F, S, backend="decord")
    with pytest.raises(KeyboardInterrupt):
        cache.build(progress=False)
    assert crashing.calls == videos[:3]
    assert not cache.is_built and not cache.path.exists() and not cache.manifest_path.exists()
    assert not ClipCache(tmp_path, videos, F, S, backend="decord").is_built
    rows = next(tmp_path.glob("*.rows")).read_bytes()
    assert list(rows) == [1, 1, 1, 0, 0]

    resumed = CountingReader()
    monkeypatch.setattr(decode, "read_clip", resumed)
    cache = ClipCache(tmp_path, videos, F, S, backend="decord").build(progress=False)
    assert resumed.calls == videos[3:]
    assert cache.is_built
    for i, v in enumerate(videos):
        np.testing.assert_array_equal(cache[i], read_clip(v, F, S, backend="decord"))


def test_on_error_raise_names_the_file_and_keeps_progress(videos, tmp_path):
    videos[2].write_bytes(videos[2].read_bytes()[:3000])  # truncated
    cache = ClipCache(tmp_path, videos, F, S, backend="pyav")
    with pytest.raises(VideoDecodeError, match=videos[2].name):
        cache.build(progress=False)
    assert not cache.is_built
    assert list(next(tmp_path.glob("*.rows")).read_bytes()) == [1, 1, 0, 0, 0]


def test_on_error_skip_zero_fills_lists_and_warns(videos, tmp_path, caplog):
    videos[1].write_bytes(b"not an mp4 at all")
    videos[3].unlink()
    with caplog.at_level(logging.WARNING, logger="datamodules.clip_cache"):
        cache = ClipCache(tmp_path, videos, F, S, backend="pyav", on_error="skip").build(
            progress=False)
    assert cache.is_built
    assert cache.bad_videos == [videos[1], videos[3]]
    assert not cache[1].any() and not cache[3].any()
    np.testing.assert_array_equal(cache[0], read_clip(videos[0], F, S, backend="pyav"))
    man = json.loads(cache.manifest_path.read_text())
    assert [b["name"] for b in man["bad_videos"]] == [videos[1].name, videos[3].name]
    assert videos[1].name in man["bad_videos"][0]["error"]
    assert "2 of 5 videos could not be decoded" in caplog.text

    # the same cache opened with on_error="raise" refuses to serve zero clips silently
    with pytest.raises(VideoDecodeError, match=videos[1].name):
        ClipCache(tmp_path, videos, F, S, backend="pyav").build(progress=False)


def test_parallel_build_matches_serial(videos, tmp_path):
    serial = ClipCache(tmp_path / "a", videos, F, S, backend="pyav").build(progress=False)
    parallel = ClipCache(tmp_path / "b", videos, F, S, backend="pyav").build(progress=False,
                                                                             num_workers=2)
    np.testing.assert_array_equal(serial.array, parallel.array)


class ClipDataset(torch.utils.data.Dataset):
    def __init__(self, cache: ClipCache):
        self.cache = cache

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, i: int):
        return i, torch.from_numpy(np.array(self.cache[i]))


def test_pickles_without_memmap_and_serves_dataloader_workers(videos, tmp_path):
    cache = ClipCache(tmp_path, videos, F, S, backend="pyav").build(progress=False)
    _ = cache[0]  # memmap now open in this process
    state = pickle.dumps(cache)
    assert len(state) < 10_000  # no clip bytes travel with the object
    clone = pickle.loads(state)
    assert clone._mm is None
    np.testing.assert_array_equal(clone[4], cache[4])

    for ctx in ("fork", "spawn"):
        loader = torch.utils.data.DataLoader(ClipDataset(cache), batch_size=2, num_workers=2,
                                             multiprocessing_context=ctx)
        got = {int(i): x for idx, xs in loader for i, x in zip(idx, xs, strict=True)}
        assert sorted(got) == list(range(len(videos)))
        for i in got:
            np.testing.assert_array_equal(got[i].numpy(), cache[i])


def test_unbuilt_cache_and_bad_arguments(videos, tmp_path):
    cache = ClipCache(tmp_path, videos, F, S, backend="pyav")
    with pytest.raises(RuntimeError, match="build"):
        cache[0]
    with pytest.raises(ValueError, match="decord, pyav"):
        ClipCache(tmp_path, videos, F, S, backend="cv2")
    with pytest.raises(ValueError, match="on_error"):
        ClipCache(tmp_path, videos, F, S, backend="pyav", on_error="ignore")


def _build_then_die(cache_dir, videos, die_after):
    """Child process: flush after every row, then exit hard (no finally, no cleanup)."""
    torch.set_num_threads(1)  # OpenMP used before fork hangs in the child otherwise
    cc._FLUSH_EVERY_S = 0.0
    calls = []

    def dying(path, *args, **kwargs):
        if len(calls) == die_after:
            os._exit(3)
        calls.append(path)
        return read_clip(path, *args, **kwargs)

    decode.read_clip = dying
    ClipCache(cache_dir, videos, F, S, backend="pyav").build(progress=False)


def test_hard_kill_mid_build_leaves_resumable_partial(videos, tmp_path, monkeypatch):
    import multiprocessing

    child = multiprocessing.get_context("fork").Process(target=_build_then_die,
                                                        args=(tmp_path, videos, 2))
    child.start()
    child.join(60)
    assert child.exitcode == 3
    cache = ClipCache(tmp_path, videos, F, S, backend="pyav")
    assert not cache.is_built and not cache.path.exists()
    counter = CountingReader()
    monkeypatch.setattr(decode, "read_clip", counter)
    cache.build(progress=False)
    assert counter.calls == videos[2:]
    for i, v in enumerate(videos):
        np.testing.assert_array_equal(cache[i], read_clip(v, F, S, backend="pyav"))
