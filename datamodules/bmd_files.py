"""Read a BOLD Moments (BMD) release's files: per-region and whole-brain responses, as plain arrays.

Layout under a dataset root (version B derivatives, MNI152 volume space)::

    ROOT/derivatives/versionB/MNI152/prepared_allvoxel_pkl/sub-XX/sub-XX_roi-NAME_betas_normalized.pkl
        {"train_data_allvoxel": (n_train, n_train_reps, n_voxels),
         "test_data_allvoxel": (n_test, n_test_reps, n_voxels),
         optional "train_stim_order", "test_stim_order" (a name or number per row); others ignored}
    ROOT/derivatives/versionB/MNI152/GLM/sub-XX/prepared_betas/
        sub-XX_organized_betas_task-{train,test}_normalized.pkl
        (betas (n, reps, n_voxels), stimorder (n,) names 'vid0001', ..., mask nibabel Nifti1Image
         whose nonzero voxels, in C order, are the columns)
    ROOT/derivatives/stimuli_metadata/mp4_h264/0001.mp4 ...

Row ``i`` of the train arrays is clip ``i + 1``; row ``i`` of the test arrays clip
``n_train + i + 1`` (train 0001-1000, test 1001-1102 in the published release). A stimulus order,
where a file has one, must say exactly that (names are read by their number: ``'vid0001'``,
``'0001.mp4'``, ``1``).
NaN marks a missing repetition and is kept. Sizes come from the files. Pickles are opened with the
safe unpickler (:mod:`datamodules.safe_pickle`); whole-brain files admit the mask's nibabel image.
Every error is one line naming the file and what was expected.

This module reads files and returns arrays and names; which files a run reads (subjects, regions,
tracks) is the data source's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datamodules.bmd_regions import ColumnBlock, column_blocks, region_files
from datamodules.safe_pickle import load_pickle

BMD_DIR = Path("derivatives", "versionB", "MNI152")
ROI_DIR = BMD_DIR / "prepared_allvoxel_pkl"
GLM_DIR = BMD_DIR / "GLM"
VIDEO_DIR = Path("derivatives", "stimuli_metadata", "mp4_h264")
SPLITS = ("train", "test")
_SUBJECT = re.compile(r"^sub-\d+$")
_CLIP_NAME = re.compile(r"^[A-Za-z_-]*(\d+)")  # 'vid0001', '0001', '0001_name' (extension removed)
_ROI_FILE = re.compile(r"^(sub-\d+)_roi-(.+)_betas_normalized\.pkl$")


def subject_name(index: int) -> str:
    """``sub-01`` for 0-based ``index``."""
    return f"sub-{index + 1:02d}"


def roi_path(root: str | Path, subject: str, roi: str) -> Path:
    """``ROOT/.../prepared_allvoxel_pkl/sub-XX/sub-XX_roi-<roi>_betas_normalized.pkl``."""
    return Path(root) / ROI_DIR / subject / f"{subject}_roi-{roi}_betas_normalized.pkl"


def whole_brain_path(root: str | Path, subject: str, split: str) -> Path:
    """``ROOT/.../GLM/sub-XX/prepared_betas/sub-XX_organized_betas_task-<split>_normalized.pkl``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return (Path(root) / GLM_DIR / subject / "prepared_betas"
            / f"{subject}_organized_betas_task-{split}_normalized.pkl")


def video_path(root: str | Path, index: int) -> Path:
    """``ROOT/derivatives/stimuli_metadata/mp4_h264/NNNN.mp4`` for 0-based clip ``index``."""
    return Path(root) / VIDEO_DIR / f"{index + 1:04d}.mp4"


def subjects(root: str | Path) -> list[str]:
    """The ``sub-XX`` folders holding region files or whole-brain files, sorted.

    Raises
    ------
    FileNotFoundError
        Neither folder exists or holds a subject (naming both).
    """
    root = Path(root)
    found = set()
    for base in (root / ROI_DIR, root / GLM_DIR):
        if base.is_dir():
            found.update(p.name for p in base.iterdir() if p.is_dir() and _SUBJECT.match(p.name))
    if not found:
        raise FileNotFoundError(f"{root}: no BMD subject folders (sub-XX) under {ROI_DIR} or "
                                f"{GLM_DIR}")
    return sorted(found)


def region_file_names(root: str | Path, subject: str) -> list[str]:
    """The ``roi-NAME`` names of a subject's region files, sorted (empty if there are none)."""
    folder = Path(root) / ROI_DIR / subject
    if not folder.is_dir():
        return []
    names = []
    for path in folder.iterdir():
        m = _ROI_FILE.match(path.name)
        if m and m.group(1) == subject:
            names.append(m.group(2))
    return sorted(names)


