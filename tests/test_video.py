"""Tests for datamodules/video.py on tiny generated mp4s (64x64, 20-60 frames)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from datamodules.mp4_writer import write_mp4
from datamodules.video import (
    VideoDecodeError,
    read_clip,
    resize_frames,
    sample_frame_indices,
)


def moving_frames(n_frames: int, height: int = 64, width: int = 64, seed: int = 0) -> np.ndarray:
    """uint8 (n_frames, height, width, 3): a drifting colour gradient plus a moving square."""
    yy, xx = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    frames = np.empty((n_frames, height, width, 3), np.uint8)
    for t in range(n_frames):
        frames[t, ..., 0] = (xx * 3 + t * 7) % 256
        frames[t, ..., 1] = (yy * 3 + t * 2) % 256
        frames[t, ..., 2] = (xx + yy + t * 11) % 256
        r, c = (t * 2) % (height - 12), (t * 3) % (width - 12)
        frames[t, r:r + 12, c:c + 12] = 255
    frames ^= rng.integers(0, 8, frames.shape, dtype=np.uint8)  # some texture
    return frames


def make_video(path: Path, n_frames: int = 30, fps: float = 25, seed: int = 0, **kw) -> Path:
    write_mp4(path, moving_frames(n_frames, seed=seed, **kw), fps)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    return {
        "a": make_video(d / "a.mp4", 20, 15, seed=1),
        "b": make_video(d / "b.mp4", 45, 25, seed=2),
        "c": make_video(d / "c.mp4", 60, 30, seed=3),
    }


@pytest.mark.parametrize("n,k", [(45, 16), (91, 16), (60, 8), (16, 16), (5, 16), (1, 4), (90, 1)])
def test_sample_frame_indices_match_devkit_formula(n, k):
    idx = sample_frame_indices(n, k)
    assert idx.dtype == np.int64 and idx.shape == (k,)
    np.testing.assert_array_equal(idx, np.linspace(0, n - 1, k).astype(int))
    assert idx[0] == 0 and (k == 1 or idx[-1] == n - 1)
    assert np.all(np.diff(idx) >= 0)


def test_sample_frame_indices_rejects_nonsense():
    with pytest.raises(ValueError):
        sample_frame_indices(0, 4)
    with pytest.raises(ValueError):
        sample_frame_indices(10, 0)


@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize("num_frames,size", [(8, 32), (4, 64), (6, 48)])
def test_read_clip_shape_and_dtype(videos, backend, num_frames, size):
    x = read_clip(videos["b"], num_frames, size, backend=backend)
    assert x.shape == (num_frames, 3, size, size) and x.dtype == np.uint8
    assert x.flags["C_CONTIGUOUS"]


def test_read_clip_picks_the_sampled_frames(videos):
    """At native size each decoded frame is nearest to the source frame at its dev-kit index."""
    src = moving_frames(60, seed=3).transpose(0, 3, 1, 2).astype(np.float32)
    x = read_clip(videos["c"], 8, 64, backend="pyav").astype(np.float32)
    dist = np.abs(x[:, None] - src[None]).mean(axis=(2, 3, 4))  # (8, 60)
    np.testing.assert_array_equal(dist.argmin(axis=1), sample_frame_indices(60, 8))


@pytest.mark.parametrize("name", ["a", "b", "c"])
@pytest.mark.parametrize("num_frames,size", [(16, 32), (8, 64), (30, 40)])
def test_decord_and_pyav_agree_exactly(videos, name, num_frames, size):
    d = read_clip(videos[name], num_frames, size, backend="decord")
    p = read_clip(videos[name], num_frames, size, backend="pyav")
    np.testing.assert_array_equal(d, p)


def test_resize_frames_is_identity_at_native_size_and_averages_when_shrinking():
    frames = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_frames(frames, 16), frames.transpose(0, 3, 1, 2))
    flat = np.full((2, 20, 20, 3), 77, np.uint8)
    small = resize_frames(flat, 7)
    assert small.shape == (2, 3, 7, 7) and np.all(small == 77)


def _truncated(src: Path, dst: Path, keep: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def _faststart_truncated(src: Path, dst: Path) -> Path:
    """Remux with the index (moov) first, then cut: the header promises frames that are gone."""
    import av

    full = dst.with_suffix(".full.mp4")
    with av.open(str(src)) as i, av.open(str(full), "w", options={"movflags": "faststart"}) as o:
        out = o.add_stream_from_template(i.streams.video[0])
        for packet in i.demux(i.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out
                o.mux(packet)
    return _truncated(full, dst, 0.5)


@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize(
    "case", ["missing", "empty", "garbage", "truncated", "truncated_faststart"])
def test_bad_files_raise_video_decode_error_naming_the_file(videos, tmp_path, backend, case):
    path = tmp_path / f"{case}.mp4"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif case == "truncated":
        _truncated(videos["c"], path, 0.5)
    elif case == "truncated_faststart":
        _faststart_truncated(videos["c"], path)
    with pytest.raises(VideoDecodeError, match=case) as info:
        read_clip(path, 8, 32, backend=backend)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value)


def test_unknown_backend_lists_choices(videos):
    with pytest.raises(ValueError, match="decord.*pyav"):
        read_clip(videos["a"], 4, 32, backend="opencv")


def test_missing_decord_suggests_pyav(videos, monkeypatch):
    monkeypatch.setitem(sys.modules, "decord", None)  # makes `import decord` fail
    with pytest.raises(ImportError, match="video_backend: pyav"):
        read_clip(videos["a"], 4, 32, backend="decord")
