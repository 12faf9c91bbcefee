"""Your own data: a documented folder format a lab writes with numpy in a few lines.

```
ROOT/stimuli.csv                 header "name,split"; one row per stimulus: its file name in
                                 stimuli/ and "train" or "test"; the rows' order is the order of
                                 the response arrays' first axis
ROOT/stimuli/<name>              mp4 clips, or still images (png, jpg: a one-frame clip, repeated
                                 to data.num_frames)
ROOT/responses/<subject>.npy     float (n_stimuli, n_repetitions, n_voxels), NaN = missing;
                 or <subject>.h5 (HDF5 with the same array as dataset "responses")
ROOT/regions/<subject>/<region>.npy   optional: int (k,) the region's columns of the responses
ROOT/masks/<subject>.nii.gz      optional: a NIfTI volume whose nonzero voxels, in C order, are
                                 the responses' columns (brain maps)
```
Row order of a :class:`Release`: the train stimuli in the table's order, then the test stimuli in
the table's order. Without ``regions/`` (or with ``data.track full``) a subject's responses are one
region, ``WB``. Test responses are the test rows of the same arrays (:attr:`Recording.test`);
a subject whose test rows are all NaN has none. Every shape, name and count that does not fit is a
:class:`DataLayoutError` naming the file and what was expected.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from datamodules.mask_space import MaskSpace
from datamodules.response_checks import finite_float32
from datamodules.sources.base import DataLayoutError, DataSource, Recording, Release, Selection
from datamodules.sources.selecting import check_policies, read_recordings, select_subjects
from datamodules.still_images import IMAGE_SUFFIXES
from datamodules.video_files import VIDEO_SUFFIXES

TABLE = "stimuli.csv"
STIMULI = "stimuli"
RESPONSES = "responses"
REGIONS = "regions"
MASKS = "masks"
WHOLE = "WB"
RESPONSE_SUFFIXES = (".npy", ".h5", ".hdf5")
SPLITS = ("train", "test")


class FolderSource(DataSource):
    """``stimuli.csv``, ``stimuli/``, ``responses/<subject>.npy`` (README, "Your own data")."""

    name = "folder"
    layout = f"folder ({TABLE}, {STIMULI}/ and {RESPONSES}/, the documented format for your own data)"

    @classmethod
    def found_in(cls, root: Path) -> list[str]:
        root = Path(root)  # the table marks the format (responses/ alone is too common a name)
        return [name for name in (TABLE, RESPONSES) if (root / name).exists()] if (root / TABLE).is_file() else []

    def read(self, selection: Selection) -> Release:
        """The stimuli (train rows first) and the selected subjects' regions, checked."""
        root = self.root
        check_policies(selection)
        if selection.track not in ("mini", "full"):
            raise DataLayoutError(f"track must be mini or full, got {selection.track!r}")
        names, splits = read_table(root / TABLE)
        stimulus_dir = Path(selection.video_dir) if selection.video_dir else root / STIMULI
        paths = stimulus_paths(stimulus_dir, names)
        order = [i for i, s in enumerate(splits) if s == "train"] + [i for i, s in enumerate(splits) if s == "test"]
        n_train = splits.count("train")
        subjects = select_subjects(response_subjects(root / RESPONSES), selection.subjects, root / RESPONSES)
        arrays: dict[str, np.ndarray] = {}

        def array_of(subject: str) -> tuple[Path, np.ndarray]:
            path = response_path(root / RESPONSES, subject)
            if subject not in arrays:
                arrays.clear()  # one subject's array in memory at a time
                arrays[subject] = load_responses(path, len(names))[order]
            return path, arrays[subject]

        def region_path(subject: str, roi: str) -> Path:
            if roi == WHOLE:
                return response_path(root / RESPONSES, subject)
            return root / REGIONS / subject / f"{roi}.npy"

        def read(path: Path) -> Recording:
            subject = path.stem if path.parent == root / RESPONSES else path.parent.name
            source, responses = array_of(subject)
            mask = space = None
            if path.parent == root / RESPONSES:
                columns = np.arange(responses.shape[2])
                mask, space = read_mask(root / MASKS, subject, responses.shape[2]) or (None, None)
            else:
                columns = region_columns(path, responses.shape[2])
            values = finite_float32(responses[:, :, columns], source, selection.non_finite)
            test = values[n_train:]
            has_test = test.shape[0] > 0 and not np.isnan(test).all()
            if has_test and test.shape[1] < 2:
                raise DataLayoutError(f"{source}: test responses need at least 2 repetitions for a noise "
                                      f"ceiling, found {test.shape[1]}")
            return Recording(train=values[:n_train], path=path, voxel_mask=mask,
                             test=test if has_test else None, space=space)

        rois = _rois(root, subjects, selection)
        recordings = read_recordings(subjects, rois, region_path, read, selection.missing_rois, root)
        release = Release(root=root, track=selection.track, video_paths=[paths[i] for i in order],
                          recordings=recordings, source=self.name)
        release.check_consistent()
        return release


