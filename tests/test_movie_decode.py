"""Frames at a fixed rate from a long movie: the frame on screen at each sample time."""

import numpy as np
import pytest

from datamodules.movies.decode import MovieDecodeError, decode_at_rate, movie_duration
from datamodules.mp4_writer import write_mp4
from simulator.movies.mkv import MkvWriter


def _numbered_frames(n, side=32):
    """Frame k is flat gray 8 k: its index survives H.264."""
    return np.repeat((8 * np.arange(n, dtype=np.uint8))[:, None, None, None], side, 1).repeat(
        side, 2).repeat(3, 3)


@pytest.mark.parametrize("fps,rate", [(10.0, 3.0), (25.0, 2.0), (7.0, 2.0)])
def test_samples_are_the_frames_on_screen(tmp_path, fps, rate):
    n = 30
    path = tmp_path / "m.mkv"
    with MkvWriter(path, fps, 32, 32) as out:
        out.write(_numbered_frames(n), np.zeros(int(n / fps * 16000) + 5000, np.float32))
    assert movie_duration(path) == pytest.approx(n / fps, abs=1e-3)  # video only, not the audio
    frames, times = decode_at_rate(path, rate)
    expected_count = int(np.ceil(n / fps * rate - 1e-9))
    assert len(frames) == expected_count
    np.testing.assert_allclose(times, np.arange(expected_count) / rate)
    shown = np.floor(times * fps + 1e-9).astype(int)
    index = np.round(frames[:, 16, 16, 0] / 8).astype(int)
    np.testing.assert_array_equal(index, shown)


def test_mp4_and_resize(tmp_path):
    path = tmp_path / "m.mp4"
    write_mp4(path, _numbered_frames(20, side=48), 10.0)
    assert movie_duration(path) == pytest.approx(2.0)
    frames, _ = decode_at_rate(path, 2.0, size=24)
    assert frames.shape == (4, 3, 24, 24)
    np.testing.assert_array_equal(np.round(frames[:, 0, 12, 12] / 8), [0, 5, 10, 15])


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(MovieDecodeError, match=r"nothing\.mkv: movie file not found"):
        decode_at_rate(tmp_path / "nothing.mkv")
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(b"not a movie at all" * 10)
    with pytest.raises(MovieDecodeError, match=r"junk\.mkv: not a readable movie"):
        movie_duration(junk)
    with pytest.raises(ValueError, match="rate_hz must be > 0"):
        decode_at_rate(junk, 0)
