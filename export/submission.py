"""The Algonauts 2021 submission: build it, zip it safely, and check it.

Format: a dict ``{ROI: {"sub01": float32 array (n_test_videos, n_voxels), ...}}``
over the regions (mini track) or ``{"WB": {...}}`` (full track), pickled as
``mini_track.pkl`` / ``full_track.pkl`` and zipped as ``mini_track.zip`` /
``full_track.zip`` with the pickle at the archive root (a folder inside the zip
is the challenge's notorious rejection).
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from datamodules.safe_pickle import load_pickle
from scoring.layout import VoxelCounts

TRACK_NAMES = {"mini": "mini_track", "full": "full_track"}


class SubmissionError(ValueError):
    """A submission zip that the challenge would reject; the message lists every problem."""


def track_of(voxel_counts: VoxelCounts) -> str:
    """``"full"`` for a whole-brain model, ``"mini"`` for region models."""
    rois = {roi for rois in voxel_counts.values() for roi in rois}
    if "WB" in rois:
        if len(rois) > 1:
            raise ValueError(f"a model mixes whole brain with regions {sorted(rois - {'WB'})}: not a challenge track")
        return "full"
    return "mini"


def build_submission(predictions: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
    """``{subject: {roi: (n_videos, n_voxels)}}`` -> the challenge's ``{roi: {subject: float32 array}}``."""
    submission: dict[str, dict[str, np.ndarray]] = {}
    for subject, rois in predictions.items():
        for roi, array in rois.items():
            submission.setdefault(roi, {})[subject] = np.ascontiguousarray(array, dtype=np.float32)
    return submission


def write_submission_zip(submission: dict, track: str, out_dir: str | Path) -> Path:
    """Pickle ``submission`` and zip it as ``OUT/<track>_track.zip``, the pickle at the root.

    Written to a temporary file in ``out_dir`` and renamed when complete, so a failure
    never leaves a half-written zip under the final name.
    """
    name = TRACK_NAMES[track]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{name}.zip"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".zip.tmp", dir=out_dir)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{name}.pkl", pickle.dumps(submission, protocol=4))
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return final


def validate_submission(zip_path: str | Path, voxel_counts: VoxelCounts, n_videos: int) -> dict:
    """Check a submission zip against what the data expects; return the loaded dict.

    Checks: the zip holds exactly ``<track>_track.pkl`` at its root; it unpickles (safely) to
    ``{roi: {subject: array}}``; every expected region and subject is present and nothing else;
    each array is (n_videos, n_voxels) with the data's voxel count; all values are finite.

    Raises
    ------
    SubmissionError
        Listing every problem found, each naming the region and subject.
    """
    zip_path = Path(zip_path)
    track = track_of(voxel_counts)
    expected_name = f"{TRACK_NAMES[track]}.pkl"
    submission = read_zip_member(zip_path, expected_name, load_pickle, SubmissionError)

    problems: list[str] = []
    if not isinstance(submission, dict):
        raise SubmissionError(f"{zip_path}: {expected_name} must hold a dict {{ROI: {{subject: array}}}}, "
                              f"got {type(submission).__name__}")
    expected_rois = list(dict.fromkeys(roi for rois in voxel_counts.values() for roi in rois))
    for roi in sorted(set(submission) - set(expected_rois)):
        problems.append(f"unexpected region '{roi}'")
    for roi in expected_rois:
        if roi not in submission:
            problems.append(f"region '{roi}' is missing")
            continue
        by_subject = submission[roi]
        if not isinstance(by_subject, dict):
            problems.append(f"{roi}: expected a dict {{subject: array}}, got {type(by_subject).__name__}")
            continue
        expected_subjects = [s for s, rois in voxel_counts.items() if roi in rois]
        for subject in sorted(set(by_subject) - set(expected_subjects)):
            problems.append(f"{roi}: unexpected subject '{subject}'")
        for subject in expected_subjects:
            if subject not in by_subject:
                problems.append(f"{roi}/{subject}: missing")
                continue
            array = np.asarray(by_subject[subject])
            shape = (n_videos, voxel_counts[subject][roi])
            if array.shape != shape:
                problems.append(f"{roi}/{subject}: shape {array.shape}, expected {shape} (videos, voxels)")
            elif not np.issubdtype(array.dtype, np.floating):
                problems.append(f"{roi}/{subject}: dtype {array.dtype}, expected floating point")
            elif not np.isfinite(array).all():
                problems.append(f"{roi}/{subject}: {int((~np.isfinite(array)).sum())} values are NaN or infinite")
    if problems:
        raise SubmissionError(f"{zip_path}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return submission


def read_zip_member(zip_path: Path, name: str, load, error: type[Exception]):
    """``load(path)`` of the one file ``name`` a submission zip must hold at its root; ``error``
    (naming the zip) when the zip is missing, not a zip, or holds anything else."""
    if not zip_path.is_file():
        raise error(f"{zip_path}: submission zip not found")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
            if names != [name]:
                raise error(f"{zip_path}: the zip must hold exactly '{name}' at its root "
                            f"(no folder), but holds {names}")
            with tempfile.TemporaryDirectory() as tmp:
                archive.extract(name, tmp)
                return load(Path(tmp) / name)
    except zipfile.BadZipFile as err:
        raise error(f"{zip_path}: not a zip file ({err})") from err
