"""What a data source gives the tool, whatever its files look like on disk.

A *source* reads one dataset layout (the Algonauts 2021 release today; BOLD Moments, a documented
folder format and movie time series are meant to follow, one module or folder each, listed in
:mod:`datamodules.sources.registry`). It turns a root folder and a :class:`Selection` into a
:class:`Release`:

- ``video_paths``: the stimulus files in row order (train rows first, then test rows);
- ``recordings[subject][roi]``: a :class:`Recording` with ``train`` responses of shape
  (n_train, n_repetitions, n_voxels) and, where the source has them, ``test`` responses of shape
  (n_test, n_test_repetitions, n_voxels); NaN marks a missing measurement;
- the target layout ``{subject: {roi: n_voxels}}`` (:attr:`Release.voxel_counts`);
- whole-brain voxel masks (:attr:`Release.voxel_masks`), stimulus names in row order.

What every source shares stays outside the sources: the safe unpickler
(:mod:`datamodules.safe_pickle`), the response array and finiteness checks
(:mod:`datamodules.response_checks`, :mod:`datamodules.voxel_checks`), the clip numbering
(:mod:`datamodules.numbering`) and the consistency of the files with each other
(:meth:`Release.check_consistent`). A source adds only where its files are and how they are named.

Sources of ``kind`` ``"clips"`` (one response per stimulus and repetition) feed
:class:`datamodules.algonauts.AlgonautsDataModule`; a time-series source (fMRI runs of TRs under
long movies) would declare another ``kind`` and return its own type to its own data module, while
sharing the registry and the detection.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from datamodules.mask_space import MaskSpace
from datamodules.sources.stacked import StackedResponses
from scoring.layout import VoxelCounts


class DataLayoutError(ValueError):
    """The data on disk does not look like a layout the tool reads."""


class MissingRegionError(DataLayoutError, FileNotFoundError):
    """A subject's region file is absent (see :class:`Selection`'s ``missing_rois``)."""


@dataclass
class Recording:
    """One subject's responses in one region.

    Attributes
    ----------
    train : float32 array of shape (n_train, n_repetitions, n_voxels)
    path : Path, the file read (named in errors)
    voxel_mask : bool array of shape (X, Y, Z) or None
        Whole-brain only: where each voxel sits in the volume (its True entries, in C order, are
        the columns).
    test : float32 array of shape (n_test, n_test_repetitions, n_voxels) or None
        Responses to the test stimuli, where the source publishes them.
    columns : list of objects with ``as_json()`` or None
        A region merged from several files: which file's voxels sit in which columns
        (:class:`datamodules.bmd_regions.ColumnBlock`), recorded in the export's manifest.
    space : :class:`datamodules.mask_space.MaskSpace` or None
        Whole brain: the mask file's NIfTI affine and header, where the source has them (NIfTI
        outputs are written in that space); None: voxel coordinates.
    """

    train: np.ndarray
    path: Path
    voxel_mask: np.ndarray | None = None
    test: np.ndarray | None = None
    columns: list | None = None
    space: MaskSpace | None = None


@dataclass
class Release:
    """The stimuli and the selected responses of one dataset.

    Attributes
    ----------
    root : the dataset's folder
    track : the response set read (``"mini"``: regions, ``"full"``: whole brain)
    video_paths : the stimulus files in row order, train rows first then test rows
    recordings : ``{subject: {roi: Recording}}``, in the flat order of
        :class:`scoring.layout.TargetLayout`
    source : the :attr:`DataSource.name` that read it
    """

    root: Path
    track: str
    video_paths: list[Path]
    recordings: dict[str, dict[str, Recording]] = field(default_factory=dict)
    source: str = "algonauts2021"

    def _all(self) -> list[Recording]:
        return [rec for rois in self.recordings.values() for rec in rois.values()]

    @property
    def n_train(self) -> int:
        """Stimuli with training responses: rows ``0 .. n_train - 1``."""
        return self._all()[0].train.shape[0]

    @property
    def n_test(self) -> int:
        """Test stimuli: rows ``n_train ..`` of :attr:`video_paths`."""
        return len(self.video_paths) - self.n_train

    @property
    def stimulus_names(self) -> list[str]:
        """File names of the stimuli, in row order."""
        return [path.name for path in self.video_paths]

    @property
    def voxel_counts(self) -> VoxelCounts:
        """``{subject: {roi: n_voxels}}``: the target layout."""
        return {s: {r: rec.train.shape[2] for r, rec in rois.items()} for s, rois in self.recordings.items()}

    @property
    def voxel_masks(self) -> dict[str, np.ndarray]:
        """``{subject: bool (X, Y, Z)}`` of the whole-brain recordings; empty for regions."""
        return {subject: rec.voxel_mask for subject, rois in self.recordings.items()
                for rec in rois.values() if rec.voxel_mask is not None}

    @property
    def whole_brain_groups(self) -> dict[tuple[str, str], tuple[np.ndarray, MaskSpace | None]]:
        """``{(subject, roi): (bool mask (X, Y, Z), its MaskSpace or None)}`` of the whole-brain recordings."""
        return {(s, r): (rec.voxel_mask, rec.space) for s, rois in self.recordings.items()
                for r, rec in rois.items() if rec.voxel_mask is not None}

    @property
    def column_blocks(self) -> dict[str, list[dict]]:
        """``{"subject/roi": [{"file", "start", "stop"}, ...]}`` of the regions merged from files
        (where the source says so); empty otherwise."""
        return {f"{s}/{r}": [block.as_json() for block in rec.columns] for s, rois in self.recordings.items()
                for r, rec in rois.items() if rec.columns}

    def test_responses(self) -> dict[str, dict[str, np.ndarray]] | None:
        """``{subject: {roi: (n_test, n_test_repetitions, n_voxels)}}``, or None without test responses."""
        if not self.has_test_responses:
            return None
        return {s: {r: rec.test for r, rec in rois.items()} for s, rois in self.recordings.items()}

    @property
    def has_test_responses(self) -> bool:
        return all(rec.test is not None for rec in self._all())

    def stacked_train(self) -> np.ndarray:
        """All selected responses side by side, ``(n_train, n_repetitions, n_voxels_total)`` float32,
        in the flat order of :class:`scoring.layout.TargetLayout`."""
        return np.concatenate([rec.train for rec in self._all()], axis=2)

    def train_responses(self) -> np.ndarray | StackedResponses:
        """The train responses side by side, ``(n_train, n_repetitions, n_voxels_total)`` float32:
        :meth:`stacked_train` where every recording is in memory, else (memory-mapped whole-brain
        caches) a :class:`~datamodules.sources.stacked.StackedResponses` that reads slices."""
        if any(isinstance(rec.train, np.memmap) for rec in self._all()):
            return StackedResponses([rec.train for rec in self._all()])
        return self.stacked_train()

    def stacked_test(self) -> np.ndarray | None:
        """The test responses side by side, ``(n_test, n_test_repetitions, n_voxels_total)``
        float32, or None where the source has none."""
        if not self.has_test_responses:
            return None
        return np.concatenate([rec.test for rec in self._all()], axis=2)

    def check_consistent(self) -> None:
        """Refuse files that disagree on the number of stimuli or repetitions, naming each file."""
        recordings = self._all()
        _agree("train videos", {rec.path: rec.train.shape[0] for rec in recordings})
        _agree("repetitions", {rec.path: rec.train.shape[1] for rec in recordings})
        tests = [rec for rec in recordings if rec.test is not None]
        if not tests:
            return
        if len(tests) != len(recordings):
            missing = next(rec for rec in recordings if rec.test is None)
            raise DataLayoutError(f"{tests[0].path} has test responses but {missing.path} has none: "
                                  "either every file of the selection has them or none does")
        _agree("test videos", {rec.path: rec.test.shape[0] for rec in tests})
        _agree("test repetitions", {rec.path: rec.test.shape[1] for rec in tests})
        if tests[0].test.shape[0] != self.n_test:
            raise DataLayoutError(f"{tests[0].path}: {tests[0].test.shape[0]} test rows, but the stimulus folder "
                                  f"has {self.n_test} test stimuli after the {self.n_train} train ones")


def _agree(what: str, sizes: dict[Path, int]) -> None:
    if len(set(sizes.values())) > 1:
        raise DataLayoutError(f"the fMRI files disagree on the number of {what}: "
                              + ", ".join(f"{p} has {n}" for p, n in sizes.items()))


@dataclass(frozen=True)
class Selection:
    """Which responses to read: a source's part of the ``data.*`` settings.

    Attributes
    ----------
    track : ``"mini"`` (regions of interest) or ``"full"`` (whole brain)
    subjects : subjects to read; None: every one found
    rois : regions to read; None: all of the track's
    missing_rois : a subject lacking one region's file: ``"raise"`` or ``"skip"`` that pair
    non_finite : infinite or float32-overflowing values: ``"raise"`` or ``"mask"`` them as NaN
    video_dir : the stimulus folder where it is not the layout's own (None: the layout's)
    """

    track: str = "mini"
    subjects: tuple[str, ...] | None = None
    rois: tuple[str, ...] | None = None
    missing_rois: str = "raise"
    non_finite: str = "raise"
    video_dir: str | None = None

    @classmethod
    def from_settings(cls, data: Mapping) -> Selection:
        """From a data module's settings (its ``hparams``), every key present."""
        return cls(track=data["track"],
                   subjects=None if data["subjects"] is None else tuple(data["subjects"]),
                   rois=None if data["rois"] is None else tuple(data["rois"]),
                   missing_rois=data["missing_rois"], non_finite=data["non_finite"],
                   video_dir=data.get("video_dir"))


class DataSource(ABC):
    """One dataset layout: where its stimuli and responses are, and how to read them.

    Subclasses set :attr:`name` (the ``data.source`` value), :attr:`layout` (one line saying what
    on disk identifies it, shown when a folder holds nothing known) and implement
    :meth:`found_in` and :meth:`read`; they are listed in :mod:`datamodules.sources.registry`.
    """

    name: ClassVar[str]
    layout: ClassVar[str]
    kind: ClassVar[str] = "clips"

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @classmethod
    @abstractmethod
    def found_in(cls, root: Path) -> list[str]:
        """The entries of ``root`` that mark this layout (file or folder names); empty when none do."""

    @abstractmethod
    def read(self, selection: Selection) -> Release:
        """The stimuli in row order and the selected responses, checked.

        Raises :class:`DataLayoutError` (naming the file and what was expected) for anything that
        does not fit the layout.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"
