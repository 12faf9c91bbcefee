"""The decoders on real clips that once went wrong: clips turned by their display matrix (phone
videos), long clips (memory), clips whose container frame count is missing or wrong, and a decoder
that runs out of memory (a real address-space limit in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from datamodules.video import _decode_decord, _decode_pyav, read_clip, sample_frame_indices
from tests.helpers import REPO
from tests.test_video import moving_frames


def _write(path: Path, frames: np.ndarray, rotation: int | None = None, hflip: bool = False,
           first_pts: int = 0, options: dict | None = None, preset: str = "veryfast") -> Path:
    """H.264 mp4 of uint8 (n, H, W, 3) frames; ``rotation`` (degrees counter-clockwise) and
    ``hflip`` go into the display matrix; ``first_pts < 0`` makes the muxer write an edit list that
    hides the first ``-first_pts`` frames; ``options`` are the muxer's (``movflags``)."""
    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream("libx264", rate=Fraction(25))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": preset, "g": "12"}
        if rotation is not None or hflip:
            stream.set_display_rotation(rotation or 0, hflip=hflip)
        for t, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = first_pts + t
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _full_decode(path: Path) -> list[np.ndarray]:
    """The old PyAV backend: every frame decoded and held, RGB, the display matrix ignored."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]


# ---------------------------------------------------------------------- issue 30, item 11: rotation
@pytest.mark.parametrize("rotation, hflip, turns", [(90, False, 1), (180, False, 2),
                                                    (-90, False, 3), (270, False, 3),
                                                    (0, True, 2), (45, False, 0)])
def test_decoders_agree_on_a_clip_turned_by_its_display_matrix(tmp_path, rotation, hflip, turns):
    """decord turns a clip by its display matrix's angle when it is a multiple of 90 degrees (a
    mirror reads as 180, other angles are ignored); PyAV now does the same, bit for bit, at full
    size and after the resize. Reference: np.rot90 of the clip's own frames as stored."""
    path = _write(tmp_path / "phone.mp4", moving_frames(10, height=64, width=96), rotation, hflip)
    stored = np.stack(_full_decode(path))[sample_frame_indices(10, 4)]
    expected = np.rot90(stored, turns, axes=(1, 2))
    pyav, decord = _decode_pyav(path, 4), _decode_decord(path, 4)
    assert pyav.shape == expected.shape == decord.shape
    np.testing.assert_array_equal(pyav, expected)
    np.testing.assert_array_equal(decord, expected)
    np.testing.assert_array_equal(read_clip(path, 4, 32, backend="pyav"),
                                  read_clip(path, 4, 32, backend="decord"))


# ---------------------------------------------------------------------- item 14: streamed decoding
@pytest.fixture(scope="module")
def odd_clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("odd_clips")
    frames = moving_frames(30)
    return {
        "plain": _write(d / "plain.mp4", frames),
        # fragmented mp4 (streamed recordings): the container has no frame count
        "fragmented": _write(d / "fragmented.mp4", frames,
                             options={"movflags": "frag_keyframe+empty_moov"}),
        # an edit list hides the first 5 frames: the container counts 30, 25 decode
        "edit_list": _write(d / "edit_list.mp4", frames, first_pts=-5),
    }


def test_container_counts_are_as_the_fixture_says(odd_clips):
    counts = {}
    for name, path in odd_clips.items():
        with av.open(str(path)) as container:
            counts[name] = (container.streams.video[0].frames, len(_full_decode(path)))
    assert counts == {"plain": (30, 30), "fragmented": (0, 30), "edit_list": (30, 25)}


@pytest.mark.parametrize("name", ["plain", "fragmented", "edit_list"])
@pytest.mark.parametrize("num_frames", [1, 7, 16, 40])
def test_streamed_frames_equal_the_full_decode_at_the_sampled_indices(odd_clips, name, num_frames):
    path = odd_clips[name]
    every = _full_decode(path)
    expected = np.stack([every[i] for i in sample_frame_indices(len(every), num_frames)])
    np.testing.assert_array_equal(_decode_pyav(path, num_frames), expected)


_PEAK = """
import sys
from datamodules.video import read_clip
def peak_mb():  # VmHWM: ru_maxrss would carry over the peak of the (larger) parent process
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM"))
read_clip(sys.argv[1], 16, 64, backend="pyav")  # imports, decoder and resize set up on a short clip
before = peak_mb()
read_clip(sys.argv[2], 16, 64, backend="pyav")
print(peak_mb() - before)
"""


@pytest.mark.slow
def test_a_long_clip_decodes_in_bounded_memory(tmp_path):
    """600 frames of 256x256: holding them all (as the old backend did) takes 59 MB of YUV frames
    (measured: the peak RSS grew by 54 MB with it, by 3.5 MB now); streaming keeps 16."""
    yy, xx = np.mgrid[0:256, 0:256]
    long = np.stack([np.stack([(xx + t) % 256, (yy + 2 * t) % 256, np.full_like(xx, t % 256)], -1)
                     for t in range(600)]).astype(np.uint8)
    short = _write(tmp_path / "short.mp4", long[:30])
    long_path = _write(tmp_path / "long.mp4", long, preset="ultrafast")
    done = subprocess.run([sys.executable, "-c", _PEAK, str(short), str(long_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    all_frames_mb = 600 * 256 * 256 * 1.5 / 2**20
    growth = float(done.stdout.split()[-1])
    assert growth < all_frames_mb / 5, f"peak RSS grew by {growth:.1f} MB decoding 600 frames"


_OUT_OF_MEMORY = """
import json, resource, sys
import av, decord  # both loaded before the limit (the cache's manifest records their versions)
from datamodules.clip_cache import ClipCache
from datamodules.video import VideoDecodeError, read_clip
backend, clip, cache_dir = sys.argv[1], sys.argv[2], sys.argv[3]
read_clip(clip, 4, 32, backend=backend)  # imports and first allocations, before the limit
with open("/proc/self/status") as status:
    vm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (vm + 2**21, resource.RLIM_INFINITY))  # 2 MiB more
outcome = {}
try:
    read_clip(clip, 8, 32, backend=backend)
    outcome["read_clip"] = "decoded"
except MemoryError as e:
    outcome["read_clip"] = "MemoryError: " + str(e)
except VideoDecodeError as e:
    outcome["read_clip"] = "VideoDecodeError: " + str(e)
cache = ClipCache(cache_dir, [clip], num_frames=8, size=32, backend=backend, on_error="skip")
try:
    cache.build(progress=False)
    outcome["cache"] = "built"
except MemoryError as e:
    outcome["cache"] = "MemoryError"
resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
outcome["cache_complete"] = cache.path.exists()
print(json.dumps(outcome))
"""


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_a_decoder_out_of_memory_is_a_memory_error_not_a_bad_clip(tmp_path, backend):
    """Under an address-space limit the decoder cannot start its threads (EAGAIN) or allocate
    (ENOMEM): that is a MemoryError naming the clip, never a VideoDecodeError, so the clip cache's
    ``on_error: skip`` does not store a valid clip as a blank one."""
    clip = _write(tmp_path / "valid.mp4", moving_frames(20, height=128, width=128))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(_OUT_OF_MEMORY), backend,
                           str(clip), str(tmp_path / "cache")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome["read_clip"].startswith(f"MemoryError: {clip}: "), outcome
    assert "not judged unreadable" in outcome["read_clip"]
    assert outcome["cache"] == "MemoryError" and outcome["cache_complete"] is False, outcome
    assert read_clip(clip, 8, 32, backend=backend).shape == (8, 3, 32, 32)  # the clip is fine
