"""predict.py --ensemble on tiny runs: every mode's weights and the cross-fitted estimate recomputed
by hand (numpy's corrcoef, loops over groups) from the members' own ``val_predictions.npz``, and the
refusals: other voxel layouts, a missing validation file, validation videos a member trained on."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import predict
from datamodules.clip_cache import ClipCache
from datamodules.release import list_videos
from export import ensemble as ensemble_module
from export.best_checkpoint import resolve_checkpoint
from export.checkpoint import load_encoding_model
from export.ensemble import check_members, load_member
from scoring.splits import kfold_split
from tests.helpers import fit_tiny

QUICK = ["--trainer.max_epochs", "1", "--model.ridge.fit", "false"]
N_VAL = 6  # tests/helpers.py FAST: holdout of the last 6 of the TINY release's 12 videos


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def runs(tiny_root, tmp_path_factory) -> dict[str, Path]:
    """Run folders: three members of one holdout split (seeds 0-2) and one of fold 0 of a 3-fold split
    (validation videos 2, 4, 7, 9: two of them in the holdout's validation videos, the others in its
    training videos)."""
    base = tmp_path_factory.mktemp("ensemble_runs")
    out = {}
    for name, extra in [("seed0", ["--seed_everything", "0"]), ("seed1", ["--seed_everything", "1"]),
                        ("seed2", ["--seed_everything", "2"]),
                        ("fold0", ["--data.split", "kfold", "--data.n_folds", "3", "--data.fold", "0"])]:
        cli = fit_tiny(tiny_root, base / name, *QUICK, *extra)
        out[name] = Path(cli.trainer.log_dir)
    return out


def _predict(ckpts, out: Path, *extra) -> dict:
    predict.main(["--ckpt_path", *map(str, ckpts), "--output_dir", str(out), "--accelerator", "cpu",
                  "--num_workers", "0", "--batch_size", "4", "--overwrite", *extra])
    return json.loads((out / "manifest.json").read_text())


def _npy(out: Path, groups) -> np.ndarray:
    return np.concatenate([np.load(out / "predictions" / s / f"{r}.npy") for s, r, _ in groups], axis=1)


def _groups(npz) -> list[tuple[str, str, slice]]:
    """(subject, roi, columns) in the file's layout, by hand from its voxel counts."""
    stops = np.cumsum(npz["voxel_counts"])
    return [(str(s), str(r), slice(int(stop - n), int(stop)))
            for s, r, n, stop in zip(npz["subjects"], npz["rois"], npz["voxel_counts"], stops)]