def _rois(root: Path, subjects: list[str], selection: Selection) -> list[str]:
    """The selected regions: ``WB`` (all columns) for ``full`` or without ``regions/``, else
    ``data.rois`` or every region file of the subjects, in sorted order."""
    if selection.track == "full" or not (root / REGIONS).is_dir():
        if selection.rois not in (None, (WHOLE,)):
            where = "--data.track full reads" if selection.track == "full" else f"without {root / REGIONS}/ there is"
            raise DataLayoutError(f"{where} one region, {WHOLE} (all columns); got data.rois {list(selection.rois)}")
        return [WHOLE]
    found = sorted({p.stem for s in subjects for p in (root / REGIONS / s).glob("*.npy")})
    if selection.rois is None:
        if not found:
            raise DataLayoutError(f"{root / REGIONS}: no <subject>/<region>.npy index lists for {subjects}")
        return found
    if unknown := [r for r in selection.rois if r not in found and r != WHOLE]:
        raise DataLayoutError(f"{root / REGIONS}: regions {unknown} not found; available: {found + [WHOLE]}")
    return list(selection.rois)


def read_table(path: Path) -> tuple[list[str], list[str]]:
    """``stimuli.csv``'s names and splits, in order. Refuses a missing file, other columns,
    a split other than train/test, repeated names, no train row."""
    if not path.is_file():
        raise DataLayoutError(f"{path}: stimulus table not found (expected a csv with columns name,split)")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip() for c in rows[0]] != ["name", "split"]:
        raise DataLayoutError(f"{path}: expected the header 'name,split', found {rows[0] if rows else 'an empty file'}")
    names, splits = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 2 or row[1].strip() not in SPLITS:
            raise DataLayoutError(f"{path}, line {line}: expected '<file name>,train' or '<file name>,test', "
                                  f"found {','.join(row)!r}")
        names.append(row[0].strip())
        splits.append(row[1].strip())
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise DataLayoutError(f"{path}: stimulus {twice!r} is listed twice")
    if "train" not in splits:
        raise DataLayoutError(f"{path}: no stimulus has split 'train'")
    return names, splits


def stimulus_paths(folder: Path, names: list[str]) -> list[Path]:
    """``folder/<name>`` for every name; each must exist with a clip's or image's suffix, and
    every clip or image of the folder must be in the table."""
    if not folder.is_dir():
        raise DataLayoutError(f"{folder}: stimulus folder not found (expected the files {TABLE} names)")
    readable = (*VIDEO_SUFFIXES, *IMAGE_SUFFIXES)
    for name in names:
        path = folder / name
        if Path(name).suffix.lower() not in readable:
            raise DataLayoutError(f"{path}: not a clip or image this tool reads (expected {', '.join(readable)})")
        if not path.is_file():
            raise DataLayoutError(f"{path}: stimulus file not found ({TABLE} lists {name!r})")
    listed = set(names)
    if stray := sorted(p.name for p in folder.iterdir() if p.suffix.lower() in readable
                       and not p.name.startswith(".") and p.name not in listed):
        raise DataLayoutError(f"{folder / stray[0]}: not listed in {TABLE} ({len(stray)} such file(s)); "
                              "list it or move it out")
    return [folder / name for name in names]


