"""The simulator's BOLD Moments layout (``--layout bmd``) and the BMD file reader on it."""

import dataclasses
import json
import pickle

import av
import nibabel as nib
import numpy as np
import pytest

from datamodules import bmd_files
from datamodules.bmd_regions import ColumnBlock
from scoring.layout import MINI_TRACK_ROIS
from scoring.scores_on_test import score_on_test
from simulator import TINY_CONFIG, generate_dataset
from simulator.__main__ import main as simulator_main

CONFIG = dataclasses.replace(TINY_CONFIG, n_train=10, n_test=4, voxel_scale=0.1, layout="bmd")
SUBJECTS = ["sub-01", "sub-02"]


def _load(path):
    with open(path, "rb") as f:
        return pickle.load(f)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("bmd") / "release", CONFIG, progress=False)


def _truth(root, subject, what="WB"):
    track = "full_track" if what == "WB" else "mini_track"
    return _load(root / "synthetic_truth" / track / subject / f"{what}.pkl")


def _columns(root, subject):
    return _load(root / "synthetic_truth" / "bmd_files" / f"{subject}.pkl")["columns"]


# ----------------------------------------------------------------------------------- the writer
def test_videos_are_numbered_like_bmd_and_decode(root):
    names = sorted(p.name for p in (root / bmd_files.VIDEO_DIR).iterdir())
    assert names == [f"{i:04d}.mp4" for i in range(1, CONFIG.n_videos + 1)]
    with av.open(
        str(bmd_files.video_path(root, CONFIG.n_train))
    ) as container:  # the first test clip
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) >= CONFIG.frame_count_range[0]
    assert frames[0].shape == (CONFIG.size, CONFIG.size, 3)
    meta = json.loads((root / "synthetic_truth" / "meta.json").read_text())
    assert meta["subjects"] == SUBJECTS and meta["config"]["layout"] == "bmd"


def test_region_files_hold_float64_train_and_test_with_stimulus_orders(root):
    names = bmd_files.region_file_names(root, "sub-01")
    expected = {
        f"{h}{p}"
        for h in "lr"
        for p in (
            "V1v",
            "V1d",
            "V2v",
            "V2d",
            "V3v",
            "V3d",
            "hV4",
            "LOC",
            "EBA",
            "FFA",
            "STS",
            "PPA",
        )
    } | {"BMDgeneral"}
    assert set(names) <= expected and {"lEBA", "rEBA", "lV1v", "rV1d", "lhV4", "BMDgeneral"} <= set(
        names
    )
    data = _load(bmd_files.roi_path(root, "sub-01", "lEBA"))
    train, test = data["train_data_allvoxel"], data["test_data_allvoxel"]
    assert train.dtype == test.dtype == np.float64
    assert train.shape[:2] == (CONFIG.n_train, CONFIG.n_train_repetitions)
    assert test.shape[:2] == (CONFIG.n_test, CONFIG.n_test_repetitions)
    assert data["train_stim_order"] == [f"vid{i:04d}" for i in range(1, 11)]
    assert data["test_stim_order"] == ["vid0011", "vid0012", "vid0013", "vid0014"]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_region_files_are_the_whole_brain_columns_of_their_region_hemisphere_and_part(
    root, subject
):
    train, _, img = _load(bmd_files.whole_brain_path(root, subject, "train"))
    test = _load(bmd_files.whole_brain_path(root, subject, "test"))[0]
    truth = _truth(root, subject)
    columns = _columns(root, subject)
    coords = np.argwhere(np.asarray(img.dataobj) != 0)
    middle = img.shape[0] / 2
    for r, roi in enumerate(MINI_TRACK_ROIS):
        name = "hV4" if roi == "V4" else roi
        parts = [
            f"{h}{name}{p}"
            for h in "lr"
            for p in (("v", "d") if roi in ("V1", "V2", "V3") else ("",))
        ]
        files = [f for f in parts if f in columns]
        # The parts together are exactly the region's voxels, each once.
        together = np.concatenate([columns[f] for f in files])
        np.testing.assert_array_equal(np.sort(together), np.flatnonzero(truth["roi"] == r))
        for f in files:
            data = _load(bmd_files.roi_path(root, subject, f))
            np.testing.assert_array_equal(data["train_data_allvoxel"], train[..., columns[f]])
            np.testing.assert_array_equal(data["test_data_allvoxel"], test[..., columns[f]])
            x = coords[columns[f], 0]
            assert (x < middle).all() if f.startswith("l") else (x >= middle).all()
        if roi in ("V1", "V2", "V3"):
            for h in "lr":
                v, d = columns.get(f"{h}{name}v"), columns.get(f"{h}{name}d")
                if v is not None and d is not None:  # ventral lies below dorsal
                    assert coords[v, 2].max() <= coords[d, 2].min()
    np.testing.assert_array_equal(columns["BMDgeneral"], np.flatnonzero(truth["noise_ceiling"] > 0))
    general = _load(bmd_files.roi_path(root, subject, "BMDgeneral"))["train_data_allvoxel"]
    np.testing.assert_array_equal(general, train[..., columns["BMDgeneral"]])


