"""The selection rules every source shares: which subjects and regions, and what a missing file does.

A source says where a (subject, region) file is and how to read it; these functions check the
selection against what was found and apply ``missing_rois`` the same way for every layout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from datamodules.sources.base import DataLayoutError, MissingRegionError, Recording, Selection
from datamodules.voxel_checks import NON_FINITE

MISSING_ROIS = ("raise", "skip")

log = logging.getLogger(__name__)


def check_policies(selection: Selection) -> None:
    """Refuse ``missing_rois`` and ``non_finite`` values no source knows."""
    if selection.missing_rois not in MISSING_ROIS:
        raise ValueError(f"missing_rois must be one of {MISSING_ROIS}, got {selection.missing_rois!r}")
    if selection.non_finite not in NON_FINITE:
        raise ValueError(f"non_finite must be one of {NON_FINITE}, got {selection.non_finite!r}")


def select_subjects(found: list[str], requested: Sequence[str] | None, where: Path) -> list[str]:
    """``requested`` (every subject ``found`` when None), each of which must have been found in ``where``."""
    subjects = list(found) if requested is None else list(requested)
    if missing := [s for s in subjects if s not in found]:
        raise DataLayoutError(f"{where}: subjects {missing} not found; available: {found}")
    return subjects


def select_rois(known: Sequence[str], requested: Sequence[str] | None, track: str) -> list[str]:
    """``requested`` (all ``known`` regions of the track when None), each a known one."""
    rois = list(known) if requested is None else list(requested)
    if unknown := [r for r in rois if r not in known]:
        raise DataLayoutError(f"regions {unknown} are not part of the {track} track; choose from {list(known)}")
    return rois


def read_recordings(subjects: list[str], rois: list[str], path_of: Callable[[str, str], Path],
                    read: Callable[[Path], Recording], missing_rois: str,
                    where: Path) -> dict[str, dict[str, Recording]]:
    """``{subject: {roi: read(path_of(subject, roi))}}`` in selection order.

    A missing file raises :class:`MissingRegionError` naming it (``missing_rois="raise"``) or leaves
    that pair out with a warning (``"skip"``); a subject left with no region is dropped, and a
    selection left with nothing at all is an error naming ``where``.
    """
    recordings: dict[str, dict[str, Recording]] = {}
    for subject in subjects:
        found = {}
        for roi in rois:
            path = path_of(subject, roi)
            if not path.is_file():
                if missing_rois == "raise":
                    raise MissingRegionError(
                        f"{path}: region file not found ({subject} has no {roi}). Restore the file, select "
                        f"other regions or subjects (data.rois, data.subjects), or pass "
                        f"--data.missing_rois skip to train without {subject}/{roi} only")
                log.warning("%s not found: %s/%s is left out (missing_rois=skip)", path, subject, roi)
                continue
            found[roi] = read(path)
        if found:
            recordings[subject] = found
        else:
            log.warning("%s has none of the regions %s: subject left out (missing_rois=skip)", subject, rois)
    if not recordings:
        raise DataLayoutError(f"{where}: none of the selected subjects {subjects} has any of the regions {rois}")
    return recordings