def _r_by_hand(preds: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-voxel Pearson r with numpy's corrcoef; 0 for a constant column."""
    out = np.zeros(preds.shape[1])
    for v in range(preds.shape[1]):
        if np.ptp(preds[:, v]) > 0 and np.ptp(targets[:, v]) > 0:
            out[v] = np.corrcoef(preds[:, v], targets[:, v])[0, 1]
    return out


def _weights_by_hand(mode: str, r: np.ndarray, groups, level: str = "region", temperature: float = 0.3):
    n_members, n_voxels = r.shape
    w = np.zeros((n_members, n_voxels))
    for _, _, cols in groups:
        region_r = r[:, cols].mean(axis=1)
        if mode == "mean":
            w[:, cols] = 1 / n_members
        elif mode == "best_per_region":
            w[int(np.argmax(region_r)), cols] = 1.0
        elif level == "region":
            e = np.exp(region_r / temperature)
            w[:, cols] = (e / e.sum())[:, None]
        else:
            e = np.exp(r[:, cols] / temperature)
            w[:, cols] = e / e.sum(axis=0)
    return w


def _score_by_hand(r: np.ndarray, ceiling: np.ndarray, groups) -> float:
    means = []
    for _, _, cols in groups:
        ok = ceiling[cols] > 0
        if ok.any():
            means.append(np.mean(r[cols][ok] / np.sqrt(ceiling[cols][ok])))
    return float(np.mean(means))


@pytest.fixture(scope="module")
def members(runs, tiny_root):
    """The three holdout members' validation files, and each one's test-set predictions alone,
    ``(n_test, n_voxels)``: its best checkpoint called directly on the training's clip cache (the 4
    test videos in one batch, as ``--batch_size 4`` predicts them)."""
    names = ["seed0", "seed1", "seed2"]
    files = [dict(np.load(runs[n] / "val_predictions.npz")) for n in names]
    clips = ClipCache(tiny_root.parent / "cache", list_videos(tiny_root), num_frames=4, size=32)
    assert clips.is_built
    singles = {}
    with torch.no_grad():
        for n in names:
            model, _ = load_encoding_model(resolve_checkpoint(runs[n])[0])
            singles[n] = model(torch.from_numpy(np.array(clips.array[12:16]))).numpy()
    return names, files, singles


@pytest.fixture(scope="module")
def exports(runs, members, tmp_path_factory):
    """``predict.py`` of the three members, once per (mode, level): (output folder, manifest, printed)."""
    done = {}

    def export(mode: str, level: str = "region"):
        if (mode, level) not in done:
            out = tmp_path_factory.mktemp(f"{mode}_{level}") / "out"
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                manifest = _predict([runs[n] for n in members[0]], out, "--ensemble", mode,
                                    "--ensemble-level", level, "--temperature", "0.3")
            done[mode, level] = out, manifest, buffer.getvalue()
        return done[mode, level]
    return export


# ----------------------------------------------------------------------------- the modes
@pytest.mark.parametrize("mode, level", [("mean", "region"), ("best_per_region", "region"),
                                         ("softmax", "region"), ("softmax", "voxel")])
def test_mode_weights_recomputed_by_hand(runs, members, exports, mode, level):
    names, files, singles = members
    groups = _groups(files[0])
    r = np.stack([_r_by_hand(f["predictions"], f["targets"]) for f in files])
    weights = _weights_by_hand(mode, r, groups, level, 0.3)
    out, manifest, _ = exports(mode, level)

    # the exported predictions are the members' own, weighted voxel by voxel
    alone = np.stack([singles[n] for n in names])
    assert np.abs(alone[0] - alone[1]).max() > 1e-3  # members that differ, so the weighting shows
    expected = np.einsum("mnv,mv->nv", alone, weights)
    np.testing.assert_allclose(_npy(out, groups), expected, rtol=1e-5, atol=1e-5)

    record = manifest["ensemble"]
    assert record["mode"] == mode and record["case"] == "shared" and len(record["members"]) == 3
    for m, member in enumerate(record["members"]):
        assert member["val_predictions"] == str((runs[names[m]] / "val_predictions.npz").resolve())
        for s, roi, cols in groups:
            entry = member["weights"][f"{s}/{roi}"]
            assert entry["mean"] == pytest.approx(weights[m, cols].mean(), abs=1e-5)
            if level == "voxel" and np.ptp(weights[m, cols]) > 1e-6:
                assert entry["min"] == pytest.approx(weights[m, cols].min(), abs=1e-5)
                assert entry["max"] == pytest.approx(weights[m, cols].max(), abs=1e-5)
        # the member's score, recomputed, is the val/score its run logged
        assert member["val_score"] == pytest.approx(_score_by_hand(r[m], files[m]["noise_ceiling"], groups), abs=1e-7)
        assert member["val_score"] == pytest.approx(float(files[m]["score"]), abs=1e-4)
    if mode == "best_per_region":
        assert set(np.unique(weights)) <= {0.0, 1.0}
    if mode == "softmax":
        assert record["level"] == level and record["temperature"] == 0.3


@pytest.mark.parametrize("mode", ["best_per_region", "softmax"])
def test_cross_fitted_estimate_recomputed_by_hand(members, exports, mode):
    names, files, _ = members
    groups = _groups(files[0])
    preds = np.stack([f["predictions"].astype(np.float64) for f in files])
    targets, ceiling = files[0]["targets"].astype(np.float64), files[0]["noise_ceiling"]
    # 6 videos, --cv-splits 5 capped at 6 // 2 = 3 parts of 2 videos, shuffled with seed 0
    parts = np.array_split(np.random.default_rng(0).permutation(N_VAL), 3)
    crossed = np.zeros_like(targets)
    for part in parts:
        rest = np.setdiff1d(np.arange(N_VAL), part)
        r_rest = np.stack([_r_by_hand(p[rest], targets[rest]) for p in preds])
        w = _weights_by_hand(mode, r_rest, groups)
        full = np.einsum("mnv,mv->nv", preds, w)  # this part's weighting on every video, then standardised
        crossed[part] = (full[part] - full.mean(axis=0)) / np.maximum(full.std(axis=0), 1e-300)
    expected = _score_by_hand(_r_by_hand(crossed, targets), ceiling, groups)
    w_all = _weights_by_hand(mode, np.stack([_r_by_hand(p, targets) for p in preds]), groups)
    in_sample = _score_by_hand(_r_by_hand(np.einsum("mnv,mv->nv", preds, w_all), targets), ceiling, groups)

    _, manifest, printed = exports(mode)
    estimate = manifest["ensemble"]["estimate"]
    assert estimate["splits"] == 3 and estimate["videos"] == N_VAL
    assert estimate["cross_fitted_score"] == pytest.approx(expected, abs=1e-6)
    assert estimate["in_sample_score"] == pytest.approx(in_sample, abs=1e-6)
    assert abs(expected - in_sample) > 1e-6  # choosing on the scored videos changes the score
    assert f"cross-fitted (3 parts, weights never chosen on the videos they score): {expected:.4f}" in printed
    for m, member in enumerate(manifest["ensemble"]["members"]):
        assert f"member {m}: val/score {member['val_score']:.4f} on {N_VAL} videos" in printed


def test_mean_of_runs_without_validation_files_still_averages(runs, members, tmp_path, capsys):
    names, files, singles = members
    lone = tmp_path / "lone"
    lone.mkdir()
    for n in ("seed0", "seed1"):
        ckpt, _ = resolve_checkpoint(runs[n])
        shutil.copy(ckpt, lone / f"{n}.ckpt")
    manifest = _predict([lone / "seed0.ckpt", lone / "seed1.ckpt"], tmp_path / "out")
    assert "no validation estimate" in capsys.readouterr().out and "ensemble" not in manifest
    np.testing.assert_allclose(_npy(tmp_path / "out", _groups(files[0])), (singles["seed0"] + singles["seed1"]) / 2,
                               rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- bad input
# Members whose checkpoints predict other voxels: tests/test_predict.py
# (test_ensemble_of_different_layouts_is_refused, "an ensemble needs the same subjects, regions and voxels").
def test_a_validation_file_of_other_voxels_is_refused(runs, members, tmp_path):
    """A member whose file is a sub01-only run's: its first subject's groups, nothing of sub02."""
    member = tmp_path / "member"
    shutil.copytree(runs["seed1"], member)
    data = members[1][1]
    keep = data["subjects"] == "sub01"
    n = int(data["voxel_counts"][keep].sum())  # sub01's groups come first (subject-major)
    sub01_only = {**data, "subjects": data["subjects"][keep], "rois": data["rois"][keep],
                  "voxel_counts": data["voxel_counts"][keep], "predictions": data["predictions"][:, :n],
                  "targets": data["targets"][:, :n], "r": data["r"][:n], "noise_ceiling": data["noise_ceiling"][:n]}
    np.savez(member / "val_predictions.npz", **sub01_only)
    with pytest.raises(SystemExit, match=r"error: .*member/val_predictions.npz: validation predictions of .*"
                                         r"but its checkpoint .* predicts"):
        _predict([runs["seed0"], member], tmp_path / "out", "--ensemble", "best_per_region")


def test_a_missing_validation_file_is_named(runs, tmp_path):
    ckpt, _ = resolve_checkpoint(runs["seed1"])
    shutil.copy(ckpt, tmp_path / "seed1.ckpt")
    with pytest.raises(SystemExit, match=r"error: .*seed1\.ckpt: no val_predictions\.npz for this ensemble member "
                                         r"\(looked in .*\).*use --ensemble mean"):
        _predict([runs["seed0"], tmp_path / "seed1.ckpt"], tmp_path / "out", "--ensemble", "softmax")


def test_a_validation_file_of_another_split_is_refused(runs, tmp_path):
    """The fold-0 checkpoint with the holdout run's file: it would be scored on videos it trained on."""
    member = tmp_path / "fold0"
    shutil.copytree(runs["fold0"], member)
    shutil.copy(runs["seed0"] / "val_predictions.npz", member / "val_predictions.npz")
    trained = kfold_split(12, 3, 0, 0)[0]
    n_seen = np.intersect1d(trained, np.arange(6, 12)).size
    assert n_seen > 0
    with pytest.raises(SystemExit, match=rf"fold0.*scores {n_seen} of its 6 validation videos on videos its "
                                         r"checkpoint's split trained on"):
        _predict([runs["seed1"], member], tmp_path / "out", "--ensemble", "softmax")


def test_members_validated_on_videos_another_member_trained_on_are_refused(runs, tmp_path):
    """Holdout member (validates on 6-11, trains on 0-5) and fold-0 member (validates on 2, 4, 7, 9):
    only 7 and 9 are held out by both, and each validates on videos the other trained on."""
    with pytest.raises(SystemExit, match=r"validates on 4 videos that .* trained on\), and only 2 videos are held "
                                         r"out by every member"):
        _predict([runs["seed0"], runs["fold0"]], tmp_path / "out", "--ensemble", "best_per_region")


def test_partly_overlapping_members_with_enough_common_videos_warn(runs, monkeypatch):
    monkeypatch.setattr(ensemble_module, "MIN_SHARED_VIDEOS", 2)
    loaded = []
    for name in ("seed0", "fold0"):
        ckpt, _ = resolve_checkpoint(runs[name])
        model, data_hparams = load_encoding_model(ckpt)
        loaded.append(load_member(ckpt, model.layout, data_hparams, given=runs[name], n_train=12))
    with pytest.warns(UserWarning, match=r"weights and the estimate use only the 2 videos every member held out"):
        case, videos = check_members(loaded)
    assert case == "shared" and videos.tolist() == [7, 9]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_members(loaded[:1])[0] == "shared"  # one member alone: no warning