@pytest.mark.parametrize("subject", SUBJECTS)
def test_some_repetitions_are_missing_never_more_than_one_per_video_and_voxel(root, subject):
    truth = _truth(root, subject)
    for split, n_reps in (
        ("train", CONFIG.n_train_repetitions),
        ("test", CONFIG.n_test_repetitions),
    ):
        betas = _load(bmd_files.whole_brain_path(root, subject, split))[0]
        assert betas.shape[1] == n_reps
        missing = np.isnan(betas)
        assert missing.any(), split
        assert missing.all(axis=2).any(), f"{split}: no whole missing trial"  # a missing trial
        assert missing.sum(axis=1).max() == 1
    # Present test responses are the truth's noisy test responses (float32 in the truth).
    test = _load(bmd_files.whole_brain_path(root, subject, "test"))[0]
    present = ~np.isnan(test)
    np.testing.assert_array_equal(test[present], truth["test"].astype(np.float64)[present])


def test_the_whole_brain_mask_is_a_nifti_image_with_one_voxel_per_column(root):
    betas, order, img = _load(bmd_files.whole_brain_path(root, "sub-02", "test"))
    assert isinstance(img, nib.Nifti1Image) and img.shape == CONFIG.wb_volume_shape
    assert (
        int((np.asarray(img.dataobj) != 0).sum())
        == betas.shape[2]
        == _truth(root, "sub-02")["clean"].shape[1]
    )
    assert order == [f"vid{i:04d}" for i in range(11, 15)]


def test_the_command_line_writes_the_bmd_layout(tmp_path, capsys):
    simulator_main(
        [
            "--out",
            str(tmp_path / "cli"),
            "--preset",
            "tiny",
            "--layout",
            "bmd",
            "--n-train",
            "3",
            "--n-test",
            "1",
            "--n-subjects",
            "1",
            "--size",
            "32",
            "--quiet",
        ]
    )
    assert "wrote" in capsys.readouterr().out
    assert bmd_files.whole_brain_path(tmp_path / "cli", "sub-01", "test").is_file()
    assert not (tmp_path / "cli" / "participants_data_v2021").exists()
    with pytest.raises(ValueError, match="layout must be one of"):
        dataclasses.replace(CONFIG, layout="nsd")


# ----------------------------------------------------------------------------------- the reader
def test_reader_finds_subjects_and_region_files(root):
    assert bmd_files.subjects(root) == SUBJECTS
    assert "lEBA" in bmd_files.region_file_names(root, "sub-01")
    assert bmd_files.region_file_names(root, "sub-09") == []


def test_reader_reads_one_file_as_written_nan_kept(root):
    r = bmd_files.read_region_file(root, "sub-01", "rEBA")
    data = _load(bmd_files.roi_path(root, "sub-01", "rEBA"))
    np.testing.assert_array_equal(r.train, data["train_data_allvoxel"])  # NaN == NaN here
    np.testing.assert_array_equal(r.test, data["test_data_allvoxel"])
    np.testing.assert_array_equal(r.train_clips, np.arange(1, 11))
    np.testing.assert_array_equal(r.test_clips, np.arange(11, 15))


def test_reader_merges_a_region_in_the_documented_column_order(root):
    columns = _columns(root, "sub-02")
    train = _load(bmd_files.whole_brain_path(root, "sub-02", "train"))[0]
    for region, files in (
        ("V1", ["lV1v", "lV1d", "rV1v", "rV1d"]),
        ("V4", ["lhV4", "rhV4"]),
        ("EBA", ["lEBA", "rEBA"]),
        ("V2v", ["lV2v", "rV2v"]),
        ("lEBA", ["lEBA"]),
        ("BMDgeneral", ["BMDgeneral"]),
    ):
        files = [f for f in files if f in columns]
        responses, blocks = bmd_files.read_region(root, "sub-02", region)
        order = np.concatenate([columns[f] for f in files])
        np.testing.assert_array_equal(responses.train, train[..., order])
        assert [b.file for b in blocks] == files
        assert blocks[0].start == 0 and blocks[-1].stop == responses.n_voxels
        assert all(b.stop - b.start == len(columns[b.file]) for b in blocks)
        assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:], strict=False))


