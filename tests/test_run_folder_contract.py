"""The run folder's one contract (issue 24, item 1): each file round-trips, the forms older code wrote
still read, and a malformed file raises RunReadError naming it.

The "old" files here are written the way the writers before the contract wrote them (the dict
``json.dumps(indent=2)`` of ``RunSummary._write``, the ``np.savez`` keys of ``ValidationDump._write``),
by hand, not through the contract.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch

from run_folder import (
    BEST_CHECKPOINT_FILENAME,
    RunFolder,
    RunReadError,
    RunSummaryRecord,
    read_band_weights,
    read_predictions,
)
from scoring.layout import TargetLayout
from scoring.summary import score_summary

LAYOUT = TargetLayout({"sub01": {"V1": 3, "FFA": 2}, "sub02": {"V1": 2}})


def _summary(seed: int, ceiling: bool = True):
    g = torch.Generator().manual_seed(seed)
    r = torch.rand(LAYOUT.n_voxels, generator=g) - 0.2
    return score_summary(r, torch.rand(LAYOUT.n_voxels, generator=g) + 0.1 if ceiling else None, LAYOUT)


def _record(**changes) -> RunSummaryRecord:
    fields = dict(best=_summary(0), last=_summary(1), ridge=_summary(2), banded_ridge=None, best_epoch=3,
                  best_checkpoint="runs/a/version_0/checkpoints/best-epoch003.ckpt",
                  last_checkpoint="runs/a/version_0/checkpoints/last.ckpt", epochs_run=5, gain_over_ridge=0.0267)
    return RunSummaryRecord(**{**fields, **changes})


def test_summary_round_trips_with_the_bytes_the_old_writer_wrote(tmp_path):
    record = _record()
    folder = RunFolder(tmp_path / "run")
    path = folder.write_summary(record)
    assert path == tmp_path / "run" / "summary.json"
    # RunSummary._write before the contract: these keys in this order, json.dumps(indent=2).
    old = {"best_epoch": 3, "best_checkpoint": record.best_checkpoint, "last_checkpoint": record.last_checkpoint,
           "epochs_run": 5, "best": record.best.as_json(), "last": record.last.as_json(),
           "ridge": record.ridge.as_json(), "gain_over_ridge": 0.0267}
    assert path.read_text() == json.dumps(old, indent=2)
    back = folder.read_summary()
    assert back == record  # every ScoreSummary's groups, subjects, regions and counts
    assert back.best_score == pytest.approx(record.best.score.overall)
    assert back.ridge_score == pytest.approx(record.ridge.score.overall)


def test_summary_without_a_ceiling_or_ridge_and_nan_gain(tmp_path):
    record = _record(best=_summary(0, ceiling=False), last=None, ridge=None, gain_over_ridge=float("nan"))
    folder = RunFolder(tmp_path)
    folder.write_summary(record)
    data = json.loads(folder.summary_path.read_text())
    assert "last" not in data and "ridge" not in data and data["gain_over_ridge"] is None
    assert data["best"]["score"] is None  # no ceiling: val/score is the raw r
    back = folder.read_summary()
    assert back.best_score == pytest.approx(record.best.r.overall) and back.ridge_score is None
    assert back.gain_over_ridge is None


def test_summaries_written_by_older_code_still_read(tmp_path):
    folder = RunFolder(tmp_path)
    # Before ScoreSummary (ab39ef3^): grouped dicts, "overall" null without a ceiling, no ridge.
    folder.summary_path.write_text(json.dumps({
        "best_epoch": 1, "best_checkpoint": "x/checkpoints/best-epoch001.ckpt", "last_checkpoint": None,
        "epochs_run": 2,
        "best": {"score": {"overall": 0.41, "subjects": {"sub01": 0.41}, "rois": {"V1": 0.5, "FFA": 0.32},
                           "groups": {"sub01/V1": 0.5, "sub01/FFA": 0.32}},
                 "r": {"overall": 0.2, "subjects": {"sub01": 0.2}, "rois": {}, "groups": {}},
                 "n_unreliable_voxels": 4},
        "last": {"score": {"overall": None, "subjects": {}, "rois": {}, "groups": {}},
                 "r": {"overall": 0.1, "subjects": {}, "rois": {}, "groups": {}}, "n_unreliable_voxels": None}},
        indent=2))
    s = folder.read_summary()
    assert s.best_score == pytest.approx(0.41) and s.best.score.groups[("sub01", "FFA")] == pytest.approx(0.32)
    assert s.best.n_unreliable_voxels == 4 and s.best.r.overall == pytest.approx(0.2)
    assert math.isnan(s.last.score.overall) and s.ridge is None and s.gain_over_ridge is None
    # Flat score dicts (what checkpoints held before ScoreSummary), and a record with only a score.
    folder.summary_path.write_text(json.dumps({
        "best_epoch": 0, "best": {"r": 0.3, "r/sub01": 0.3, "score": 0.6, "score/sub01": 0.6, "score/V1": 0.6,
                                  "score/sub01/V1": 0.6, "n_unreliable_voxels": 2},
        "last": {"score": {"overall": 0.55}}}))
    s = folder.read_summary()
    assert s.best_score == pytest.approx(0.6) and s.best.score.groups == {("sub01", "V1"): pytest.approx(0.6)}
    assert s.best.score.subjects == {"sub01": pytest.approx(0.6)} and s.best.n_unreliable_voxels == 2
    assert s.last.main == pytest.approx(0.55) and s.best_checkpoint is None and s.epochs_run is None


@pytest.mark.parametrize("text, message", [
    ("{not json", "summary.json: not valid JSON"),
    ("[1, 2]", "summary.json: not a run summary"),
    ('{"best": 3}', "summary.json: not a run summary"),
    ('{"best": {"score": {"overall": "high"}}}', "summary.json: not a run summary"),
])
def test_malformed_summary_names_the_file(tmp_path, text, message):
    folder = RunFolder(tmp_path)
    with pytest.raises(RunReadError, match="summary.json: not found"):
        folder.read_summary()
    folder.summary_path.write_text(text)
    with pytest.raises(RunReadError, match=message):
        folder.read_summary()


def _predictions(n_videos=4, seed=0):
    rng = np.random.default_rng(seed)
    return dict(predictions=rng.normal(size=(n_videos, LAYOUT.n_voxels)),
                targets=rng.normal(size=(n_videos, LAYOUT.n_voxels)),
                r=rng.uniform(-1, 1, LAYOUT.n_voxels), noise_ceiling=rng.uniform(0, 1, LAYOUT.n_voxels),
                video_index=np.array([2, 5, 7, 9]), layout=LAYOUT, epoch=3, score=0.4375)


# ValidationDump._write before the contract, key for key and in this order.
OLD_DUMP_KEYS = ["predictions", "targets", "r", "noise_ceiling", "video_index", "subjects", "rois", "voxel_counts",
                 "epoch", "score", "train_index", "video_names", "voxel_mask_sub01"]


def test_predictions_round_trip_in_the_old_writers_keys(tmp_path):
    arrays = _predictions()
    mask = np.zeros((2, 2, 2), bool)
    mask.flat[:5] = True
    folder = RunFolder(tmp_path)
    path = folder.write_predictions(**arrays, train_index=np.array([0, 1, 3]), video_names=["a.mp4", "b.mp4",
                                    "c.mp4", "d.mp4"], voxel_masks={"sub01": mask})
    assert path == tmp_path / "val_predictions.npz" and not list(tmp_path.glob(".*.tmp"))
    with np.load(path) as z:
        assert z.files == OLD_DUMP_KEYS
        assert z["predictions"].dtype == np.float32 and z["video_index"].dtype == np.int64
        assert z["subjects"].tolist() == ["sub01", "sub01", "sub02"] and z["voxel_counts"].tolist() == [3, 2, 2]
        assert z["epoch"].dtype == np.int64 and z["score"].dtype == np.float64
    back = folder.read_predictions()
    np.testing.assert_array_equal(back.predictions, arrays["predictions"].astype(np.float32))
    np.testing.assert_array_equal(back.noise_ceiling, arrays["noise_ceiling"].astype(np.float32))
    assert back.groups == [("sub01", "V1", 0, 3), ("sub01", "FFA", 3, 5), ("sub02", "V1", 5, 7)]
    assert back.layout == LAYOUT and back.epoch == 3 and back.val_score == 0.4375
    assert back.train_index.tolist() == [0, 1, 3] and back.video_names.tolist()[1] == "b.mp4"
    np.testing.assert_array_equal(back.voxel_masks["sub01"], mask)
    np.testing.assert_allclose(back.score, back.r / np.sqrt(back.noise_ceiling), rtol=1e-6)
    assert back.voxel_name(5) == "sub02/V1 #0"


def test_predictions_file_of_the_first_writer_reads(tmp_path):
    # bf74a59's ValidationDump: no train_index (added with ensembles), no mask (mini track).
    a = _predictions()
    path = tmp_path / "val_predictions.npz"
    np.savez(path, predictions=a["predictions"].astype(np.float32), targets=a["targets"].astype(np.float32),
             r=a["r"].astype(np.float32), noise_ceiling=np.full(LAYOUT.n_voxels, np.nan, np.float32),
             video_index=a["video_index"], subjects=np.array(["sub01", "sub01", "sub02"]),
             rois=np.array(["V1", "FFA", "V1"]), voxel_counts=np.array([3, 2, 2]), epoch=np.int64(1),
             score=np.float64(0.25), video_names=np.array(["a", "b", "c", "d"]))
    back = read_predictions(path)
    assert back.train_index is None and back.voxel_masks == {} and back.epoch == 1 and back.val_score == 0.25
    assert back.layout == LAYOUT and np.isnan(back.score).all()


def test_malformed_predictions_name_the_file(tmp_path):
    path = tmp_path / "val_predictions.npz"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(RunReadError, match="val_predictions.npz: not a readable .npz"):
        read_predictions(path)
    a = _predictions()
    np.savez(path, predictions=a["predictions"], targets=a["targets"])
    with pytest.raises(RunReadError, match=r"val_predictions.npz: missing arrays \['noise_ceiling', 'r'"):
        read_predictions(path)
    RunFolder(tmp_path).write_predictions(**{**a, "targets": a["targets"][:, :4]})
    with pytest.raises(RunReadError, match=r"val_predictions.npz: predictions \(4, 7\) and targets \(4, 4\)"):
        read_predictions(path)


def test_band_weights_round_trip_and_malformed(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(3), LAYOUT.n_voxels).T  # (n_bands, n_voxels), columns on the simplex
    folder = RunFolder(tmp_path)
    path = folder.write_band_weights(band_names=["layer0", "layer1", "motion"], weights=w,
                                     alphas=np.full(LAYOUT.n_voxels, 10.0), cv_r=rng.normal(size=LAYOUT.n_voxels),
                                     val_r=rng.normal(size=LAYOUT.n_voxels), val_split_r=rng.normal(size=w.shape),
                                     layout=LAYOUT, voxel_masks={"sub02": np.ones((1, 1, 2), np.uint8)})
    assert path.name == "band_weights.npz" and folder.has_band_weights
    with np.load(path) as z:
        assert z.files == ["band_names", "weights", "alphas", "cv_r", "val_r", "val_split_r", "subjects", "rois",
                           "voxel_counts", "voxel_mask_sub02"]
        assert z["voxel_mask_sub02"].dtype == bool and z["weights"].dtype == np.float32
    back = folder.read_band_weights()
    assert back.band_names == ["layer0", "layer1", "motion"] and back.groups[-1] == ("sub02", "V1", 5, 7)
    np.testing.assert_allclose(back.weights, w, rtol=1e-6)
    np.testing.assert_allclose(back.alphas, 10.0)
    np.savez(path, band_names=np.array(["layer0"]), weights=w, subjects=np.array(["sub01"]), rois=np.array(["V1"]),
             voxel_counts=np.array([7]))
    with pytest.raises(RunReadError, match=r"band_weights.npz: weights \(3, 7\) must be \(n_bands=1, n_voxels=7\)"):
        read_band_weights(path)


def test_config_reads_and_names_a_bad_file(tmp_path):
    folder = RunFolder(tmp_path)
    assert folder.read_config() == {}
    folder.config_path.write_text("model:\n  backbone: {name: resnet18}\n")
    assert folder.read_config() == {"model": {"backbone": {"name": "resnet18"}}}
    folder.config_path.write_text("model: [unclosed\n")
    with pytest.raises(RunReadError, match="config.yaml: not valid YAML"):
        folder.read_config()
    folder.config_path.write_text("- a list\n")
    with pytest.raises(RunReadError, match="config.yaml: expected a mapping"):
        folder.read_config()


def test_checkpoints_best_then_newest_best_then_last(tmp_path):
    folder = RunFolder(tmp_path / "runs" / "a" / "version_0")
    folder.checkpoints_dir.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="a folder without checkpoints"):
        folder.best_checkpoint()
    folder.last_checkpoint.write_bytes(b"x")
    assert folder.last_checkpoint == folder.path / "checkpoints" / "last.ckpt"
    assert folder.best_checkpoint()[0] == folder.last_checkpoint
    older, newer = (folder.checkpoints_dir / (BEST_CHECKPOINT_FILENAME.format(epoch=e) + ".ckpt") for e in (2, 7))
    assert newer.name == "best-epoch007.ckpt"
    for i, path in enumerate((newer, older)):  # mtime, not the name, says which is newest
        path.write_bytes(b"x")
        os.utime(path, ns=(10**18 + i, 10**18 + i))
    assert folder.best_checkpoint()[0] == older
    # The summary names the checkpoint as the training saw it (another working folder): found by name.
    folder.write_summary(_record(best_checkpoint="elsewhere/checkpoints/best-epoch007.ckpt", best_epoch=7))
    path, line = folder.best_checkpoint()
    assert path == newer and f"best val/score {_record().best.score.overall:.4f}, epoch 7" in line
    assert RunFolder.of_checkpoint(newer).path == folder.path and RunFolder.of_checkpoint(tmp_path / "x.ckpt") is None
