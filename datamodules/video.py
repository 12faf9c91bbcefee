"""Decode a few frames of an mp4 clip into a fixed-size uint8 array.

Two backends, ``"decord"`` and ``"pyav"``, decode full-resolution RGB frames at the same
indices (:class:`datamodules.frame_sampling.FrameSampling`: spread over the clip, as
:func:`sample_frame_indices`, or consecutive at a fixed rate) and share one resize
(:func:`resize_frames`), so they return the same array for the same file. On FFmpeg's default YUV->RGB conversion the
two agree bit for bit (``tests/test_video.py`` checks exact equality), also on clips whose display
matrix turns them (phone videos): both turn the frames upright, as decord does.

Readers are opened per call and closed before returning: nothing is opened at import and
nothing that holds a decoder is pickled, so this is safe in DataLoader worker processes.
One caveat of forking: the resize runs torch ops, and OpenMP used in a parent hangs in a forked child unless the child calls
``torch.set_num_threads(1)`` first (DataLoader workers and ``ClipCache``'s pool do).
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from datamodules.frame_sampling import SPREAD, FrameSampling
from datamodules.still_images import is_image, read_image_frames

BACKENDS = ("decord", "pyav")
#: Box types an ISO media (mp4/mov) file can start with, at bytes 4-8.
_MP4_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"}
_OTHER_FORMATS = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
                  b"RIFF": "a RIFF file (AVI, WebP)", b"BM": "a BMP image", b"\x1aE\xdf\xa3": "a Matroska/WebM file"}

log = logging.getLogger(__name__)
_non_square_seen: set[tuple[int, int]] = set()
_padded_said = False
#: ``pick(n_frames, fps)``: the indices to decode of a clip of ``n_frames`` at ``fps`` (or None).
Picker = Callable[[int, "float | None"], np.ndarray]


class VideoDecodeError(ValueError):
    """A clip could not be decoded: missing, empty, unreadable or truncated file."""


#: errno values of a decoder that ran out of memory or threads: the clip may well be valid.
_OUT_OF_RESOURCES = {code: os.strerror(code) for code in (errno.ENOMEM, errno.EAGAIN)}


def _out_of_memory(path: Path, backend: str, error: Exception) -> MemoryError | None:
    """A :class:`MemoryError` for a decoder's failure to get memory or threads, else None.

    FFmpeg reports an allocation that failed as ENOMEM and a decoding thread it could not start
    (each needs a stack) as EAGAIN; decord gives only the message. Neither says the clip is bad,
    so neither may become a :class:`VideoDecodeError` (which ``on_bad_video: skip`` would store
    as a blank clip).
    """
    said = str(error)
    if (getattr(error, "errno", None) not in _OUT_OF_RESOURCES
            and not any(text in said for text in _OUT_OF_RESOURCES.values())):
        return None
    return MemoryError(f"{path}: {backend} ran out of memory or threads while decoding this clip "
                       f"({said}); the clip was not judged unreadable: free memory, or decode with "
                       "fewer processes")


def sample_frame_indices(n_frames_in_clip: int, num_frames: int) -> np.ndarray:
    """Indices of ``num_frames`` frames spread uniformly over the whole clip.

    The Algonauts dev-kit convention: ``np.linspace(0, n - 1, num_frames).astype(int)``
    (truncation, not rounding). Indices repeat when the clip is shorter than ``num_frames``.

    Returns
    -------
    indices : int64 array of shape (num_frames,), non-decreasing, in ``[0, n_frames_in_clip)``.
    """
    return SPREAD.indices(n_frames_in_clip, None, num_frames)


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """Resize RGB frames to ``size x size`` (bilinear with antialiasing, on float32).

    The aspect ratio is not kept (Algonauts clips are square): a non-square clip is squashed,
    and :func:`read_clip` says so once per frame shape. Frames already at ``size x size`` come
    back unchanged.

    Parameters
    ----------
    frames : uint8 array of shape (n_frames, height, width, 3), channel-last RGB.

    Returns
    -------
    uint8 array of shape (n_frames, 3, size, size), channel-first RGB, C-contiguous.
    """
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)
        x = x.round_().clamp_(0, 255).to(torch.uint8)
    return np.ascontiguousarray(x.numpy())


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise VideoDecodeError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"{path}: video file is empty (0 bytes), expected an mp4")
    with open(path, "rb") as f:
        head = f.read(12)
    if head[4:8] not in _MP4_BOXES:  # FFmpeg would read a renamed PNG as a 1-frame "clip"
        kind = next((what for magic, what in _OTHER_FORMATS.items() if head.startswith(magic)), "unknown content")
        raise VideoDecodeError(f"{path}: not an mp4 file ({kind}; an mp4 starts with an 'ftyp' box)")


def _say_if_not_square(path: Path, frames: np.ndarray, size: int) -> None:
    height, width = frames.shape[1:3]
    if height != width and (height, width) not in _non_square_seen:
        _non_square_seen.add((height, width))
        log.warning("%s is %dx%d (width x height), not square: its frames, and those of every other %dx%d clip, "
                    "are resized to %dx%d without keeping the aspect ratio (squashed); crop the videos to squares "
                    "first if the shapes matter", path, width, height, width, height, size, size)


def _decode_decord(path: Path, num_frames: int, pick: Picker | None = None) -> np.ndarray:
    """Frames at ``pick(len(reader), average fps)`` (default: spread), uint8 (num_frames, H, W, 3).
    """
    pick = pick or (lambda n, fps: sample_frame_indices(n, num_frames))
    try:
        decord = importlib.import_module("decord")
    except ImportError as e:
        raise ImportError(
            "the 'decord' video backend needs the decord package (pip install decord); "
            "or set `video_backend: pyav` to decode with PyAV instead"
        ) from e
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
        n = len(reader)
        if n < 1:
            raise VideoDecodeError(f"{path}: no video frames (expected an mp4 with >= 1 frame)")
        frames = reader.get_batch(pick(n, reader.get_avg_fps()).tolist()).asnumpy()
        del reader
    except (VideoDecodeError, MemoryError):  # out of memory is not a bad clip
        raise
    except _FrameRateUnknown as e:
        raise VideoDecodeError(f"{path}: {e}") from None
    except Exception as e:  # decord raises RuntimeError / DECORDError on bad input
        if (oom := _out_of_memory(path, "decord", e)) is not None:
            raise oom from e
        raise VideoDecodeError(
            f"{path}: decord could not decode {num_frames} frames from this mp4 "
            f"(unreadable or truncated?): {str(e).strip().splitlines()[0][:300]}"
        ) from e
    return frames


def _decode_pyav(path: Path, num_frames: int, pick: Picker | None = None) -> np.ndarray:
    """Frames at ``pick(n_frames, average fps)`` (default: spread), uint8 (num_frames, H, W, 3),
    turned upright as decord does.

    The frame count is the number of frames that decode (container counts can be wrong), as it
    was when every frame was held in memory; now the frames stream through and only the sampled
    ones are kept, so memory is bounded by ``num_frames`` frames whatever the clip's length. The
    indices are taken from the container's count, and the clip is decoded a second time only if
    the decoded count differs from it (or the container has none).
    """
    import av

    pick = pick or (lambda n, fps: sample_frame_indices(n, num_frames))
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream (expected an mp4 with video)")
            stream = container.streams.video[0]
            hinted, fps = stream.frames, _rate(stream)
            if hinted > 0:
                wanted = pick(hinted, fps)
                kept, n = _keep_frames(container, wanted)
                if n == hinted:
                    return np.stack([kept[i] for i in wanted])
            else:
                _, n = _keep_frames(container, np.empty(0, np.int64))
        if n < 1:
            raise VideoDecodeError(f"{path}: no video frames (expected >= 1 frame)")
        log.debug("%s: the container counts %d frames, %d decode; decoding again at the right "
                  "indices", path, hinted, n)
        with av.open(str(path)) as container:
            wanted = pick(n, fps)
            kept, again = _keep_frames(container, wanted)
        if again != n:
            raise VideoDecodeError(f"{path}: {n} frames decoded the first time, {again} the second")
        return np.stack([kept[i] for i in wanted])
    except (VideoDecodeError, MemoryError):  # av.error.MemoryError is a MemoryError: not a bad clip
        raise
    except _FrameRateUnknown as e:
        raise VideoDecodeError(f"{path}: {e}") from None
    except Exception as e:  # av.error.FFmpegError and friends
        if (oom := _out_of_memory(path, "PyAV", e)) is not None:
            raise oom from e
        raise VideoDecodeError(
            f"{path}: PyAV could not decode this mp4 (unreadable or truncated?): {e}"
        ) from e


class _FrameRateUnknown(ValueError):
    """A clip without a frame rate, sampled at a rate (raised by :func:`read_clip`'s picker)."""


def _rate(stream) -> float | None:
    """A PyAV video stream's average frame rate in Hz (the guessed one if absent), else None."""
    rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else None


def _keep_frames(container, wanted: np.ndarray) -> tuple[dict[int, np.ndarray], int]:
    """Decode the first video stream in order, keeping the frames at ``wanted`` indices.

    Returns ({index: uint8 (H, W, 3) upright RGB frame} for each wanted index that exists,
    the number of frames decoded).
    """
    wanted_set = set(wanted.tolist())
    kept: dict[int, np.ndarray] = {}
    n = 0
    for n, frame in enumerate(container.decode(container.streams.video[0]), start=1):
        if n - 1 in wanted_set:
            kept[n - 1] = _upright(frame)
    return kept, n


def _upright(frame) -> np.ndarray:
    """A PyAV frame as uint8 (H, W, 3) RGB, turned by its display matrix as decord turns it.

    decord (its FFmpeg filters) rotates by the matrix's angle when it is a multiple of 90 degrees
    and ignores any other angle and the mirroring (a horizontal mirror reads as 180 degrees);
    ``tests/test_video_faults.py`` checks both backends on clips with such matrices.
    """
    rgb = frame.to_ndarray(format="rgb24")
    degrees = frame.rotation  # counter-clockwise, in [-180, 180]; 0 without a display matrix
    quarter = round(degrees / 90)
    if quarter % 4 == 0 or abs(degrees - 90 * quarter) >= 1:
        return rgb
    return np.ascontiguousarray(np.rot90(rgb, quarter % 4))  # np.rot90 turns counter-clockwise


def read_clip(path: str | Path, num_frames: int, size: int, backend: str = "decord",
              sampling: FrameSampling = SPREAD) -> np.ndarray:
    """Decode ``num_frames`` frames of the clip at ``path``, chosen by ``sampling``, resized.

    Parameters
    ----------
    path : an mp4 file (or a still image: one frame, repeated).
    num_frames : frames to sample.
    size : output height and width in pixels.
    backend : ``"decord"`` or ``"pyav"``.
    sampling : spread over the clip (default, :func:`sample_frame_indices`) or consecutive at a
        rate (:class:`~datamodules.frame_sampling.FrameSampling`; a clip shorter than the window
        repeats its last frame).

    Returns
    -------
    frames : uint8 array of shape (num_frames, 3, size, size), channel-first RGB.

    Raises
    ------
    VideoDecodeError : the file is missing, empty, not a video, or truncated; or has no frame
        rate and ``sampling`` asks for one.
    ValueError : unknown ``backend``.
    ImportError : ``backend="decord"`` but decord is not installed.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    path = Path(path)
    if is_image(path):  # a still image: a one-frame clip, repeated (datamodules/still_images.py)
        try:
            frames = read_image_frames(path, num_frames)
        except (OSError, ValueError) as err:
            raise VideoDecodeError(str(err)) from None
        _say_if_not_square(path, frames, size)
        return resize_frames(frames, size)
    _check_file(path)
    decode = _decode_decord if backend == "decord" else _decode_pyav
    frames = decode(path, num_frames, _picker(path, num_frames, sampling))
    _say_if_not_square(path, frames, size)
    return resize_frames(frames, size)


def _picker(path: Path, num_frames: int, sampling: FrameSampling) -> Picker:
    """``sampling``'s indices for ``path``; a clip shorter than the window is said once a process."""

    def pick(n: int, fps: float | None) -> np.ndarray:
        global _padded_said
        try:
            if sampling.pads(n, fps, num_frames) and not _padded_said:
                _padded_said = True
                log.warning("%s: %d frames at %.3g fps, shorter than the %d-frame window of %d "
                            "frames at %s: its last frame is repeated (other such clips are not "
                            "named)", path, n, fps, sampling.window(fps, num_frames), num_frames,
                            sampling.description)
            return sampling.indices(n, fps, num_frames)
        except ValueError as e:
            raise _FrameRateUnknown(str(e)) from None

    return pick
