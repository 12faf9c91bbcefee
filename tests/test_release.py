"""Reading the release layout, and each bad-input case stopping with a clear message."""

import pickle
from pathlib import Path

import numpy as np
import pytest

from datamodules.release import DataLayoutError, load_release

ROIS = ["V1", "FFA"]


def _write_release(root: Path, n_videos=6, n_train=4, subjects=("sub01", "sub02"), rois=("V1", "FFA"),
                   wb=True) -> Path:
    videos = root / "AlgonautsVideos268_All_30fpsmax"
    videos.mkdir(parents=True)
    for i in range(n_videos):
        (videos / f"{i + 1:04d}_clip.mp4").write_bytes(b"")  # layout only; nothing decodes them here
    rng = np.random.default_rng(0)
    for s, subject in enumerate(subjects):
        mini = root / "participants_data_v2021" / "mini_track" / subject
        mini.mkdir(parents=True)
        for r, roi in enumerate(rois):
            data = {"train": rng.normal(size=(n_train, 3, 2 + s + r)).astype(np.float32)}
            (mini / f"{roi}.pkl").write_bytes(pickle.dumps(data, protocol=2))
        if wb:
            full = root / "participants_data_v2021" / "full_track" / subject
            full.mkdir(parents=True)
            mask = np.zeros((4, 5, 3), bool)
            mask.flat[: 7 + s] = True
            data = {"train": rng.normal(size=(n_train, 3, 7 + s)), "voxel_mask": mask}
            (full / "WB.pkl").write_bytes(pickle.dumps(data))
    return root


def test_reads_mini_track_with_unequal_voxel_counts(tmp_path):
    release = load_release(_write_release(tmp_path / "r"), "mini", rois=ROIS)
    assert release.n_train == 4 and release.n_test == 2
    assert release.voxel_counts == {"sub01": {"V1": 2, "FFA": 3}, "sub02": {"V1": 3, "FFA": 4}}
    assert [p.name for p in release.video_paths][:2] == ["0001_clip.mp4", "0002_clip.mp4"]
    stacked = release.stacked_train()
    assert stacked.shape == (4, 3, 12) and stacked.dtype == np.float32
    np.testing.assert_array_equal(stacked[:, :, 2:5], release.recordings["sub01"]["FFA"].train)


def test_subject_and_region_selection(tmp_path):
    release = load_release(_write_release(tmp_path / "r"), "mini", subjects=["sub02"], rois=["FFA"])
    assert release.voxel_counts == {"sub02": {"FFA": 4}}


def test_full_track_reads_mask(tmp_path):
    release = load_release(_write_release(tmp_path / "r"), "full")
    rec = release.recordings["sub02"]["WB"]
    assert rec.voxel_mask.shape == (4, 5, 3) and rec.voxel_mask.sum() == rec.train.shape[2] == 8


def test_missing_folder(tmp_path):
    with pytest.raises(DataLayoutError, match="nothere: data folder not found"):
        load_release(tmp_path / "nothere")
    root = _write_release(tmp_path / "r")
    for p in (root / "AlgonautsVideos268_All_30fpsmax").iterdir():
        p.unlink()
    (root / "AlgonautsVideos268_All_30fpsmax").rmdir()
    with pytest.raises(DataLayoutError, match="AlgonautsVideos268_All_30fpsmax: video folder not found"):
        load_release(root)


def test_fewer_videos_than_fmri_rows(tmp_path):
    with pytest.raises(DataLayoutError, match="found 3 videos, but the fMRI has 4 train rows"):
        load_release(_write_release(tmp_path / "r", n_videos=3), rois=ROIS)


def test_array_not_videos_by_repetitions_by_voxels(tmp_path):
    root = _write_release(tmp_path / "r")
    path = root / "participants_data_v2021/mini_track/sub01/V1.pkl"
    path.write_bytes(pickle.dumps({"train": np.zeros((4, 5))}))
    with pytest.raises(DataLayoutError, match=r"sub01/V1.pkl: 'train' must be .*\(videos, repetitions, voxels\)"):
        load_release(root)
    path.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(DataLayoutError, match="V1.pkl: expected a dict with key 'train'"):
        load_release(root)