@dataclass(frozen=True)
class Responses:
    """One region's responses of one subject.

    train : float (n_train, n_train_repetitions, n_voxels); NaN = missing repetition
    test : float (n_test, n_test_repetitions, n_voxels); NaN = missing repetition
    train_clips, test_clips : int64 (n_train,), (n_test,): 1-based clip number of each row
    """

    train: np.ndarray
    test: np.ndarray
    train_clips: np.ndarray
    test_clips: np.ndarray

    @property
    def n_voxels(self) -> int:
        return self.train.shape[2]


def read_region_file(root: str | Path, subject: str, roi: str) -> Responses:
    """One ``sub-XX_roi-<roi>_betas_normalized.pkl``, checked (see the module docstring).

    Raises
    ------
    FileNotFoundError
        The file is not there.
    ValueError
        Wrong keys, shapes, dtypes, infinite values or stimulus order (naming the file).
    """
    path = roi_path(root, subject, roi)
    data = load_pickle(path)
    keys = ("train_data_allvoxel", "test_data_allvoxel")
    if not isinstance(data, dict) or any(k not in data for k in keys):
        found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path}: expected a dict with keys {list(keys)}, found {found}")
    train = _responses(data[keys[0]], path, keys[0])
    test = _responses(data[keys[1]], path, keys[1])
    if train.shape[2] != test.shape[2]:
        raise ValueError(f"{path}: {keys[0]} has {train.shape[2]} voxels but {keys[1]} has "
                         f"{test.shape[2]}; expected the same voxels in both")
    n_train = train.shape[0]
    train_clips = np.arange(1, n_train + 1)
    test_clips = np.arange(n_train + 1, n_train + test.shape[0] + 1)
    for key, expected in (("train_stim_order", train_clips), ("test_stim_order", test_clips)):
        if data.get(key) is not None:
            _check_order(data[key], expected, path, key)
    return Responses(train, test, train_clips, test_clips)


def read_region(root: str | Path, subject: str, region: str) -> tuple[Responses, list[ColumnBlock]]:
    """A region by name (the 2021 challenge's, BMD's, one hemisphere's or ``BMDgeneral``, see
    :mod:`datamodules.bmd_regions`): its present files' columns side by side, and where each file's
    columns sit.

    Returns
    -------
    responses : :class:`Responses` with the merged columns
    blocks : :class:`~datamodules.bmd_regions.ColumnBlock` per file, in column order

    Raises
    ------
    ValueError
        Unknown name, none of its files present, or parts that disagree on rows or repetitions.
    """
    present = set(region_file_names(root, subject))
    parts = {f: read_region_file(root, subject, f) for f in region_files(region) if f in present}
    if not parts:
        files = ", ".join(str(roi_path(root, subject, f)) for f in region_files(region))
        raise FileNotFoundError(f"region {region!r} of {subject}: none of its files is there "
                                f"({files})")
    blocks = column_blocks(region, {f: r.n_voxels for f, r in parts.items()})
    first_file, first = next(iter(parts.items()))
    for f, r in parts.items():
        if r.train.shape[:2] != first.train.shape[:2] or r.test.shape[:2] != first.test.shape[:2]:
            other = roi_path(root, subject, first_file).name
            raise ValueError(f"{roi_path(root, subject, f)}: train {r.train.shape[:2]} and test "
                             f"{r.test.shape[:2]} (videos, repetitions), but {other} has "
                             f"{first.train.shape[:2]} and {first.test.shape[:2]}; a merged "
                             "region's files must agree")
    if len(parts) == 1:
        return first, blocks
    train = np.concatenate([parts[b.file].train for b in blocks], axis=2)
    test = np.concatenate([parts[b.file].test for b in blocks], axis=2)
    return Responses(train, test, first.train_clips, first.test_clips), blocks


@dataclass(frozen=True)
class WholeBrain:
    """One subject's whole-brain file of one split.

    betas : float (n_videos, n_repetitions, n_voxels); NaN = missing repetition
    clips : int64 (n_videos,), 1-based clip number of each row
    mask : bool (X, Y, Z); ``mask.sum() == n_voxels``, columns are its True voxels in C order
    affine : float64 (4, 4), voxel to world (MNI152) coordinates
    header : the mask image's NIfTI-1 header bytes (``binaryblock``; empty where unknown)
    """

    betas: np.ndarray
    clips: np.ndarray
    mask: np.ndarray
    affine: np.ndarray
    header: bytes = b""


