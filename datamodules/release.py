"""The Algonauts 2021 release by its earlier import path: names kept for the code and tests that use them.

The reader itself is :mod:`datamodules.sources.algonauts2021` (behind the source interface of
:mod:`datamodules.sources.base`); the clip numbering is :mod:`datamodules.numbering`. New code
imports from there, and reads a dataset through :func:`datamodules.sources.registry.open_source`.
"""

from __future__ import annotations

from pathlib import Path

from datamodules import numbering
from datamodules.numbering import KNOWN_RELEASE_SIZES, check_numbering  # noqa: F401
from datamodules.sources.algonauts2021 import (  # noqa: F401
    FMRI_DIR,
    TRACKS,
    VIDEO_DIR,
    Algonauts2021Source,
    available_subjects,
    load_recording,
)
from datamodules.sources.base import (  # noqa: F401
    DataLayoutError,
    MissingRegionError,
    Recording,
    Release,
    Selection,
)
from datamodules.sources.selecting import MISSING_ROIS  # noqa: F401


def list_videos(root: Path, subdir: str | None = VIDEO_DIR) -> list[Path]:
    """The ``.mp4`` files of ``root/subdir`` (default the release's video folder; None: ``root``
    itself), sorted by name (:func:`datamodules.numbering.list_videos`)."""
    return numbering.list_videos(root, subdir)


def load_release(root: str | Path, track: str = "mini", subjects: list[str] | None = None,
                 rois: list[str] | None = None, missing_rois: str = "raise", non_finite: str = "raise") -> Release:
    """The 2021 release at ``root``: :meth:`Algonauts2021Source.read` of that selection."""
    selection = Selection(track=track, subjects=None if subjects is None else tuple(subjects),
                          rois=None if rois is None else tuple(rois), missing_rois=missing_rois, non_finite=non_finite)
    return Algonauts2021Source(root).read(selection)