def test_wb_mask_disagrees_with_voxels(tmp_path):
    root = _write_release(tmp_path / "r")
    path = root / "participants_data_v2021/full_track/sub01/WB.pkl"
    path.write_bytes(pickle.dumps({"train": np.zeros((4, 3, 7)), "voxel_mask": np.ones((2, 2, 2), bool)}))
    with pytest.raises(DataLayoutError, match="WB.pkl: voxel_mask .* has 8 voxels, but 'train' has 7"):
        load_release(root, "full")


def test_subjects_disagree_on_train_rows(tmp_path):
    root = _write_release(tmp_path / "r")
    path = root / "participants_data_v2021/mini_track/sub02/V1.pkl"
    path.write_bytes(pickle.dumps({"train": np.zeros((3, 3, 2))}))
    with pytest.raises(DataLayoutError, match="disagree on the number of train videos"):
        load_release(root, rois=ROIS)


def test_unknown_subject_and_region(tmp_path):
    root = _write_release(tmp_path / "r")
    with pytest.raises(DataLayoutError, match=r"subjects \['sub09'\] not found; available: \['sub01', 'sub02'\]"):
        load_release(root, subjects=["sub09"])
    with pytest.raises(DataLayoutError, match=r"regions \['MT'\] are not part of the mini track"):
        load_release(root, rois=["MT"])
    with pytest.raises(FileNotFoundError, match="sub01/PPA.pkl"):
        load_release(root, rois=["PPA"])


# ----------------------------------------------------------------------------- clip numbering
def _video_dir(root: Path) -> Path:
    return root / "AlgonautsVideos268_All_30fpsmax"


@pytest.mark.parametrize("stray, expected", [
    ("0000_stray.mp4", r"0000_stray.mp4: clip numbers start at 0001"),
    ("._0001_clip.mp4", r"\._0001_clip.mp4: a macOS metadata file, not a video .*find .* -name '\._\*' -delete"),
    ("extra.mp4", r"extra.mp4: not a numbered clip \(expected NNNN_<name>.mp4"),
    ("0003_again.mp4", r"0003_clip.mp4: clip number 0003 appears twice \(also 0003_again.mp4\)"),
    ("0008_clip.mp4", r"clip 0007_ is missing"),
])
def test_stray_or_repeated_clip_is_refused_naming_it(tmp_path, stray, expected):
    root = _write_release(tmp_path / "r")
    (_video_dir(root) / stray).write_bytes(b"")
    with pytest.raises(DataLayoutError, match=expected):
        load_release(root, rois=ROIS)


def test_missing_clip_is_refused_naming_the_first_gap(tmp_path):
    root = _write_release(tmp_path / "r", n_videos=8)
    (_video_dir(root) / "0003_clip.mp4").unlink()
    (_video_dir(root) / "0006_clip.mp4").unlink()
    with pytest.raises(DataLayoutError, match=r"clip 0003_ is missing \(2 number\(s\) missing between 0001 and "
                                              r"0008\); fMRI row 2 and every later one"):
        load_release(root, rois=ROIS)


def test_algonauts_release_needs_all_1102_clips(tmp_path):
    root = _write_release(tmp_path / "r", n_videos=1101, n_train=1000, subjects=("sub01",), rois=("V1",),
                          wb=False)
    with pytest.raises(DataLayoutError, match=r"has 1102 clips \(1000 train \+ 102 test\): clip 1102_ onwards"):
        load_release(root, rois=["V1"])
    (_video_dir(root) / "1102_clip.mp4").write_bytes(b"")
    assert load_release(root, rois=["V1"]).n_test == 102


def test_one_repetition_and_flat_voxel_mask_name_the_file_and_the_problem(tmp_path):
    root = _write_release(tmp_path / "r")
    path = root / "participants_data_v2021/mini_track/sub01/V1.pkl"
    path.write_bytes(pickle.dumps({"train": np.zeros((4, 1, 2))}))
    with pytest.raises(DataLayoutError, match=r"sub01/V1.pkl: 'train' has 1 repetition per video.*at least 2"):
        load_release(root, rois=ROIS)
    wb = root / "participants_data_v2021/full_track/sub01/WB.pkl"
    wb.write_bytes(pickle.dumps({"train": np.zeros((4, 3, 7)), "voxel_mask": np.ones(7, bool)}))
    with pytest.raises(DataLayoutError, match=r"WB.pkl: voxel_mask must be a 3-D volume .* got shape \(7,\)"):
        load_release(root, "full")