def test_reader_reads_the_whole_brain_and_its_mask(root):
    train = bmd_files.read_whole_brain(root, "sub-01", "train")
    test = bmd_files.read_whole_brain(root, "sub-01", "test", n_train=CONFIG.n_train)
    betas, _, img = _load(bmd_files.whole_brain_path(root, "sub-01", "train"))
    np.testing.assert_array_equal(train.betas, betas)
    np.testing.assert_array_equal(train.mask, np.asarray(img.dataobj) != 0)
    np.testing.assert_array_equal(train.affine, img.affine)
    np.testing.assert_array_equal(train.clips, np.arange(1, 11))
    np.testing.assert_array_equal(test.clips, np.arange(11, 15))
    assert test.betas.shape == (CONFIG.n_test, CONFIG.n_test_repetitions, int(train.mask.sum()))
    with pytest.raises(
        ValueError,
        match=r"task-test_normalized.pkl: 'stimorder' row 0 is clip 11; expected clips 6-9",
    ):
        bmd_files.read_whole_brain(root, "sub-01", "test", n_train=5)


# ----------------------------------------------------------------------------------- reader errors
def _region_file(root, roi="lEBA", n_train=4, n_test=2, n_voxels=3, **changes):
    rng = np.random.default_rng(0)
    data = {
        "train_data_allvoxel": rng.normal(size=(n_train, 3, n_voxels)),
        "test_data_allvoxel": rng.normal(size=(n_test, 10, n_voxels)),
        "train_stim_order": [f"vid{i:04d}" for i in range(1, n_train + 1)],
        "test_stim_order": [f"{i:04d}.mp4" for i in range(n_train + 1, n_train + n_test + 1)],
    }
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not None}
    path = bmd_files.roi_path(root, "sub-01", roi)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(data))
    return path


def test_reader_accepts_numbers_and_names_in_a_stimulus_order(tmp_path):
    _region_file(
        tmp_path, train_stim_order=np.arange(1, 5), test_stim_order=["vid0005", b"vid0006"]
    )
    assert bmd_files.read_region_file(tmp_path, "sub-01", "lEBA").test.shape == (2, 10, 3)
    _region_file(tmp_path, train_stim_order=None, test_stim_order=None)  # optional
    assert bmd_files.read_region_file(tmp_path, "sub-01", "lEBA").train.shape == (4, 3, 3)


