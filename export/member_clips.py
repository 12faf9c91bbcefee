"""Every member of an ensemble must have been trained on the clips the ensemble is fed.

Prediction decodes the videos once, with the first member's clip settings, and feeds every member
those clips. A member trained with another ``data.num_frames`` or ``data.image_size`` was then
given clips it never saw in training: the export depended on member order and equalled no member's
own predictions, while the printed estimate came from each member's own validation.
:func:`check_same_clips` refuses such an ensemble before anything is decoded, naming the member and
each setting that differs.
"""

from __future__ import annotations

from pathlib import Path

from datamodules.clip_settings import ClipSettings

#: The clip settings that change what a model is fed (the backends agree frame for frame).
CLIP_KEYS = ("num_frames", "image_size", "frame_sampling", "frame_rate")


class EnsembleClipsError(ValueError):
    """Ensemble members trained on clips of different settings."""


def check_same_clips(data_settings: list[dict], checkpoints: list[Path]) -> None:
    """``data_settings[i]``: member ``i``'s saved data settings (its checkpoint ``checkpoints[i]``)."""
    first = ClipSettings.from_data_settings(data_settings[0])
    problems = []
    for data, path in zip(data_settings[1:], checkpoints[1:], strict=True):
        own = ClipSettings.from_data_settings(data)
        differ = [f"data.{k} {getattr(own, k)} (first member: {getattr(first, k)})" for k in CLIP_KEYS
                  if getattr(own, k) != getattr(first, k)]
        if differ:
            problems.append(f"{path}: {', '.join(differ)}")
    if problems:
        raise EnsembleClipsError(
            f"ensemble members were trained on other clips than the first member ({checkpoints[0]}): "
            f"{'; '.join(problems)}. One set of clips feeds every member; ensemble checkpoints trained with "
            "the same data.num_frames and data.image_size, or predict each on its own")
