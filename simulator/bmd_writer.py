"""The simulated release written in the BOLD Moments (BMD) release's layout (``--layout bmd``).

Same clips and subjects as the 2021 layout (:mod:`simulator.writer`), BMD's files
(:mod:`datamodules.bmd_files`), test responses included::

    ROOT/derivatives/stimuli_metadata/mp4_h264/NNNN.mp4
    ROOT/derivatives/versionB/MNI152/prepared_allvoxel_pkl/sub-XX/sub-XX_roi-NAME_betas_normalized.pkl
    ROOT/derivatives/versionB/MNI152/GLM/sub-XX/prepared_betas/
        sub-XX_organized_betas_task-{train,test}_normalized.pkl
    ROOT/synthetic_truth/{mini_track,full_track}/sub-XX/<ROI>.pkl, meta.json, features.npz
        (as the 2021 layout's truth: noise-free responses, noise ceilings)
    ROOT/synthetic_truth/bmd_files/sub-XX.pkl  {"columns": {roi file: int (n,) whole-brain columns}}

Region files: each of the nine simulated regions is split by hemisphere (x of the voxel in the
mask: ``l`` below the middle, ``r`` above) and V1-V3 further into ventral (``v``, the lower half of
a hemisphere's voxels by z) and dorsal (``d``) parts: ``lV1v``, ``lV1d``, ``rV1v``, ..., ``lhV4``,
``rhV4``, ``lLOC``, ... ``rPPA``; a part with no voxel gets no file. ``BMDgeneral`` holds every
voxel whose true noise ceiling is positive (all region voxels and the weakly driven extras), in
whole-brain column order.

Responses are float64, not z-scored (the simulator's per-voxel gain and offset stay; a score is
unaffected). Missing repetitions are NaN, the same in every file of a subject: about
:data:`MISSING_TRIAL_SHARE` of the videos lose one whole repetition (a missing trial), and about
:data:`MISSING_ENTRY_SHARE` of the other (video, voxel) pairs lose one repetition of one voxel;
no (video, voxel) loses more than one, and each subject has at least one missing trial in train
and in test when it has at least 2 videos there.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from datamodules import bmd_files
from scoring.layout import MINI_TRACK_ROIS
from simulator.config import SyntheticConfig
from simulator.subject import Subject, Voxels
from simulator.writer import TRUTH_DIR, write_pickle

MISSING_TRIAL_SHARE = 0.03
MISSING_ENTRY_SHARE = 0.002
#: Regions split into ventral and dorsal parts; V4's file is ``hV4``.
SPLIT_REGIONS = ("V1", "V2", "V3")
FILE_NAMES = {"V4": "hV4"}
VOXEL_SIZE_MM = 2.5


def video_path(root: Path, index: int, description: str) -> Path:
    """``ROOT/derivatives/stimuli_metadata/mp4_h264/NNNN.mp4`` (no description in the name)."""
    return bmd_files.video_path(root, index)


def bmd_subject(name: str) -> str:
    """``sub01`` (the simulator's name) -> ``sub-01`` (BMD's)."""
    return f"sub-{name[3:]}"


def region_file_columns(subject: Subject) -> dict[str, np.ndarray]:
    """``{roi file name: increasing whole-brain column indices}`` (see the module docstring)."""
    coords = np.argwhere(subject.voxel_mask)  # (n_wb, 3), C order: the columns' order
    middle = subject.voxel_mask.shape[0] / 2
    files: dict[str, np.ndarray] = {}
    for r, roi in enumerate(MINI_TRACK_ROIS):
        cols = np.flatnonzero(subject.wb_roi == r)
        for hemi, side in (("l", coords[cols, 0] < middle), ("r", coords[cols, 0] >= middle)):
            hemi_cols = cols[side]
            name = FILE_NAMES.get(roi, roi)
            if roi in SPLIT_REGIONS:
                by_z = hemi_cols[np.argsort(coords[hemi_cols, 2], kind="stable")]
                n_ventral = len(by_z) // 2
                parts = {f"{hemi}{name}v": by_z[:n_ventral], f"{hemi}{name}d": by_z[n_ventral:]}
            else:
                parts = {f"{hemi}{name}": hemi_cols}
            files.update({f: np.sort(c) for f, c in parts.items() if len(c)})
    files["BMDgeneral"] = np.flatnonzero(subject.wb.noise_ceiling > 0)
    return files


def missing_repetitions(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    """Where repetitions are missing, bool ``shape`` = (n_videos, n_repetitions, n_voxels)."""
    n_videos, n_reps, n_voxels = shape
    missing = np.zeros(shape, bool)
    trials = rng.random(n_videos) < MISSING_TRIAL_SHARE
    if n_videos >= 2 and not trials.any():
        trials[rng.integers(n_videos)] = True
    missing[np.flatnonzero(trials), rng.integers(n_reps, size=int(trials.sum()))] = True
    entries = (rng.random((n_videos, n_voxels)) < MISSING_ENTRY_SHARE) & ~trials[:, None]
    videos, voxels = np.nonzero(entries)
    missing[videos, rng.integers(n_reps, size=len(videos)), voxels] = True
    return missing


def _with_nan(x: np.ndarray, missing: np.ndarray) -> np.ndarray:
    out = x.astype(np.float64)
    out[missing] = np.nan
    return out


def _mask_image(mask: np.ndarray) -> nib.Nifti1Image:
    """The whole-brain mask as BMD stores it: a NIfTI image, 2.5 mm voxels, centred at 0."""
    affine = np.diag([VOXEL_SIZE_MM] * 3 + [1.0])
    affine[:3, 3] = -VOXEL_SIZE_MM * (np.asarray(mask.shape) - 1) / 2
    return nib.Nifti1Image(mask.astype(np.int16), affine)


def _truth(v: Voxels) -> dict:
    return {"clean": v.clean, "test": v.test, "noise_ceiling": v.noise_ceiling,
            "noise_sd": v.noise_sd}


def write_subject(root: Path, subject: Subject, config: SyntheticConfig) -> None:
    """The subject's BMD files (region files, whole brain), truth pickles and file-column table."""
    root = Path(root)
    name = bmd_subject(subject.name)
    rng = np.random.default_rng([config.seed, 3, int(subject.name[3:])])
    wb = subject.wb
    train = _with_nan(wb.train, missing_repetitions(rng, wb.train.shape))
    test = _with_nan(wb.test, missing_repetitions(rng, wb.test.shape))
    n_train, n_test = train.shape[0], test.shape[0]
    train_order = [f"vid{i:04d}" for i in range(1, n_train + 1)]
    test_order = [f"vid{i:04d}" for i in range(n_train + 1, n_train + n_test + 1)]

    columns = region_file_columns(subject)
    for roi, cols in columns.items():
        write_pickle(bmd_files.roi_path(root, name, roi), {
            "train_data_allvoxel": train[..., cols], "test_data_allvoxel": test[..., cols],
            "train_stim_order": train_order, "test_stim_order": test_order,
        })
    mask = _mask_image(subject.voxel_mask)
    for split, betas, order in (("train", train, train_order), ("test", test, test_order)):
        write_pickle(bmd_files.whole_brain_path(root, name, split), (betas, order, mask))

    truth = root / TRUTH_DIR
    for roi, v in subject.rois.items():
        write_pickle(truth / "mini_track" / name / f"{roi}.pkl", _truth(v))
    write_pickle(truth / "full_track" / name / "WB.pkl", {**_truth(wb), "roi": subject.wb_roi})
    write_pickle(truth / "bmd_files" / f"{name}.pkl", {"columns": columns})
