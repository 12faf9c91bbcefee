"""Which frames of a clip are decoded: spread over the whole clip, or consecutive at a fixed rate.

``data.frame_sampling``:

- ``spread`` (default): ``num_frames`` frames spread evenly over the whole clip, the Algonauts
  dev-kit's ``np.linspace(0, n - 1, num_frames).astype(int)``; what the image backbones read.
- ``consecutive``: ``num_frames`` frames one ``1 / data.frame_rate`` second apart, in a window
  centred in the clip; what a video network's weights were trained on (torchvision's Kinetics
  weights: 16 frames at 15 fps for ``r3d_18``/``mc3_18``/``r2plus1d_18``, 16 at 7.5 fps for the
  MViTs, 32 at 15 fps for the Swin3Ds; ``lightning_modules.networks.video_backbones.VIDEO_MODELS``).
  The step in the clip's own frames is ``fps / frame_rate`` (2 for a 30 fps clip at 15 Hz, 5/3 for
  25 fps: frames rounded to the nearest); ``frame_rate: null`` takes every frame. A clip shorter
  than the window (fewer than ``(num_frames - 1) * step + 1`` frames) is padded: the window then
  starts at the first frame and its positions past the last frame repeat the last frame (logged
  once per process). A ``frame_rate`` above the clip's own rate repeats frames the same way a
  slow-motion resampling would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from datamodules.settings_checks import DataSettingsError

FrameSamplingKind = Literal["spread", "consecutive"]
KINDS = ("spread", "consecutive")
#: The spread sampling's formula, as the clip cache's key and manifest have always recorded it.
SPREAD_FORMULA = "np.linspace(0, n_frames - 1, num_frames).astype(int)"


@dataclass(frozen=True)
class FrameSampling:
    """``kind`` (``data.frame_sampling``) and ``rate`` in Hz (``data.frame_rate``, consecutive only;
    None: every frame). Refuses a bad pair with a :class:`DataSettingsError` naming the settings."""

    kind: FrameSamplingKind = "spread"
    rate: float | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise DataSettingsError(f"data.frame_sampling={self.kind!r}: expected one of "
                                    f"{', '.join(KINDS)}")
        if self.rate is None:
            return
        if self.kind == "spread":
            raise DataSettingsError(f"data.frame_rate={self.rate} is used only with "
                                    "data.frame_sampling: consecutive (spread sampling takes "
                                    "frames evenly over the whole clip); set frame_sampling: "
                                    "consecutive, or frame_rate: null")
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)) \
                or not math.isfinite(self.rate) or self.rate <= 0:
            raise DataSettingsError(f"data.frame_rate={self.rate!r}: expected frames per second "
                                    "> 0 (e.g. 15), or null for every frame of the clip")

    @property
    def description(self) -> str:
        """What the clip cache's key and manifest record: changes whenever the chosen frames do."""
        if self.kind == "spread":
            return SPREAD_FORMULA
        rate = ("every frame" if self.rate is None
                else f"{float(self.rate):g} Hz (step fps / rate, rounded)")
        return (f"consecutive at {rate}, window centred in the clip, "
                "a short clip padded with its last frame")

    @property
    def tag(self) -> str:
        """A short name for file names: ``""`` (spread, as before), ``c15hz``, ``c7.5hz``, ``call``.
        """
        if self.kind == "spread":
            return ""
        return "call" if self.rate is None else f"c{float(self.rate):g}hz"

    def step(self, fps: float | None) -> float:
        """Frames of the clip between two sampled frames (consecutive), from its rate ``fps``."""
        if self.rate is None:
            return 1.0
        if fps is None or not math.isfinite(fps) or fps <= 0:
            raise ValueError(f"the clip's frame rate is unknown ({fps!r}): consecutive sampling at "
                             f"data.frame_rate={self.rate} needs it")
        return float(fps) / float(self.rate)

    def window(self, fps: float | None, num_frames: int) -> int:
        """Frames of the clip the consecutive window covers: ``(num_frames - 1) * step + 1``."""
        return int(math.floor((num_frames - 1) * self.step(fps) + 0.5)) + 1

    def indices(self, n_frames: int, fps: float | None, num_frames: int) -> np.ndarray:
        """The frames to decode: int64 (num_frames,), non-decreasing, in ``[0, n_frames)``.

        ``fps``: the clip's frame rate (consecutive sampling at a rate needs it; spread ignores it).
        """
        if n_frames < 1:
            raise ValueError(f"n_frames_in_clip must be >= 1, got {n_frames}")
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        if self.kind == "spread":
            return np.linspace(0, n_frames - 1, num_frames).astype(np.int64)
        step = self.step(fps)
        span = (num_frames - 1) * step
        start = max(0.0, (n_frames - 1 - span) / 2)  # centred; a short clip starts at frame 0
        positions = np.floor(start + np.arange(num_frames) * step + 0.5).astype(np.int64)
        return np.minimum(positions, n_frames - 1)  # past the end: the last frame again

    def pads(self, n_frames: int, fps: float | None, num_frames: int) -> bool:
        """Whether a clip of ``n_frames`` is shorter than the consecutive window (its last frame
        repeats)."""
        return self.kind == "consecutive" and self.window(fps, num_frames) > n_frames


SPREAD = FrameSampling()
