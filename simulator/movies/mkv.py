"""Write a long movie as Matroska with H.264 video and an AAC audio track, as the real files are.

Frames and audio arrive in chunks (a scene at a time), so a movie of any length is written
without holding it in memory; the muxer interleaves the two streams.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_CODEC = "aac"


class MkvWriter:
    """``with MkvWriter(path, fps, width, height) as w: w.write(frames, audio)``.

    ``frames`` uint8 (n_frames, height, width, 3) RGB; ``audio`` float32 (n_samples,) mono in
    [-1, 1] at ``sample_rate``. Even height and width (yuv420p).
    """

    def __init__(self, path: str | Path, fps: float, width: int, height: int,
                 sample_rate: int = 16000, crf: int = 23):
        if width % 2 or height % 2:
            raise ValueError(f"frame sides must be even (yuv420p), got {width} x {height}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(self.path), mode="w", format="matroska")
        rate = Fraction(fps).limit_denominator(1001)
        self.video = self.container.add_stream("libx264", rate=rate)
        self.video.width, self.video.height, self.video.pix_fmt = width, height, "yuv420p"
        self.video.options = {"crf": str(crf), "preset": "veryfast"}
        self.audio = self.container.add_stream(AUDIO_CODEC, rate=sample_rate, layout="mono")
        self.sample_rate = sample_rate
        self._pending = np.zeros(0, np.float32)
        self._audio_pts = 0

    def write(self, frames: np.ndarray, audio: np.ndarray | None = None) -> None:
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            self.container.mux(self.video.encode(frame))
        if audio is not None:
            self._pending = np.concatenate([self._pending, np.asarray(audio, np.float32)])
            self._flush_audio(final=False)

    def _flush_audio(self, final: bool) -> None:
        size = self.audio.codec_context.frame_size or 1024
        while len(self._pending) >= size or (final and len(self._pending)):
            chunk, self._pending = self._pending[:size], self._pending[size:]
            frame = av.AudioFrame.from_ndarray(chunk[None], format="flt", layout="mono")
            frame.sample_rate, frame.pts = self.sample_rate, self._audio_pts
            self._audio_pts += len(chunk)
            self.container.mux(self.audio.encode(frame))

    def close(self) -> None:
        self._flush_audio(final=True)
        self.container.mux(self.video.encode())
        self.container.mux(self.audio.encode())
        self.container.close()

    def __enter__(self) -> MkvWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:  # no half-written movie under the final name
            self.container.close()
            self.path.unlink(missing_ok=True)