def read_whole_brain(root: str | Path, subject: str, split: str,
                     n_train: int | None = None) -> WholeBrain:
    """``sub-XX_organized_betas_task-<split>_normalized.pkl``, checked.

    Parameters
    ----------
    n_train : for ``split="test"``, the number of train clips, so the test rows must be clips
        ``n_train + 1 ...``; without it the test stimulus order need only be consecutive.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file; not a ``(betas, stimorder, mask)`` tuple; wrong shapes or order; a mask whose
        nonzero voxels are not as many as the columns (naming the file).
    """
    from nibabel.nifti1 import Nifti1Image

    path = whole_brain_path(root, subject, split)
    data = load_pickle(path, allow_nifti=True)
    if not isinstance(data, (tuple, list)) or len(data) != 3:
        size = f" of {len(data)}" if isinstance(data, (tuple, list)) else ""
        raise ValueError(f"{path}: expected a tuple (betas, stimorder, mask), found "
                         f"{type(data).__name__}{size}")
    betas = _responses(data[0], path, "betas")
    img = data[2]
    if not (isinstance(img, Nifti1Image) and isinstance(img.dataobj, np.ndarray)
            and img.dataobj.ndim == 3):
        raise ValueError(f"{path}: expected the mask as a 3-D nibabel Nifti1Image, found "
                         f"{type(img).__name__}")
    mask = np.asarray(img.dataobj) != 0
    if int(mask.sum()) != betas.shape[2]:
        raise ValueError(f"{path}: the mask has {int(mask.sum())} nonzero voxels but betas has "
                         f"{betas.shape[2]} columns; expected one column per mask voxel")
    first = 1 if split == "train" else (n_train + 1 if n_train is not None else None)
    clips = _clip_numbers(data[1], path, "stimorder")
    if len(clips) != betas.shape[0]:
        raise ValueError(f"{path}: stimorder names {len(clips)} videos but betas has "
                         f"{betas.shape[0]} rows; expected one name per row")
    if first is None:
        first = int(clips[0]) if len(clips) else 1
    _check_order(data[1], np.arange(first, first + betas.shape[0]), path, "stimorder")
    return WholeBrain(betas, np.arange(first, first + betas.shape[0]), mask,
                      np.asarray(img.affine, np.float64), bytes(img.header.binaryblock))


def _responses(value, path: Path, what: str) -> np.ndarray:
    """A float (n_videos, n_repetitions, n_voxels) array with no infinite value (NaN allowed)."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{path}: '{what}' is a {type(value).__name__}; expected a numpy array "
                         "(n_videos, n_repetitions, n_voxels)")
    if value.ndim != 3 or value.dtype.kind != "f" or min(value.shape) < 1:
        raise ValueError(f"{path}: '{what}' is {value.dtype} of shape {value.shape}; expected "
                         "floats of shape (n_videos, n_repetitions, n_voxels), none of them 0")
    if np.isinf(value).any():
        raise ValueError(f"{path}: '{what}' holds {int(np.isinf(value).sum())} infinite values; "
                         "expected finite responses (NaN for a missing repetition)")
    return value


def _clip_numbers(order, path: Path, what: str) -> np.ndarray:
    """The clip number of every entry of a stimulus order (``'vid0001'``, ``'0001.mp4'``, ``1``)."""
    if isinstance(order, np.ndarray):
        order = order.tolist()
    if not isinstance(order, (list, tuple)):
        raise ValueError(f"{path}: '{what}' is a {type(order).__name__}; expected a list of names")
    numbers = []
    for item in order:
        if isinstance(item, bytes):
            item = item.decode("latin1")
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            numbers.append(int(item))
            continue
        m = _CLIP_NAME.match(Path(item).stem) if isinstance(item, str) else None
        if m is None:
            raise ValueError(f"{path}: '{what}' entry {item!r} is not a clip name that starts with "
                             "its number ('vid0001', '0001.mp4', '0001_name.mp4' or 1)")
        numbers.append(int(m.group(1)))
    return np.asarray(numbers, np.int64)


def _check_order(order, expected: np.ndarray, path: Path, what: str) -> None:
    clips = _clip_numbers(order, path, what)
    if len(clips) != len(expected):
        raise ValueError(f"{path}: '{what}' names {len(clips)} videos; expected {len(expected)}, "
                         "one per row")
    wrong = np.flatnonzero(clips != expected)
    if wrong.size:
        i = int(wrong[0])
        raise ValueError(f"{path}: '{what}' row {i} is clip {clips[i]}; expected clips "
                         f"{expected[0]}-{expected[-1]} in order (row {i} = clip {expected[i]})")
