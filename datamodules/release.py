"""Reading the Algonauts 2021 release exactly as it is laid out on disk.

```
ROOT/AlgonautsVideos268_All_30fpsmax/0001_....mp4 ...  (sorted by name)
ROOT/participants_data_v2021/mini_track/subNN/{V1,...,PPA}.pkl  {"train": (n_train, n_reps, n_voxels)}
ROOT/participants_data_v2021/full_track/subNN/WB.pkl  {"train": ..., "voxel_mask": bool (78, 93, 71)}
```
The first ``n_train`` videos (the first dimension of the ``train`` arrays) have
fMRI; the rest are the test set. Every check here runs before any training and
names the file and what was expected.

Row ``i`` of every fMRI array is the clip numbered ``i + 1``, so the clips must be numbered
``0001_`` ... ``NNNN_`` without a gap, a repeat or a stray file: one missing clip, a
``0000_stray.mp4`` or a macOS ``._0001_....mp4`` would otherwise shift every later row onto
another clip's responses, silently (:func:`check_numbering`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datamodules.safe_pickle import bounded_array, load_pickle
from datamodules.voxel_checks import NON_FINITE, check_finite
from scoring.layout import FULL_TRACK_ROIS, MINI_TRACK_ROIS, VoxelCounts

VIDEO_DIR = "AlgonautsVideos268_All_30fpsmax"
FMRI_DIR = "participants_data_v2021"
TRACKS = {"mini": ("mini_track", MINI_TRACK_ROIS), "full": ("full_track", FULL_TRACK_ROIS)}
_SUBJECT_RE = re.compile(r"^sub\d+$")
_CLIP_RE = re.compile(r"^(\d{4,})_.*\.mp4$")
MISSING_ROIS = ("raise", "skip")
#: Releases whose size is known: fMRI rows -> clips in all (Algonauts 2021: 1000 train + 102 test).
KNOWN_RELEASE_SIZES = {1000: 1102}

log = logging.getLogger(__name__)


class DataLayoutError(ValueError):
    """The data on disk does not look like the Algonauts release."""


class MissingRegionError(DataLayoutError, FileNotFoundError):
    """A subject's region file is absent (see ``load_release``'s ``missing_rois``)."""


@dataclass
class Recording:
    """One subject's responses in one region.

    Attributes
    ----------
    train : array of shape (n_train, n_repetitions, n_voxels), float32
    voxel_mask : bool array of shape (X, Y, Z) or None
        Whole-brain only: where each voxel sits in the volume.
    path : Path
    """

    train: np.ndarray
    path: Path
    voxel_mask: np.ndarray | None = None


@dataclass
class Release:
    """The videos and the selected fMRI of one track.

    Attributes
    ----------
    video_paths : list of Path, all videos sorted by name, train first then test
    recordings : ``{subject: {roi: Recording}}``
    n_train : number of videos with fMRI
    """

    root: Path
    track: str
    video_paths: list[Path]
    recordings: dict[str, dict[str, Recording]] = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        return next(iter(next(iter(self.recordings.values())).values())).train.shape[0]

    @property
    def n_test(self) -> int:
        return len(self.video_paths) - self.n_train

    @property
    def voxel_counts(self) -> VoxelCounts:
        return {s: {r: rec.train.shape[2] for r, rec in rois.items()} for s, rois in self.recordings.items()}

    def stacked_train(self) -> np.ndarray:
        """All selected responses side by side, ``(n_train, n_repetitions, n_voxels_total)`` float32,
        in the flat order of :class:`scoring.layout.TargetLayout`."""
        arrays = [rec.train for rois in self.recordings.values() for rec in rois.values()]
        return np.concatenate(arrays, axis=2)


def list_videos(root: Path, subdir: str | None = VIDEO_DIR) -> list[Path]:
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
    for number, video in zip(numbers, videos):
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


def available_subjects(root: Path, track: str = "mini") -> list[str]:
    track_dir = Path(root) / FMRI_DIR / TRACKS[track][0]
    if not track_dir.is_dir():
        raise DataLayoutError(f"{track_dir}: fMRI folder not found (expected {FMRI_DIR}/{TRACKS[track][0]}/subNN/)")
    subjects = sorted(p.name for p in track_dir.iterdir() if p.is_dir() and _SUBJECT_RE.match(p.name))
    if not subjects:
        raise DataLayoutError(f"{track_dir}: no subject folders (sub01, sub02, ...) found")
    return subjects


def load_recording(path: Path, whole_brain: bool = False, non_finite: str = "raise") -> Recording:
    """Read and check one ``subNN/ROI.pkl``.

    ``non_finite``: infinite values, or values too large for float32 sums (see
    :func:`datamodules.voxel_checks.check_finite`), are refused ("raise", naming the file, video,
    repetition and voxel) or become NaN ("mask"), i.e. missing measurements.
    """
    data = load_pickle(path)
    if not isinstance(data, dict) or "train" not in data:
        raise DataLayoutError(f"{path}: expected a dict with key 'train', got {type(data).__name__}"
                              + (f" with keys {sorted(data)}" if isinstance(data, dict) else ""))
    train = bounded_array(data["train"], path, "train")
    if train.ndim != 3 or not np.issubdtype(train.dtype, np.number):
        raise DataLayoutError(f"{path}: 'train' must be a numeric array (videos, repetitions, voxels), "
                              f"got {train.dtype} of shape {train.shape}")
    if train.shape[2] < 1:
        raise DataLayoutError(f"{path}: 'train' has 0 voxels, shape {train.shape}; leave this region out "
                              "(data.rois, or data.missing_rois skip after removing the file)")
    if min(train.shape) < 1:
        raise DataLayoutError(f"{path}: 'train' has an empty dimension, shape {train.shape}")
    if train.shape[1] < 2:
        raise DataLayoutError(f"{path}: 'train' has {train.shape[1]} repetition per video, shape {train.shape}; "
                              "the noise ceiling (and so val/score) needs at least 2 repetitions of each video")
    mask = None
    if whole_brain:
        if "voxel_mask" not in data:
            raise DataLayoutError(f"{path}: a whole-brain pickle needs 'voxel_mask' beside 'train'")
        mask = bounded_array(data["voxel_mask"], path, "voxel_mask").astype(bool)
        if mask.ndim != 3:
            raise DataLayoutError(f"{path}: voxel_mask must be a 3-D volume (X, Y, Z) whose True entries are the "
                                  f"voxels, got shape {mask.shape}")
        if int(mask.sum()) != train.shape[2]:
            raise DataLayoutError(f"{path}: voxel_mask {mask.shape} has {int(mask.sum())} voxels, "
                                  f"but 'train' has {train.shape[2]} (they must agree)")
    train = check_finite(train, path, non_finite)  # before the cast: 1e300 is named as such, not as inf
    return Recording(train=train.astype(np.float32, copy=False), path=path, voxel_mask=mask)


def load_release(root: str | Path, track: str = "mini", subjects: list[str] | None = None,
                 rois: list[str] | None = None, missing_rois: str = "raise", non_finite: str = "raise") -> Release:
    """Find the videos and read the selected subjects' and regions' fMRI.

    Parameters
    ----------
    track : "mini" (nine regions) or "full" (whole brain, ``WB``)
    subjects : e.g. ``["sub01", "sub04"]``; default every ``subNN`` folder found
    rois : regions to read; default all of the track's
    missing_rois : a subject lacking one of the regions' files: "raise" (default) a
        :class:`DataLayoutError` naming the file, or "skip" that subject's region (logged
        warning naming the file); the subjects then have different region sets, and a subject
        left with no region at all is dropped
    non_finite : infinite or float32-overflowing values in a file: "raise" (default) naming the
        file, video, repetition and voxel, or "mask" them as missing measurements (NaN, logged)

    Raises
    ------
    DataLayoutError
        Missing folders or files, arrays of the wrong shape, subjects that disagree
        on the number of videos, clips not numbered 0001.. without gaps or strays, fewer videos
        than fMRI rows, non-finite values (``non_finite="raise"``).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataLayoutError(f"{root}: data folder not found")
    if track not in TRACKS:
        raise DataLayoutError(f"track must be one of {sorted(TRACKS)}, got {track!r}")
    track_name, track_rois = TRACKS[track]
    videos = list_videos(root)
    found = available_subjects(root, track)
    subjects = found if subjects is None else list(subjects)
    if missing := [s for s in subjects if s not in found]:
        raise DataLayoutError(f"{root / FMRI_DIR / track_name}: subjects {missing} not found; available: {found}")
    rois = list(track_rois) if rois is None else list(rois)
    if unknown := [r for r in rois if r not in track_rois]:
        raise DataLayoutError(f"regions {unknown} are not part of the {track} track; choose from {list(track_rois)}")

    if missing_rois not in MISSING_ROIS:
        raise ValueError(f"missing_rois must be one of {MISSING_ROIS}, got {missing_rois!r}")
    if non_finite not in NON_FINITE:
        raise ValueError(f"non_finite must be one of {NON_FINITE}, got {non_finite!r}")

    release = Release(root=root, track=track, video_paths=videos)
    for subject in subjects:
        recordings = {}
        for roi in rois:
            path = root / FMRI_DIR / track_name / subject / f"{roi}.pkl"
            if not path.is_file():
                if missing_rois == "raise":
                    raise MissingRegionError(
                        f"{path}: region file not found ({subject} has no {roi}). Restore the file, select "
                        f"other regions or subjects (data.rois, data.subjects), or pass "
                        f"--data.missing_rois skip to train without {subject}/{roi} only")
                log.warning("%s not found: %s/%s is left out (missing_rois=skip)", path, subject, roi)
                continue
            recordings[roi] = load_recording(path, whole_brain=track == "full", non_finite=non_finite)
        if recordings:
            release.recordings[subject] = recordings
        else:
            log.warning("%s has none of the regions %s: subject left out (missing_rois=skip)", subject, rois)
    if not release.recordings:
        raise DataLayoutError(f"{root / FMRI_DIR / track_name}: none of the selected subjects {subjects} has "
                              f"any of the regions {rois}")
    n_rows = {rec.path: rec.train.shape[0] for rois_ in release.recordings.values() for rec in rois_.values()}
    if len(set(n_rows.values())) > 1:
        raise DataLayoutError("the fMRI files disagree on the number of train videos: "
                              + ", ".join(f"{p} has {n}" for p, n in n_rows.items()))
    n_reps = {rec.path: rec.train.shape[1] for rois_ in release.recordings.values() for rec in rois_.values()}
    if len(set(n_reps.values())) > 1:
        raise DataLayoutError("the fMRI files disagree on the number of repetitions: "
                              + ", ".join(f"{p} has {n}" for p, n in n_reps.items()))
    check_numbering(videos, release.n_train, root / VIDEO_DIR)
    return release
