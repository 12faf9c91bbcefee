"""The Algonauts 2021 release, read exactly as it is laid out on disk.

```
ROOT/AlgonautsVideos268_All_30fpsmax/0001_....mp4 ...  (sorted by name)
ROOT/participants_data_v2021/mini_track/subNN/{V1,...,PPA}.pkl  {"train": (n_train, n_reps, n_voxels)}
ROOT/participants_data_v2021/full_track/subNN/WB.pkl  {"train": ..., "voxel_mask": bool (78, 93, 71)}
```
The first ``n_train`` videos (the first dimension of the ``train`` arrays) have fMRI; the rest are
the test set, whose responses the challenge withheld (``Recording.test`` is None). Row ``i`` is
the clip numbered ``i + 1`` (:func:`datamodules.numbering.check_numbering`). Every check runs
before any training and names the file and what was expected.
"""

from __future__ import annotations

import re
from pathlib import Path

from datamodules.numbering import check_numbering, list_videos
from datamodules.response_checks import finite_float32, response_array, voxel_mask
from datamodules.safe_pickle import load_pickle
from datamodules.sources.base import DataLayoutError, DataSource, Recording, Release, Selection
from datamodules.sources.selecting import (
    check_policies,
    read_recordings,
    select_rois,
    select_subjects,
)
from scoring.layout import FULL_TRACK_ROIS, MINI_TRACK_ROIS

VIDEO_DIR = "AlgonautsVideos268_All_30fpsmax"
FMRI_DIR = "participants_data_v2021"
TRACKS = {"mini": ("mini_track", MINI_TRACK_ROIS), "full": ("full_track", FULL_TRACK_ROIS)}
#: The release's subject folders: sub01 .. sub10, two digits.
_SUBJECT_RE = re.compile(r"^sub\d\d$")


def available_subjects(root: Path, track: str = "mini") -> list[str]:
    """The ``subNN`` folders of the track, sorted. Another folder named ``sub...`` (``sub1`` beside
    ``sub01``, ``sub01_old``) is a :class:`DataLayoutError` naming it: it would be trained as one
    more subject and exported under a key the challenge does not have."""
    track_dir = Path(root) / FMRI_DIR / TRACKS[track][0]
    if not track_dir.is_dir():
        raise DataLayoutError(f"{track_dir}: fMRI folder not found (expected {FMRI_DIR}/{TRACKS[track][0]}/subNN/)")
    folders = [p.name for p in track_dir.iterdir() if p.is_dir()]
    if odd := sorted(n for n in folders if n.lower().startswith("sub") and not _SUBJECT_RE.match(n)):
        raise DataLayoutError(f"{track_dir}: subject folder(s) {', '.join(odd)} are not named as the release "
                              "names subjects (sub01, sub02, ..., two digits); rename or move them out")
    subjects = sorted(n for n in folders if _SUBJECT_RE.match(n))
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
    train = response_array(data["train"], path, "train")
    mask = None
    if whole_brain:
        if "voxel_mask" not in data:
            raise DataLayoutError(f"{path}: a whole-brain pickle needs 'voxel_mask' beside 'train'")
        mask = voxel_mask(data["voxel_mask"], path, train.shape[2])
    return Recording(train=finite_float32(train, path, non_finite), path=path, voxel_mask=mask)


class Algonauts2021Source(DataSource):
    """``AlgonautsVideos268_All_30fpsmax/`` and ``participants_data_v2021/{mini,full}_track/subNN/``."""

    name = "algonauts2021"
    layout = f"algonauts2021 ({VIDEO_DIR}/ and {FMRI_DIR}/, the Algonauts 2021 release or the simulator's)"

    @classmethod
    def found_in(cls, root: Path) -> list[str]:
        return [name for name in (VIDEO_DIR, FMRI_DIR) if (Path(root) / name).is_dir()]

    def read(self, selection: Selection) -> Release:
        """The videos and the selected subjects' and regions' fMRI of ``selection.track``.

        Raises :class:`DataLayoutError` for missing folders or files, arrays of the wrong shape,
        subjects that disagree on the number of videos, clips not numbered 0001.. without gaps or
        strays, fewer videos than fMRI rows, non-finite values (``non_finite="raise"``).
        """
        root = self.root
        if not root.is_dir():
            raise DataLayoutError(f"{root}: data folder not found")
        if selection.track not in TRACKS:
            raise DataLayoutError(f"track must be one of {sorted(TRACKS)}, got {selection.track!r}")
        track_name, track_rois = TRACKS[selection.track]
        fmri_dir = root / FMRI_DIR / track_name
        videos = list_videos(root, VIDEO_DIR)
        subjects = select_subjects(available_subjects(root, selection.track), selection.subjects, fmri_dir)
        rois = select_rois(track_rois, selection.rois, selection.track)
        check_policies(selection)

        def read(path: Path) -> Recording:
            return load_recording(path, whole_brain=selection.track == "full", non_finite=selection.non_finite)

        recordings = read_recordings(subjects, rois, lambda s, r: fmri_dir / s / f"{r}.pkl", read,
                                     selection.missing_rois, fmri_dir)
        release = Release(root=root, track=selection.track, video_paths=videos, recordings=recordings,
                          source=self.name)
        release.check_consistent()
        check_numbering(videos, release.n_train, root / VIDEO_DIR)
        return release
