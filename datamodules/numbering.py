"""Stimulus files in row order: row ``i`` of every response array is the clip numbered ``i + 1``.

Shared by every source that numbers its clips (:mod:`datamodules.sources`): the clips must be
numbered ``0001_`` ... ``NNNN_`` without a gap, a repeat or a stray file, since one missing clip, a
``0000_stray.mp4`` or a macOS ``._0001_....mp4`` would otherwise shift every later row onto another
clip's responses, silently (:func:`check_numbering`).
"""

from __future__ import annotations

import re
from pathlib import Path

from datamodules.sources.base import DataLayoutError

_CLIP_RE = re.compile(r"^(\d{4,})_.*\.mp4$")
#: Releases whose size is known: fMRI rows -> clips in all (Algonauts 2021: 1000 train + 102 test).
KNOWN_RELEASE_SIZES = {1000: 1102}


def list_videos(root: Path, subdir: str | None = None) -> list[Path]:
    """The ``.mp4`` files of ``root/subdir`` (or of ``root`` itself), sorted by name.

    macOS metadata files (``._<name>.mp4``, left by copying from a Mac) are refused, naming one:
    they sort first and are not videos.
    """
    video_dir = Path(root) / subdir if subdir else Path(root)
    if not video_dir.is_dir():
        raise DataLayoutError(f"{video_dir}: video folder not found (expected a folder of mp4 clips)")
    videos = sorted(video_dir.glob("*.mp4"))
    if not videos:
        raise DataLayoutError(f"{video_dir}: no .mp4 files found")
    if apple := [v for v in videos if v.name.startswith("._")]:
        raise DataLayoutError(f"{apple[0]}: a macOS metadata file, not a video ({len(apple)} such '._*.mp4' "
                              f"file(s) in {video_dir}); delete them: find {video_dir} -name '._*' -delete")
    return videos


def check_numbering(videos: list[Path], n_train: int, video_dir: Path) -> None:
    """Refuse a clip set that does not pair row ``i`` of the fMRI with clip number ``i + 1``.

    Every name must be ``NNNN_<anything>.mp4``, the numbers exactly 1, 2, ..., len(videos), and
    there must be more clips than fMRI rows' worth of train clips; a release of known size
    (:data:`KNOWN_RELEASE_SIZES`) must have all its clips. The error names the first stray file,
    repeat or gap.
    """
    numbers = []
    for video in videos:
        match = _CLIP_RE.match(video.name)
        if match is None:
            raise DataLayoutError(f"{video}: not a numbered clip (expected NNNN_<name>.mp4, like 0001_....mp4); "
                                  "move it out of the folder: a stray file would shift every later row")
        numbers.append(int(match.group(1)))
    by_number: dict[int, Path] = {}
    for number, video in zip(numbers, videos, strict=True):
        if number in by_number:
            raise DataLayoutError(f"{video}: clip number {number:04d} appears twice (also {by_number[number].name})")
        by_number[number] = video
    if min(numbers) < 1:
        raise DataLayoutError(f"{by_number[min(numbers)]}: clip numbers start at 0001; a clip numbered "
                              f"{min(numbers):04d} would shift every row of the fMRI by one")
    if missing := sorted(set(range(1, max(numbers) + 1)) - set(numbers)):
        raise DataLayoutError(f"{video_dir}: clip {missing[0]:04d}_ is missing ({len(missing)} number(s) missing "
                              f"between 0001 and {max(numbers):04d}); fMRI row {missing[0] - 1} and every later one "
                              "would be paired with the wrong clip")
    if len(videos) < n_train:
        raise DataLayoutError(f"{video_dir}: found {len(videos)} videos, but the fMRI has "
                              f"{n_train} train rows (expected at least that many videos)")
    expected = KNOWN_RELEASE_SIZES.get(n_train)
    if expected is not None and len(videos) != expected:
        known = f"a release with {n_train} fMRI rows has {expected} clips ({n_train} train + {expected - n_train} test)"
        if len(videos) < expected:
            raise DataLayoutError(f"{video_dir}: found clips 0001_ to {len(videos):04d}_, but {known}: "
                                  f"clip {len(videos) + 1:04d}_ onwards is missing")
        raise DataLayoutError(f"{video_dir}: found {len(videos)} clips, but {known}: "
                              f"{videos[expected].name} onwards do not belong to it")
