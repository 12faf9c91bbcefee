"""The BOLD Moments Dataset (BMD; Lahner et al. 2024, OpenNeuro ds005165), version B, MNI152.

```
ROOT/derivatives/versionB/MNI152/prepared_allvoxel_pkl/sub-XX/sub-XX_roi-NAME_betas_normalized.pkl
ROOT/derivatives/versionB/MNI152/GLM/sub-XX/prepared_betas/sub-XX_organized_betas_task-{train,test}_normalized.pkl
ROOT/derivatives/stimuli_metadata/mp4_h264/0001.mp4 ... (or data.video_dir)
```
The files themselves are read by :mod:`datamodules.bmd_files`; region names map to files by
:mod:`datamodules.bmd_regions`. ``track: mini`` reads region files (default: the 2021 challenge's
nine regions, each merged from its hemispheres' and parts' files), ``track: full`` the whole-brain
files (one region, ``WB``, its columns the mask's nonzero voxels; converted once to a float32
cache read memory-mapped, :mod:`datamodules.response_cache`). BMD publishes the test videos'
responses: every :class:`Recording` has ``test``. NaN marks a missing repetition and is kept (the
targets and the noise ceilings use the repetitions present).

Row ``i`` is clip number ``i + 1`` (train 0001-1000, test 1001-1102 in the published release): the
clip folder must hold exactly clips 1 .. n_train + n_test, named ``NNNN.mp4`` or
``NNNN_<name>.mp4`` (the 2021 folder's names).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from datamodules import bmd_files
from datamodules.bmd_regions import CHALLENGE_REGIONS, ColumnBlock, region_files
from datamodules.mask_space import MaskSpace
from datamodules.response_cache import cached_whole_brain
from datamodules.response_checks import finite_float32
from datamodules.sources.base import DataLayoutError, DataSource, Recording, Release, Selection
from datamodules.sources.selecting import check_policies, read_recordings, select_subjects
from datamodules.video_files import VIDEO_SUFFIXES
from datamodules.voxel_checks import NonFiniteResponseError

WHOLE_BRAIN = "WB"
TRACKS = ("mini", "full")
_CLIP = re.compile(r"^(\d{4,})(_.*)?$")


class BMDSource(DataSource):
    """BOLD Moments' ``derivatives/versionB/MNI152/`` files and ``derivatives/stimuli_metadata/mp4_h264/``."""

    name = "bmd"
    layout = (f"bmd ({bmd_files.BMD_DIR}/prepared_allvoxel_pkl/ or GLM/ and "
              f"{bmd_files.VIDEO_DIR}/, the BOLD Moments release or the simulator's --layout bmd)")

    @classmethod
    def found_in(cls, root: Path) -> list[str]:
        return [str(bmd_files.BMD_DIR)] if (Path(root) / bmd_files.BMD_DIR).is_dir() else []

    def read(self, selection: Selection) -> Release:
        """The clips and the selected subjects' regions (``mini``) or whole brains (``full``).

        Raises :class:`DataLayoutError` naming the file for a missing folder or file, an unknown
        region name, arrays of the wrong shape, a stimulus order out of row order, files that
        disagree, clips not numbered 1 .. n_train + n_test.
        """
        root = self.root
        if not root.is_dir():
            raise DataLayoutError(f"{root}: data folder not found")
        if selection.track not in TRACKS:
            raise DataLayoutError(f"track must be one of {list(TRACKS)}, got {selection.track!r}")
        check_policies(selection)
        try:
            found = bmd_files.subjects(root)
        except FileNotFoundError as err:
            raise DataLayoutError(str(err)) from None
        base = root / (bmd_files.ROI_DIR if selection.track == "mini" else bmd_files.GLM_DIR)
        subjects = select_subjects(found, selection.subjects, base)
        if selection.track == "mini":
            recordings = self._regions(subjects, _region_names(selection.rois), selection)
        else:
            if selection.rois is not None and list(selection.rois) != [WHOLE_BRAIN]:
                raise DataLayoutError(f"the full track is the whole brain (rois [{WHOLE_BRAIN}]), got "
                                      f"{list(selection.rois)}; choose regions with --data.track mini")
            recordings = read_recordings(subjects, [WHOLE_BRAIN],
                                         lambda s, r: bmd_files.whole_brain_path(root, s, "train"),
                                         lambda path: self._whole_brain(path, selection.non_finite),
                                         selection.missing_rois, base)
        videos = stimulus_files(Path(selection.video_dir) if selection.video_dir else root / bmd_files.VIDEO_DIR)
        release = Release(root=root, track=selection.track, video_paths=videos, recordings=recordings,
                          source=self.name)
        release.check_consistent()
        return release

    def _regions(self, subjects: list[str], rois: list[str], selection: Selection) -> dict:
        where: dict[Path, tuple[str, str]] = {}

        def path_of(subject: str, roi: str) -> Path:
            # The first of the region's files the subject has stands for the region (missing_rois
            # applies when it has none of them).
            present = set(bmd_files.region_file_names(self.root, subject))
            files = [f for f in region_files(roi) if f in present] or list(region_files(roi))
            path = bmd_files.roi_path(self.root, subject, files[0])
            where[path] = (subject, roi)
            return path

        def read(path: Path) -> Recording:
            subject, roi = where[path]
            try:
                responses, blocks = bmd_files.read_region(self.root, subject, roi)
            except (ValueError, FileNotFoundError) as err:
                raise DataLayoutError(str(err)) from None
            return _recording(responses.train, responses.test, path, selection.non_finite, blocks=blocks)

        return read_recordings(subjects, rois, path_of, read, selection.missing_rois,
                               self.root / bmd_files.ROI_DIR)

    def _whole_brain(self, path: Path, non_finite: str) -> Recording:
        subject = path.parent.parent.name
        try:
            # Converted once to float32 .npy files read memory-mapped (datamodules/response_cache.py).
            train = cached_whole_brain(self.root, subject, "train", non_finite=non_finite)
            test = cached_whole_brain(self.root, subject, "test", n_train=train.betas.shape[0], non_finite=non_finite)
        except NonFiniteResponseError:
            raise
        except (ValueError, FileNotFoundError) as err:
            raise DataLayoutError(str(err)) from None
        if not np.array_equal(train.mask, test.mask):
            raise DataLayoutError(f"{bmd_files.whole_brain_path(self.root, subject, 'test')}: its mask differs "
                                  f"from the train file's ({path}); expected the same voxels in both")
        # Checked for infinite values as the cache was written; kept memory-mapped (not copied).
        return Recording(train=train.betas, path=path, voxel_mask=train.mask, test=test.betas,
                         space=MaskSpace(train.affine, train.header))


