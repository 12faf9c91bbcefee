"""A long movie's length and its frames at a fixed rate (e.g. 2 Hz), decoded once with PyAV.

H.264 frames depend on earlier ones, so the decoder goes through every frame; only the ones
shown at the sample times ``k / rate_hz`` are converted to RGB and resized. A frame sampled at
time ``t`` is the one on screen then: the last whose presentation time is ``<= t``.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from datamodules.video import resize_frames


class MovieDecodeError(ValueError):
    """A movie that cannot be opened or has no video stream; the message names the file."""


def _open(path: Path):
    if not path.is_file():
        raise MovieDecodeError(f"{path}: movie file not found")
    try:
        return av.open(str(path))
    except Exception as err:  # noqa: BLE001 - av's errors become one line naming the file
        raise MovieDecodeError(f"{path}: not a readable movie ({type(err).__name__}: {err})") \
            from err


def _video_end(stream, packet_or_frame) -> float | None:
    """Seconds at which a video packet's (or frame's) display ends, or None without a timestamp."""
    if packet_or_frame.pts is None:
        return None
    step = packet_or_frame.duration
    if not step and stream.average_rate:
        step = 1 / (stream.average_rate * stream.time_base)
    return float((packet_or_frame.pts + (step or 0)) * stream.time_base)


def movie_duration(path: str | Path) -> float:
    """Seconds of video in the file, without decoding.

    The video stream's recorded duration where the container has one (mp4); Matroska records
    only the whole file's, which the audio may lengthen, so there the last video packets are
    read (a seek near the end, then demuxing) and the video ends where the last one does.
    """
    path = Path(path)
    with _open(path) as container:
        if not container.streams.video:
            raise MovieDecodeError(f"{path}: no video stream")
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:  # start reading a few seconds before the end
            container.seek(max(container.duration - 10 * av.time_base, 0), backward=True)
        ends = [_video_end(stream, p) for p in container.demux(stream)]
        ends = [e for e in ends if e is not None]
    if not ends:
        raise MovieDecodeError(f"{path}: no video packets with timestamps")
    return max(ends)


def decode_at_rate(path: str | Path, rate_hz: float = 2.0, size: int | None = None,
                   threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frames on screen at ``0, 1 / rate_hz, 2 / rate_hz, ...`` until the movie ends.

    Parameters
    ----------
    rate_hz : samples per second
    size : resize to ``size x size`` (:func:`datamodules.video.resize_frames`, channel-first);
        None keeps the full frame, channel-last
    threads : decoder threads (0: FFmpeg's choice)

    Returns
    -------
    frames : uint8 (n_samples, 3, size, size), or (n_samples, height, width, 3) with ``size=None``
    times : float64 (n_samples,), seconds
    """
    if rate_hz <= 0:
        raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
    path = Path(path)
    end = movie_duration(path)
    kept: list[np.ndarray] = []
    previous, previous_rgb = None, None

    def keep_previous() -> None:
        nonlocal previous_rgb
        if previous_rgb is None:  # converted once, however many samples show it
            previous_rgb = previous.to_ndarray(format="rgb24")
            if size is not None:
                previous_rgb = resize_frames(previous_rgb[None], size)[0]
        kept.append(previous_rgb)

    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    raise MovieDecodeError(f"{path}: a video frame without a timestamp")
                # samples before this frame's start show the previous frame (the first frame
                # also stands for samples before it, should the video start after t = 0)
                while previous is not None and len(kept) / rate_hz < frame.time - 1e-6:
                    keep_previous()
                previous, previous_rgb = frame, None
        except MovieDecodeError:
            raise
        except Exception as err:  # noqa: BLE001 - av's errors become one line naming the file
            raise MovieDecodeError(f"{path}: decoding failed ({type(err).__name__}: {err})") \
                from err
        while previous is not None and len(kept) / rate_hz < end - 1e-6:
            keep_previous()
    if not kept:
        raise MovieDecodeError(f"{path}: no frames decoded")
    return np.stack(kept), np.arange(len(kept)) / rate_hz