BAD = {
    "swapped order": (
        {"train_stim_order": ["vid0002", "vid0001", "vid0003", "vid0004"]},
        r"'train_stim_order' row 0 is clip 2; expected clips 1-4 in order",
    ),
    "test numbered from 1": (
        {"test_stim_order": ["vid0001", "vid0002"]},
        r"'test_stim_order' row 0 is clip 1; expected clips 5-6",
    ),
    "order too short": (
        {"train_stim_order": ["vid0001"]},
        r"'train_stim_order' names 1 videos; expected 4",
    ),
    "name without number": (
        {"train_stim_order": ["a", "b", "c", "d"]},
        r"'train_stim_order' entry 'a' is not a clip name that starts with its number",
    ),
    "missing key": (
        {"test_data_allvoxel": None},
        r"expected a dict with keys .*found \['test_stim_order', 'train_data",
    ),
    "two dimensions": (
        {"train_data_allvoxel": np.zeros((4, 3))},
        r"'train_data_allvoxel' is float64 of shape \(4, 3\)",
    ),
    "integers": (
        {"train_data_allvoxel": np.zeros((4, 3, 3), np.int64)},
        r"'train_data_allvoxel' is int64 of shape",
    ),
    "infinite": (
        {"test_data_allvoxel": np.full((2, 10, 3), np.inf)},
        r"'test_data_allvoxel' holds 60 infinite",
    ),
    "voxels differ": (
        {"test_data_allvoxel": np.zeros((2, 10, 5))},
        r"train_data_allvoxel has 3 voxels but test_data_allvoxel has 5",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_reader_errors_name_the_file_and_what_was_expected(tmp_path, case):
    changes, message = BAD[case]
    _region_file(tmp_path, **changes)
    with pytest.raises(ValueError, match=r"sub-01_roi-lEBA_betas_normalized.pkl: " + message):
        bmd_files.read_region_file(tmp_path, "sub-01", "lEBA")


def test_reader_errors_for_regions_and_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="no BMD subject folders"):
        bmd_files.subjects(tmp_path)
    _region_file(tmp_path, "lEBA")
    _region_file(tmp_path, "rEBA", n_train=5)
    with pytest.raises(
        ValueError, match=r"roi-rEBA_betas_normalized.pkl: train \(5, 3\).*must agree"
    ):
        bmd_files.read_region(tmp_path, "sub-01", "EBA")
    with pytest.raises(
        FileNotFoundError, match=r"region 'FFA' of sub-01: none of its files.*roi-lFFA"
    ):
        bmd_files.read_region(tmp_path, "sub-01", "FFA")
    with pytest.raises(ValueError, match="unknown BMD region 'V9'"):
        bmd_files.read_region(tmp_path, "sub-01", "V9")
    with pytest.raises(FileNotFoundError, match="roi-lPPA_betas_normalized.pkl"):
        bmd_files.read_region_file(tmp_path, "sub-01", "lPPA")
    assert bmd_files.read_region(tmp_path, "sub-01", "lEBA")[1] == [ColumnBlock("lEBA", 0, 3)]


def test_whole_brain_errors(tmp_path):
    path = bmd_files.whole_brain_path(tmp_path, "sub-01", "train")
    path.parent.mkdir(parents=True)
    mask = np.zeros((8, 8, 8), np.int16)
    mask[2:4, 2:4, 2:4] = 1  # 8 voxels
    img = nib.Nifti1Image(mask, np.eye(4))
    betas = np.zeros((3, 3, 8))
    names = ["vid0001", "vid0002", "vid0003"]
    cases = [
        ((betas[..., :7], names, img), "the mask has 8 nonzero voxels but betas has 7 columns"),
        ((betas, names[:2], img), "stimorder names 2 videos but betas has 3 rows"),
        ((betas, names, mask), "expected the mask as a 3-D nibabel Nifti1Image, found ndarray"),
        ((betas, names), "expected a tuple \\(betas, stimorder, mask\\), found tuple of 2"),
        ({"betas": betas}, "expected a tuple .*found dict"),
    ]
    for obj, message in cases:
        path.write_bytes(pickle.dumps(obj))
        with pytest.raises(ValueError, match=f"task-train_normalized.pkl: {message}"):
            bmd_files.read_whole_brain(tmp_path, "sub-01", "train")
    path.write_bytes(pickle.dumps((betas, names, img)))
    assert bmd_files.read_whole_brain(tmp_path, "sub-01", "train").mask.sum() == 8
    with pytest.raises(ValueError, match="split must be one of"):
        bmd_files.whole_brain_path(tmp_path, "sub-01", "val")


# ----------------------------------------------------------------------------------- end to end
def test_noise_free_responses_score_about_one_on_the_written_test_responses(tmp_path):
    # Simulator (BMD layout) -> reader -> test score: the truth's noise-free responses, as a
    # prediction, correlate with the noisy repetition mean as well as its ceiling allows (score 1;
    # 0.97-1.03 over seeds 0-3 with 20 test videos).
    config = dataclasses.replace(CONFIG, n_train=3, n_test=20, n_subjects=1, size=32)
    root = generate_dataset(tmp_path / "release", config, progress=False)
    clean = _truth(root, "sub-01")["clean"][config.n_train :]
    columns = _columns(root, "sub-01")
    responses, predictions = {"sub-01": {}}, {"sub-01": {}}
    for region in ("V1", "EBA", "LOC"):
        r, blocks = bmd_files.read_region(root, "sub-01", region)
        order = np.concatenate([columns[b.file] for b in blocks])
        responses["sub-01"][region] = r.test
        predictions["sub-01"][region] = clean[:, order]
    assert np.isnan(responses["sub-01"]["V1"]).any()
    summary = score_on_test(predictions, responses)
    for region, score in summary.score.rois.items():
        assert 0.9 < score < 1.1, (region, score)
    assert summary.r.overall < 0.9 * summary.score.overall  # the ceilings are below 1
    shuffled = {"sub-01": {k: v[::-1] for k, v in predictions["sub-01"].items()}}
    assert score_on_test(shuffled, responses).score.overall < 0.5
