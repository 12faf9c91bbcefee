"""An export written whole or not at all: staged beside the old one, checked, then swapped in.

``OUT/predictions/<subject>/<ROI>.npy`` float32 (n_videos, n_voxels); for a whole-brain recording
with a mask also ``OUT/predictions/<subject>/<ROI>.nii.gz``, float32 (X, Y, Z, n_videos), NaN outside
the mask, in the mask file's space (its NIfTI affine and header: MNI152 mm for BOLD Moments;
:class:`datamodules.mask_space.MaskSpace`); for the 2021 test set
``OUT/mini_track.zip`` (or ``full_track.zip``, the challenge's format, validated before it is kept),
with ``--score`` ``OUT/test_scores.json`` (:mod:`scoring.scores_on_test`), and ``OUT/manifest.json`` (videos in row order, checkpoints, shapes, the ensemble's record). The
manifest goes last, so a folder with a manifest holds one complete export.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from export.submission import TRACK_NAMES, build_submission, track_of, write_submission_zip
from scoring.layout import TargetLayout
from scoring.scores_on_test import TEST_SCORES_FILE

_EXPORT_NAMES = ("predictions", TEST_SCORES_FILE, *(f"{name}.zip" for name in TRACK_NAMES.values()))


class ExportFolderError(ValueError):
    """The output folder cannot take this export (it holds one already, or cannot be written)."""


def check_output_dir(out: Path, overwrite: bool) -> None:
    """Before any prediction is computed: refuse a folder holding an export (unless ``overwrite``)
    or one where nothing can be written (leaves nothing behind)."""
    existing = [p for p in (*out.glob("*_track.zip"), out / "manifest.json", out / "predictions",
                            out / TEST_SCORES_FILE) if p.exists()]
    if existing and not overwrite:
        raise ExportFolderError(f"{out} already holds predictions ({', '.join(p.name for p in existing)}); "
                                "pass --overwrite to replace them")
    probe_dir = out
    while not os.path.lexists(probe_dir) and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent  # the folder out would be created in
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=probe_dir))
    except OSError as err:
        raise ExportFolderError(f"{out}: cannot write the predictions there ({err.strerror or err}); "
                                "choose another --output_dir") from err


def write_export(preds: np.ndarray, layout: TargetLayout, videos: list[Path], manifest: dict, out: Path,
                 submission: bool, validate: Callable, extra_files: dict[str, str] | None = None,
                 volumes: dict | None = None) -> Path:
    """Write ``preds`` (n_videos, n_voxels) of ``videos`` as ``.npy`` files, the ``manifest`` (its
    ``videos`` and ``shapes`` added here), ``extra_files`` (``{name: text}``, names of
    ``_EXPORT_NAMES``: the test scores) and, with ``submission``, the zip that ``validate``
    (:func:`export.submission.validate_submission`) accepted. ``volumes``: ``{(subject, roi): (bool
    mask (X, Y, Z), MaskSpace or None)}`` of whole-brain groups, also written as NIfTI (identity
    affine where the space is unknown).

    Everything is written into a staging folder inside ``out`` and checked there; only then does it
    replace what an earlier export left, so a failed export leaves the previous one intact, and a
    zip of other videos never sits beside these predictions.
    """
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out))
    try:
        for name, text in (extra_files or {}).items():
            if name not in _EXPORT_NAMES:
                raise ValueError(f"{name} is not a file of an export ({', '.join(_EXPORT_NAMES)})")
            (staging / name).write_text(text)
        _write(preds, layout, videos, manifest, staging, out, submission, validate, volumes or {})
        _replace_export(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"predictions: {out / 'predictions'}/<subject>/<ROI>.npy; manifest: {out / 'manifest.json'}")
    return out


def _write(preds: np.ndarray, layout: TargetLayout, videos: list[Path], manifest: dict, staging: Path,
           out: Path, submission: bool, validate: Callable, volumes: dict) -> None:
    by_group = layout.split(preds.astype(np.float32))
    npy_dir = staging / "predictions"
    niftis = []
    for subject, rois in by_group.items():
        (npy_dir / subject).mkdir(parents=True, exist_ok=True)
        for roi, array in rois.items():
            np.save(npy_dir / subject / f"{roi}.npy", array)
            if (subject, roi) in volumes:
                _save_nifti(array, *volumes[(subject, roi)], npy_dir / subject / f"{roi}.nii.gz")
                niftis.append(f"predictions/{subject}/{roi}.nii.gz")
    if niftis:
        manifest = {**manifest, "nifti": niftis}
    manifest = {
        "videos": [Path(v).name for v in videos],
        "checkpoints": manifest["checkpoints"],
        "shapes": {f"{s}/{r}": list(a.shape) for s, rois in by_group.items() for r, a in rois.items()},
        **{k: v for k, v in manifest.items() if k != "checkpoints"},
    }
    if submission:
        track = track_of(layout.voxel_counts)
        zip_path = write_submission_zip(build_submission(by_group), track, staging)
        validate(zip_path, layout.voxel_counts, len(videos))
        manifest["submission"] = zip_path.name
        print(f"submission: {out / zip_path.name} ({TRACK_NAMES[track]}, {len(videos)} videos, checked)")
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _save_nifti(array: np.ndarray, mask: np.ndarray, space, path: Path) -> None:
    """``array`` (n_videos, n_voxels) as a (X, Y, Z, n_videos) float32 NIfTI, NaN outside ``mask``,
    in ``space`` (a :class:`datamodules.mask_space.MaskSpace`; None: identity affine)."""
    import nibabel as nib

    mask = np.asarray(mask, bool)
    if int(mask.sum()) != array.shape[1]:
        raise ValueError(f"{path}: the mask has {int(mask.sum())} voxels but the predictions {array.shape[1]}")
    volume = np.full((*mask.shape, array.shape[0]), np.nan, np.float32)
    volume[mask] = array.T
    image = space.image(volume) if space is not None else nib.Nifti1Image(volume, np.eye(4))
    nib.save(image, str(path))


def _replace_export(staging: Path, out: Path) -> None:
    """Move the staged export into ``out``; the old one is moved aside first and removed last
    (symbolic links are moved or removed as links, never followed)."""
    old = Path(tempfile.mkdtemp(prefix=".export-old-", dir=out))
    try:
        for name in ("manifest.json", *_EXPORT_NAMES):
            if os.path.lexists(out / name):
                os.replace(out / name, old / name)
        for name in (*_EXPORT_NAMES, "manifest.json"):
            if os.path.lexists(staging / name):
                os.replace(staging / name, out / name)
    except BaseException:
        for name in ("manifest.json", *_EXPORT_NAMES):  # put the previous export back
            if os.path.lexists(old / name):
                if os.path.lexists(out / name):
                    _remove(out / name)
                os.replace(old / name, out / name)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink()
    else:
        shutil.rmtree(path)
