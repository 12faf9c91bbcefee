"""How clips are read: one source of the defaults shared by training and prediction.

The data module's ``data.num_frames``, ``data.image_size``, ``data.video_backend``,
``data.on_bad_video``, ``data.frame_sampling`` and ``data.frame_rate`` default to
:data:`CLIP_DEFAULTS`; ``predict.py`` reads the same from a checkpoint's data settings, falling
back to the same defaults (a checkpoint from before the sampling settings: spread), so both
decode a clip alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from datamodules.frame_sampling import FrameSampling, FrameSamplingKind

VideoBackend = Literal["decord", "pyav"]
OnBadVideo = Literal["raise", "skip"]


@dataclass(frozen=True)
class ClipSettings:
    """``num_frames`` sampled by ``frame_sampling`` (spread over the clip, or consecutive at
    ``frame_rate`` Hz), resized to ``image_size`` squared, decoded by ``video_backend``;
    ``on_bad_video`` says what an undecodable clip does."""

    num_frames: int = 16
    image_size: int = 224
    video_backend: VideoBackend = "decord"
    on_bad_video: OnBadVideo = "raise"
    frame_sampling: FrameSamplingKind = "spread"
    frame_rate: float | None = None

    @classmethod
    def from_data_settings(cls, data: dict, video_backend: str | None = None) -> ClipSettings:
        """From a data module's settings (``hparams`` or a checkpoint's), defaults where absent;
        ``video_backend`` overrides the stored one."""
        return cls(num_frames=data.get("num_frames", cls.num_frames),
                   image_size=data.get("image_size", cls.image_size),
                   video_backend=video_backend or data.get("video_backend", cls.video_backend),
                   on_bad_video=data.get("on_bad_video", cls.on_bad_video),
                   frame_sampling=data.get("frame_sampling", cls.frame_sampling),
                   frame_rate=data.get("frame_rate", cls.frame_rate))

    @property
    def sampling(self) -> FrameSampling:
        """Which frames of a clip are decoded (refuses a bad ``frame_sampling``/``frame_rate`` pair)."""
        return FrameSampling(self.frame_sampling, self.frame_rate)

    def cache_arguments(self) -> dict:
        """The keyword arguments of :class:`datamodules.clip_cache.ClipCache` after its folder and videos."""
        return {"num_frames": self.num_frames, "size": self.image_size, "backend": self.video_backend,
                "on_error": self.on_bad_video, "sampling": self.sampling}


CLIP_DEFAULTS = ClipSettings()
