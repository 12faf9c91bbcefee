"""NIfTI outputs in the data's own space (issue 25, item 3): a BOLD Moments whole-brain mask's affine
and header (its pickled Nifti1Image) survive the float32 cache and go into the exported NIfTI
predictions and the brain maps; read back with nibabel."""

import dataclasses
import json
import pickle
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from datamodules import bmd_files
from datamodules.mask_space import MaskSpace
from datamodules.sources.base import Selection
from datamodules.sources.bmd import BMDSource
from export.export_folder import write_export
from reports.brain_maps import save_nifti, to_volume
from scoring.layout import TargetLayout
from simulator import TINY_CONFIG, generate_dataset

CONFIG = dataclasses.replace(TINY_CONFIG, n_train=12, n_test=6, voxel_scale=0.1, layout="bmd")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("nifti_space") / "release", CONFIG, progress=False)


def _written_image(root, subject):
    """The mask image as the release's pickle holds it (read here with pickle, not the tool's reader)."""
    with open(bmd_files.whole_brain_path(root, subject, "train"), "rb") as f:
        return pickle.load(f)[2]


def test_mask_space_keeps_affine_and_header_fields():
    affine = np.array([[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]])
    image = nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), affine)
    image.header.set_xyzt_units("mm", "sec")
    image.header.set_qform(affine, code=4)
    image.header.set_sform(affine, code=4)
    out = MaskSpace.of_image(image).image(np.ones((4, 5, 6, 3)))
    np.testing.assert_array_equal(out.affine, affine)
    assert out.header.get_xyzt_units() == ("mm", "sec") and int(out.header["sform_code"]) == 4
    assert int(out.header["qform_code"]) == 4 and out.shape == (4, 5, 6, 3)
    assert out.header.get_data_dtype() == np.float32


def test_exported_nifti_predictions_are_in_the_mask_files_space(root, tmp_path):
    copy = tmp_path / "release"
    shutil.copytree(root / "derivatives" / "versionB", copy / "derivatives" / "versionB")
    (copy / bmd_files.VIDEO_DIR).parent.mkdir(parents=True)
    (copy / bmd_files.VIDEO_DIR).symlink_to(root / bmd_files.VIDEO_DIR)
    BMDSource(copy).read(Selection(track="full"))  # builds the cache
    release = BMDSource(copy).read(Selection(track="full"))  # read from the cache
    assert isinstance(release.recordings["sub-01"]["WB"].train, np.memmap)
    layout = TargetLayout(release.voxel_counts)
    preds = np.random.default_rng(0).standard_normal((release.n_test, layout.n_voxels)).astype(np.float32)
    out = tmp_path / "out"
    write_export(preds, layout, release.video_paths[release.n_train:], {"checkpoints": []}, out, False, None,
                 volumes=release.whole_brain_groups)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["nifti"] == [f"predictions/{s}/WB.nii.gz" for s in release.recordings]
    for subject in release.recordings:
        written = _written_image(root, subject)
        image = nib.load(out / "predictions" / subject / "WB.nii.gz")
        np.testing.assert_allclose(image.affine, written.affine)
        assert not np.allclose(image.affine, np.eye(4))
        np.testing.assert_allclose(image.header.get_zooms()[:3], written.header.get_zooms()[:3])
        for field in ("qform_code", "sform_code", "xyzt_units"):
            assert image.header[field] == written.header[field]
        mask = np.asarray(written.dataobj) != 0
        data = np.asarray(image.dataobj)
        assert data.shape == (*mask.shape, release.n_test)
        np.testing.assert_array_equal(data[mask], np.load(out / "predictions" / subject / "WB.npy").T)
        assert np.isnan(data[~mask]).all()


def test_brain_maps_are_written_in_the_given_space(root, tmp_path):
    written = _written_image(root, "sub-01")
    mask = np.asarray(written.dataobj) != 0
    values = np.arange(mask.sum(), dtype=np.float32)
    path = save_nifti(to_volume(values, mask), tmp_path / "r.nii.gz", space=MaskSpace.of_image(written))
    image = nib.load(path)
    np.testing.assert_allclose(image.affine, written.affine)
    np.testing.assert_array_equal(np.asarray(image.dataobj)[mask], values)
    # Without a space: voxel coordinates (the identity), as before.
    np.testing.assert_array_equal(nib.load(save_nifti(to_volume(values, mask), tmp_path / "v.nii.gz")).affine,
                                  np.eye(4))


def test_validation_file_keeps_the_masks_space(tmp_path):
    from run_folder.predictions_file import read_predictions, write_predictions

    layout = TargetLayout({"sub-01": {"WB": 4}})
    mask = np.zeros((2, 2, 2), bool)
    mask.flat[[0, 3, 5, 6]] = True
    affine = np.diag([2.5, 2.5, 2.5, 1.0])
    header = bytes(nib.Nifti1Image(mask.astype(np.int16), affine).header.binaryblock)
    path = write_predictions(tmp_path / "v.npz", predictions=np.zeros((3, 4)), targets=np.ones((3, 4)), r=np.zeros(4),
                             noise_ceiling=None, video_index=np.arange(3), layout=layout, epoch=0, score=0.0,
                             voxel_masks={"sub-01": mask}, voxel_spaces={"sub-01": (affine, header)})
    read = read_predictions(path)
    np.testing.assert_array_equal(read.voxel_spaces["sub-01"][0], affine)
    assert read.voxel_spaces["sub-01"][1] == header


@pytest.mark.slow
def test_report_brain_maps_of_a_whole_brain_bmd_run_are_in_mni_space(root, tmp_path):
    from reports.build import build_report
    from tests.helpers import fit_tiny

    cli = fit_tiny(root, tmp_path, "--trainer.max_epochs", "1", "--data.n_val", "4", "--data.track", "full")
    run_dir = Path(cli.trainer.log_dir)
    build_report([run_dir], tmp_path / "report", progress=False)
    for subject in ("sub-01", "sub-02"):
        image = nib.load(tmp_path / "report" / f"r_{run_dir.parent.name}_{run_dir.name}_{subject}.nii.gz")
        written = _written_image(root, subject)
        np.testing.assert_allclose(image.affine, written.affine)
        assert image.header["sform_code"] == written.header["sform_code"]
        mask = np.asarray(written.dataobj) != 0
        assert np.isfinite(np.asarray(image.dataobj)[mask]).any() and np.isnan(np.asarray(image.dataobj)[~mask]).all()