def response_subjects(folder: Path) -> list[str]:
    """The subjects: file stems of ``responses/`` (``.npy``, ``.h5``, ``.hdf5``), sorted."""
    if not folder.is_dir():
        raise DataLayoutError(f"{folder}: response folder not found (expected <subject>.npy or <subject>.h5)")
    stems = sorted(p.stem for p in folder.iterdir() if p.suffix.lower() in RESPONSE_SUFFIXES)
    if not stems:
        raise DataLayoutError(f"{folder}: no <subject>.npy or <subject>.h5 response files")
    if len(set(stems)) != len(stems):
        raise DataLayoutError(f"{folder}: subject {next(s for s in stems if stems.count(s) > 1)!r} has two files")
    return stems


def response_path(folder: Path, subject: str) -> Path:
    return next((folder / f"{subject}{s}" for s in RESPONSE_SUFFIXES if (folder / f"{subject}{s}").is_file()),
                folder / f"{subject}.npy")


def load_responses(path: Path, n_stimuli: int) -> np.ndarray:
    """A float (n_stimuli, n_repetitions, n_voxels) array from ``.npy`` or HDF5 (dataset ``responses``)."""
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            import h5py

            with h5py.File(path, "r") as f:
                if "responses" not in f:
                    raise DataLayoutError(f"{path}: no dataset 'responses' (found {sorted(f)})")
                array = f["responses"][()]
    except (OSError, ValueError) as err:
        if isinstance(err, DataLayoutError):
            raise
        raise DataLayoutError(f"{path}: cannot read the responses ({err})") from None
    if array.ndim != 3 or array.dtype.kind != "f":
        raise DataLayoutError(f"{path}: responses are {array.dtype} of shape {array.shape}; expected floats "
                              "(n_stimuli, n_repetitions, n_voxels)")
    if array.shape[0] != n_stimuli:
        raise DataLayoutError(f"{path}: {array.shape[0]} rows, but {TABLE} lists {n_stimuli} stimuli; "
                              "expected one row per stimulus, in the table's order")
    if min(array.shape) < 1:
        raise DataLayoutError(f"{path}: shape {array.shape} has an empty axis")
    return array


def region_columns(path: Path, n_voxels: int) -> np.ndarray:
    """An index list: int (k,), distinct, within ``0 .. n_voxels - 1``."""
    try:
        columns = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataLayoutError(f"{path}: cannot read the region's columns ({err})") from None
    if columns.ndim != 1 or columns.dtype.kind not in "iu" or columns.size == 0:
        raise DataLayoutError(f"{path}: {columns.dtype} of shape {columns.shape}; expected a non-empty 1-D "
                              "integer array of column indices")
    if columns.min() < 0 or columns.max() >= n_voxels:
        raise DataLayoutError(f"{path}: column indices {columns.min()}..{columns.max()}, but the responses "
                              f"have {n_voxels} columns (expected 0..{n_voxels - 1})")
    if np.unique(columns).size != columns.size:
        raise DataLayoutError(f"{path}: a column index appears twice")
    return columns


def read_mask(folder: Path, subject: str, n_voxels: int) -> tuple[np.ndarray, MaskSpace] | None:
    """bool (X, Y, Z) from ``masks/<subject>.nii[.gz]`` with the file's affine and header (None
    without one); its nonzero voxels must be as many as the columns."""
    path = next((folder / f"{subject}{s}" for s in (".nii.gz", ".nii") if (folder / f"{subject}{s}").is_file()), None)
    if path is None:
        return None
    import nibabel as nib

    try:
        image = nib.load(path)
        mask = np.asarray(image.dataobj) != 0
    except Exception as err:  # nibabel raises several kinds for a file that is not NIfTI
        raise DataLayoutError(f"{path}: cannot read the NIfTI mask ({err})") from None
    if mask.ndim != 3 or int(mask.sum()) != n_voxels:
        raise DataLayoutError(f"{path}: a mask of shape {mask.shape} with {int(mask.sum())} nonzero voxels, but "
                              f"the responses have {n_voxels} columns; expected a 3-D mask with one voxel per column")
    return mask, MaskSpace.of_image(image)
