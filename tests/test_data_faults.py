"""Data faults injected into a copy of the tiny release, each through a real training run:
a voxel unmeasured in every repetition of some videos, a constant voxel, a one-voxel region,
a subject missing a region file, and an undecodable video under ``on_bad_video: skip``."""

from __future__ import annotations

import json
import logging
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

from datamodules.algonauts import AlgonautsDataModule
from datamodules.dataset import ClipDataset
from datamodules.release import VIDEO_DIR, DataLayoutError
from datamodules.safe_pickle import load_pickle
from datamodules.video import read_clip
from tests.faults import copy_release, predict_tiny, rewrite_roi, roi_file
from tests.helpers import fit_tiny

ONE_EPOCH = ("--trainer.max_epochs", "1")


def _finite_metrics(cli, *keys: str) -> None:
    metrics = cli.trainer.callback_metrics
    for key in ("train/loss_epoch", "val/loss", "val/score", "val/r", "val/ridge/score", *keys):
        assert math.isfinite(float(metrics[key])), f"{key} = {float(metrics[key])}"
    for name, p in cli.model.named_parameters():
        assert p.isfinite().all(), name


def _summary(cli) -> dict:
    return json.loads((Path(cli.trainer.log_dir) / "summary.json").read_text())


def test_voxel_nan_in_all_repetitions_of_some_videos_trains_with_finite_loss_and_metrics(tiny_root, tmp_path,
                                                                                        caplog):
    root = copy_release(tiny_root, tmp_path)

    def unmeasure(train):
        train[[0, 2, 5, 8], :, 0] = np.nan  # voxel 0: no measurement at all for 3 train and 1 val video
        train[1, 0, 1] = np.nan  # voxel 1: one repetition missing (the mean uses the other two)
        return train

    n_v1 = rewrite_roi(root, "sub01", "V1", unmeasure).shape[2]
    with caplog.at_level(logging.WARNING, logger="datamodules.algonauts"):
        cli = fit_tiny(root, tmp_path, *ONE_EPOCH)
    _finite_metrics(cli, "val/r/sub01/V1", "val/score/sub01/V1")
    n = cli.datamodule.target_layout.n_voxels
    assert f"2 of {n} voxels have missing measurements (NaN in some repetition) (sub01/V1: 2)" in caplog.text
    assert f"1 of {n} voxels are NaN in all repetitions of some video" in caplog.text
    assert cli.model.last_validation.r[:n_v1].isfinite().all()


def test_constant_voxel_is_counted_and_scores_zero_without_nan(tiny_root, tmp_path, caplog):
    root = copy_release(tiny_root, tmp_path)

    def flatten(train):
        train[:, :, 0] = 1.5  # the same response to every video and repetition
        return train

    rewrite_roi(root, "sub01", "V2", flatten)
    with caplog.at_level(logging.WARNING, logger="datamodules.algonauts"):
        cli = fit_tiny(root, tmp_path, *ONE_EPOCH)
    _finite_metrics(cli, "val/r/sub01/V2", "val/score/sub01/V2")
    layout = cli.datamodule.target_layout
    assert f"1 of {layout.n_voxels} voxels are constant over the training videos" in caplog.text
    assert "(sub01/V2: 1)" in caplog.text
    start = next(g.start for g in layout.groups if g.name == "sub01/V2")
    assert cli.model.last_validation.r[start] == 0
    assert cli.model.val_ceiling[start] <= 0  # left out of the normalised score, counted as unreliable
    assert _summary(cli)["best"]["score"]["groups"]["sub01/V2"] is not None


def test_single_voxel_region_trains_scores_and_exports(tiny_root, tmp_path):
    root = copy_release(tiny_root, tmp_path)
    rewrite_roi(root, "sub01", "FFA", lambda train: train[:, :, :1])
    cli = fit_tiny(root, tmp_path, *ONE_EPOCH)  # ridge baseline on by default: fitted and scored too
    assert cli.datamodule.voxel_counts["sub01"]["FFA"] == 1
    _finite_metrics(cli, "val/r/sub01/FFA", "val/ridge/r")
    assert cli.model.model.heads.weights[0].shape[1] == cli.datamodule.target_layout.n_voxels
    assert cli.model.val_ceiling.isfinite().all()
    out = predict_tiny(Path(cli.trainer.log_dir) / "checkpoints/last.ckpt", tmp_path / "out")
    n_test = cli.datamodule.release.n_test
    assert np.load(out / "predictions/sub01/FFA.npy").shape == (n_test, 1)
    with zipfile.ZipFile(out / "mini_track.zip") as archive:
        archive.extract("mini_track.pkl", tmp_path)
    assert load_pickle(tmp_path / "mini_track.pkl")["FFA"]["sub01"].shape == (n_test, 1)