def _recording(train: np.ndarray, test: np.ndarray, path: Path, non_finite: str, *,
               mask: np.ndarray | None = None, blocks: list[ColumnBlock] | None = None) -> Recording:
    """float32 copies (NaN kept; values beyond float32 refused or masked by ``non_finite``)."""
    return Recording(train=finite_float32(train, path, non_finite), path=path, voxel_mask=mask,
                     test=finite_float32(test, path, non_finite), columns=blocks)


def _region_names(requested) -> list[str]:
    """``requested`` (default: the 2021 challenge's nine), each a name BMD's files can make."""
    rois = list(CHALLENGE_REGIONS) if requested is None else list(requested)
    for roi in rois:
        try:
            region_files(roi)
        except ValueError as err:
            raise DataLayoutError(str(err)) from None
    return rois


def stimulus_files(folder: Path) -> list[Path]:
    """The clips of ``folder`` in row order: ``NNNN.mp4`` or ``NNNN_<name>.mp4`` (any video suffix's
    case), numbered 1, 2, ... without gap or repeat; other files are refused by name."""
    if not folder.is_dir():
        raise DataLayoutError(f"{folder}: video folder not found (BMD's clips are in {bmd_files.VIDEO_DIR}/ "
                              "of the dataset, downloaded separately; or give --data.video_dir)")
    by_number: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        match = _CLIP.match(path.stem)
        if path.suffix.lower() not in VIDEO_SUFFIXES or match is None:
            raise DataLayoutError(f"{path}: not a numbered clip (expected NNNN.mp4 or NNNN_<name>.mp4); move "
                                  "it out of the folder: a stray file would shift every later row")
        number = int(match.group(1))
        if number in by_number:
            raise DataLayoutError(f"{path}: clip number {number:04d} appears twice (also {by_number[number].name})")
        by_number[number] = path
    if not by_number:
        raise DataLayoutError(f"{folder}: no clips found (expected 0001.mp4, 0002.mp4, ...)")
    numbers = sorted(by_number)
    if missing := sorted(set(range(1, numbers[-1] + 1)) - set(numbers)):
        raise DataLayoutError(f"{folder}: clip {missing[0]:04d} is missing; row {missing[0] - 1} and every "
                              "later one would be paired with the wrong clip")
    return [by_number[n] for n in numbers]
