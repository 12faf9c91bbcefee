"""Files that are not square mp4 clips: a renamed PNG is refused, other shapes are reported once."""

from __future__ import annotations

import numpy as np
import pytest

from datamodules.video import VideoDecodeError, read_clip
from tests.test_video import make_video


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_renamed_png_is_not_taken_for_a_one_frame_clip(tmp_path, backend):
    import av

    png = tmp_path / "frame.png"
    with av.open(str(png), "w", format="image2") as out:  # a real PNG, written by FFmpeg
        stream = out.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "rgb24"
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    path = tmp_path / "0001_clip.mp4"
    png.rename(path)
    with pytest.raises(VideoDecodeError, match=r"0001_clip.mp4: not an mp4 file \(a PNG image"):
        read_clip(path, 4, 16, backend=backend)


def test_non_square_clip_is_reported_once_per_shape(tmp_path, caplog):
    import logging

    import datamodules.video as video

    video._non_square_seen.clear()
    wide = [make_video(tmp_path / f"wide{i}.mp4", 6, 25, seed=i, height=32, width=48) for i in range(2)]
    tall = make_video(tmp_path / "tall.mp4", 6, 25, height=48, width=32)
    with caplog.at_level(logging.WARNING, logger="datamodules.video"):
        clips = [read_clip(p, 3, 16, backend="pyav") for p in (*wide, tall)]
    assert all(c.shape == (3, 3, 16, 16) for c in clips)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2  # once for 48x32, once for 32x48, not once per clip
    assert "wide0.mp4 is 48x32 (width x height), not square" in lines[0] and "squashed" in lines[0]
    assert "tall.mp4 is 32x48" in lines[1]
