"""Band maps: band_weights.npz round trip, preferred layer and depth, volumes in the mask, figures render."""

import numpy as np
import pytest
import torch

from lightning_modules.baseline.banded_baseline import BandedBaseline, write_band_weights
from reports.band_maps import (
    band_sections,
    depth_table,
    load_band_weights,
    preferred_layer_volumes,
)
from run_folder.contract import RunReadError
from scoring.layout import TargetLayout


def _baseline(weights: np.ndarray, names: list[str]) -> BandedBaseline:
    n = weights.shape[1]
    zeros = torch.zeros(n)
    return BandedBaseline(band_names=names, band_weights=torch.from_numpy(weights), alphas=torch.ones(n),
                          cv_scores=zeros, coef=torch.zeros(1, n), intercept=zeros, band_dims=[1],
                          val_r=torch.linspace(0, 1, n), val_split_r=torch.from_numpy(weights) * 0.5,
                          val_summary={})


def _one_hot(bands: np.ndarray, n_bands: int) -> np.ndarray:
    w = np.full((n_bands, len(bands)), 0.1 / (n_bands - 1), np.float32)
    w[bands, np.arange(len(bands))] = 0.9
    return w


NAMES = ["layer1", "layer2", "layer3", "layer4", "motion"]


def test_mini_track_round_trip_and_depth_per_region(tmp_path):
    layout = TargetLayout({"sub01": {"V1": 3, "LOC": 2, "STS": 2}, "sub02": {"V1": 2, "LOC": 2, "STS": 2}})
    # V1 voxels prefer layer1; LOC layer4 (one voxel layer3); STS motion with layer2 second.
    prefs = np.array([0, 0, 0, 3, 2, 4, 4, 0, 0, 3, 3, 4, 4])
    w = _one_hot(prefs, 5)
    w[1, [5, 6, 11, 12]] += 0.05  # STS: layer2 the best of the layers
    w /= w.sum(0)
    write_band_weights(tmp_path, _baseline(w, NAMES), layout)
    bw = load_band_weights(tmp_path)
    assert bw.band_names == NAMES
    np.testing.assert_allclose(bw.weights, w, rtol=1e-6)
    assert [g[:2] for g in bw.groups] == [(g.subject, g.roi) for g in layout.groups]
    # The motion band is not a layer: STS voxels' preferred layer is their best layer band, layer2.
    np.testing.assert_array_equal(bw.preferred_layer(), [1, 1, 1, 4, 3, 2, 2, 1, 1, 4, 4, 2, 2])
    subjects, rois, preferred, motion = depth_table(bw)
    assert subjects == ["sub01", "sub02"] and rois == ["V1", "LOC", "STS"]
    np.testing.assert_allclose(preferred, [[1, 3.5, 2], [1, 4, 2]])
    assert motion[:, 2].min() > 0.8 > 0.1 > motion[:, :2].max()
    sections = band_sections(tmp_path, "run/version_0", tmp_path / "report")
    assert len(sections) == 1 and sections[0][1].count("<img") == 2
    assert (tmp_path / "report" / "depth_run_version_0.png").is_file()


def test_whole_brain_volume_puts_each_voxel_at_its_mask_position(tmp_path):
    pytest.importorskip("nibabel")
    import nibabel as nib

    rng = np.random.default_rng(0)
    mask = np.zeros((6, 7, 5), bool)
    mask[1:5, 2:6, 1:4] = rng.random((4, 4, 3)) < 0.7
    n = int(mask.sum())
    prefs = rng.integers(0, 4, n)
    w = _one_hot(prefs, 4)
    layout = TargetLayout({"sub01": {"WB": n}})
    write_band_weights(tmp_path, _baseline(w, NAMES[:4]), layout, {"sub01": mask})
    bw = load_band_weights(tmp_path / "band_weights.npz")
    volume = preferred_layer_volumes(bw)["sub01"]
    assert np.isnan(volume[~mask]).all()
    # C order of the mask's True entries is the voxel order of the release's whole-brain arrays.
    np.testing.assert_array_equal(volume[mask], prefs + 1)
    first = tuple(np.argwhere(mask)[0])
    assert volume[first] == prefs[0] + 1
    sections = band_sections(tmp_path, "wb", tmp_path / "report")
    assert sections[0][1].count("<img") == 2  # shares + slices (no hierarchy regions in a WB-only run)
    nii = nib.load(str(tmp_path / "report" / "preferred_layer_wb_sub01.nii.gz"))
    np.testing.assert_array_equal(np.asarray(nii.dataobj)[mask], prefs + 1)


def test_malformed_band_weights_name_the_file(tmp_path):
    np.savez(tmp_path / "band_weights.npz", band_names=np.array(["layer1"]), weights=np.zeros((2, 3)),
             subjects=np.array(["sub01"]), rois=np.array(["V1"]), voxel_counts=np.array([3]))
    with pytest.raises(RunReadError, match=r"band_weights.npz: weights \(2, 3\) must be \(n_bands=1"):
        load_band_weights(tmp_path)
    np.savez(tmp_path / "band_weights.npz", weights=np.zeros((1, 3)))
    with pytest.raises(RunReadError, match="missing arrays"):
        load_band_weights(tmp_path)
    assert band_sections(tmp_path / "nothing", "x", tmp_path) == []
