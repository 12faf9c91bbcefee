"""The clips of a folder named on the command line (``predict.py --videos FOLDER``).

Taken: every file whose suffix, in any case, is one of the ISO media containers the decoders read
(:data:`VIDEO_SUFFIXES`: ``clip.mp4``, ``CLIP.MP4``, ``phone.MOV``, ``x.m4v``; the decoders refuse
other containers by content, :func:`datamodules.video.read_clip`). Every other file (and
sub-folder) is skipped and named in one warning, so that no clip goes missing from the export
unseen. Hidden files (``.DS_Store``, the default ``.clip_cache``) are ignored, but a macOS
metadata file beside the clips (``._clip.mp4``) is refused, as in a dataset's folder
(:func:`datamodules.numbering.list_videos`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from datamodules.sources.base import DataLayoutError

log = logging.getLogger(__name__)

#: Suffixes (compared lower-cased) of the containers both decoders open: mp4 and its QuickTime kin.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")
#: Skipped files named in the warning; the rest are counted.
NAMED_SKIPPED = 10


class VideoFolderError(DataLayoutError):
    """A folder of clips that cannot be predicted: missing, empty of clips, or holding macOS
    metadata files."""


def is_video_file(path: Path) -> bool:
    """Whether ``path``'s name is a clip's: a video suffix in any case, not hidden."""
    return not path.name.startswith(".") and path.suffix.lower() in VIDEO_SUFFIXES


def list_video_folder(folder: Path) -> list[Path]:
    """The clips of ``folder`` (not its sub-folders), sorted by name; the rest named in a warning.

    Raises
    ------
    VideoFolderError : ``folder`` is not a folder, holds no clip, or holds ``._*`` metadata files
        with a video suffix (they sort first and are not videos).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VideoFolderError(f"{folder}: video folder not found (expected a folder of clips)")
    entries = sorted(folder.iterdir(), key=lambda p: p.name)
    apple = [p for p in entries if p.name.startswith("._") and p.suffix.lower() in VIDEO_SUFFIXES]
    if apple:
        raise VideoFolderError(f"{apple[0]}: a macOS metadata file, not a video ({len(apple)} such "
                               f"'._*' file(s) in {folder}); delete them: "
                               f"find {folder} -name '._*' -delete")
    videos = [p for p in entries if p.is_file() and is_video_file(p)]
    skipped = [p.name + ("/" if p.is_dir() else "") for p in entries
               if not p.name.startswith(".") and p not in videos]
    if not videos:
        there = f"; it holds {_some(skipped)}" if skipped else " (it is empty)"
        others = " or ".join(VIDEO_SUFFIXES[1:])
        raise VideoFolderError(f"{folder}: no .mp4 files found (nor {others}, in any case){there}")
    if skipped:
        log.warning("%s: %d file(s) skipped, not clips (only %s files, in any case, are "
                    "predicted): %s", folder, len(skipped), "/".join(VIDEO_SUFFIXES),
                    _some(skipped))
    return videos


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:NAMED_SKIPPED])
    more = len(names) - NAMED_SKIPPED
    return shown if more <= 0 else f"{shown} and {more} more"