def test_subject_missing_a_region_file_is_a_clear_error_by_default(tiny_root, tmp_path):
    root = copy_release(tiny_root, tmp_path)
    missing = roi_file(root, "sub02", "V4")
    missing.unlink()
    with pytest.raises(DataLayoutError) as err:
        AlgonautsDataModule(root=str(root)).release  # noqa: B018
    message = str(err.value)
    assert str(missing) in message and "region file not found" in message
    assert "--data.missing_rois skip" in message and "data.rois" in message


def test_subject_missing_a_region_file_is_skipped_on_request(tiny_root, tmp_path, caplog):
    root = copy_release(tiny_root, tmp_path)
    missing = roi_file(root, "sub02", "V4")
    missing.unlink()
    with caplog.at_level(logging.WARNING, logger="datamodules.release"):
        cli = fit_tiny(root, tmp_path, *ONE_EPOCH, "--data.missing_rois", "skip")
    assert f"{missing} not found: sub02/V4 is left out (missing_rois=skip)" in caplog.text
    counts = cli.datamodule.voxel_counts
    assert "V4" in counts["sub01"] and "V4" not in counts["sub02"] and len(counts["sub02"]) == 8
    assert cli.model.layout.voxel_counts == counts
    _finite_metrics(cli, "val/score/sub01/V4", "val/score/V4", "val/score/sub02")
    groups = _summary(cli)["best"]["score"]["groups"]
    assert "sub01/V4" in groups and "sub02/V4" not in groups and len(groups) == 17

    out = predict_tiny(Path(cli.trainer.log_dir) / "checkpoints/last.ckpt", tmp_path / "out")
    assert not (out / "predictions/sub02/V4.npy").exists() and (out / "predictions/sub01/V4.npy").is_file()
    with zipfile.ZipFile(out / "mini_track.zip") as archive:
        archive.extract("mini_track.pkl", tmp_path)
    submission = load_pickle(tmp_path / "mini_track.pkl")
    assert sorted(submission["V4"]) == ["sub01"] and sorted(submission["V1"]) == ["sub01", "sub02"]


def test_undecodable_videos_skipped_are_left_out_of_training_and_validation(tiny_root, tmp_path, caplog):
    root = copy_release(tiny_root, tmp_path)
    videos = sorted((root / VIDEO_DIR).glob("*.mp4"))
    for i in (2, 8):  # one training video, one validation video (holdout: the last 6 of 12)
        videos[i].write_bytes(b"not an mp4 at all")
    with caplog.at_level(logging.WARNING, logger="datamodules.algonauts"):
        cli = fit_tiny(root, tmp_path, *ONE_EPOCH, "--data.on_bad_video", "skip")
    dm = cli.datamodule
    assert 2 not in dm.train_indices and 8 not in dm.val_indices
    assert len(dm.train_indices) == 5 and len(dm.val_indices) == 5
    assert "left out 1 training and 1 validation video(s) that could not be decoded" in caplog.text
    assert videos[2].name in caplog.text and videos[8].name in caplog.text
    _finite_metrics(cli)
    # The skipped clips keep their rows: every other row is still its own clip, and its own fMRI.
    assert not dm.clips[2].any() and not dm.clips[8].any()
    for i in (1, 3, 9, 15):
        np.testing.assert_array_equal(dm.clips[i], read_clip(videos[i], 4, 32, dm.hparams.video_backend))
    item = ClipDataset(dm.clips, [3], dm.responses)[0]
    np.testing.assert_array_equal(item["targets"].numpy(), dm.mean_responses[3])


def test_macos_metadata_file_is_refused_even_when_bad_videos_are_skipped(tiny_root, tmp_path):
    root = copy_release(tiny_root, tmp_path)
    first = sorted((root / VIDEO_DIR).glob("*.mp4"))[0]
    (root / VIDEO_DIR / f"._{first.name}").write_bytes(b"\x00\x05\x16\x07 Mac OS X resource fork")
    with pytest.raises(DataLayoutError, match=r"\._0001_.*a macOS metadata file, not a video"):
        AlgonautsDataModule(root=str(root), on_bad_video="skip").release  # noqa: B018
