"""predict.py end to end: the submission zip, .npy files and manifest, ensembles, sharded DDP
writes, folders of clips, and the refusals that keep a wrong or half-written export out."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import predict
import train
from datamodules.clip_cache import ClipCache
from datamodules.release import FMRI_DIR, VIDEO_DIR, DataLayoutError, list_videos
from datamodules.safe_pickle import load_pickle
from export.checkpoint import read_checkpoint
from export.submission import SubmissionError, validate_submission
from lightning_modules.system import EncodingModel
from scoring.layout import MINI_TRACK_ROIS
from simulator import TINY_CONFIG, generate_dataset
from tests.helpers import FAST, REPO, release_args

N_TRAIN, N_TEST = TINY_CONFIG.n_train, TINY_CONFIG.n_test  # 12 + 4 videos
FIT = [*FAST, "--trainer.max_epochs", "1",
       "--model.ridge.fit", "false"]  # no ridge hand-over: faster, and prediction does not care


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("predict") / "release"
    generate_dataset(root, TINY_CONFIG, progress=False)
    return root


@pytest.fixture(scope="module")
def trained(release, tmp_path_factory) -> list[tuple[EncodingModel, Path]]:
    """Two tiny models (seeds 0 and 1), each with its ``last.ckpt``."""
    runs = []
    for seed in (0, 1):
        save_dir = tmp_path_factory.mktemp(f"run{seed}")
        cli = train.main(["fit", "--config", str(REPO / "configs/demo.yaml"), *FIT,
                          "--seed_everything", str(seed), *release_args(release, save_dir)])
        runs.append((cli.model.eval(), Path(cli.trainer.log_dir) / "checkpoints" / "last.ckpt"))
    return runs


def _predict(ckpts, out, *extra) -> Path:
    argv = ["--ckpt_path", *map(str, ckpts), "--output_dir", str(out), "--accelerator", "cpu",
            "--num_workers", "0", "--batch_size", "3", *extra]
    return predict.predict(predict.parse_args(argv))


def _npy(out: Path, layout) -> np.ndarray:
    """The exported ``predictions/<subject>/<ROI>.npy`` side by side, ``(n_videos, n_voxels)``."""
    arrays = [np.load(out / "predictions" / g.subject / f"{g.roi}.npy") for g in layout.groups]
    return np.concatenate(arrays, axis=1)


@pytest.fixture(scope="module")
def single(trained, tmp_path_factory) -> Path:
    """The test set predicted by the seed-0 checkpoint, in this process, in batches of 3."""
    return _predict([trained[0][1]], tmp_path_factory.mktemp("single") / "out")


def _own_forward(model, release: Path, batches: list[list[int]]) -> np.ndarray:
    """The model called directly on the training run's clip cache, one call per batch of video
    rows, ``(n_rows, n_voxels)``. (Batches as predict.py forms them: float32 convolutions
    differ by ~1e-6 with the batch's composition.)"""
    clips = ClipCache(release.parent / "cache", list_videos(release), num_frames=4, size=32)
    assert clips.is_built
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(np.array(clips.array[rows]))).numpy()
                               for rows in batches])


# ----------------------------------------------------------------------------- the test set
def test_test_set_submission_npy_and_manifest(single, trained, release):
    model, ckpt = trained[0]
    layout = model.layout
    zip_path = single / "mini_track.zip"
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.namelist() == ["mini_track.pkl"]
    submission = validate_submission(zip_path, layout.voxel_counts, N_TEST)
    assert list(submission) == list(MINI_TRACK_ROIS)

    manifest = json.loads((single / "manifest.json").read_text())
    names = sorted(p.name for p in (release / VIDEO_DIR).glob("*.mp4"))
    assert len(names) == N_TRAIN + N_TEST and manifest["videos"] == names[N_TRAIN:]
    assert manifest["checkpoints"] == [str(ckpt.resolve())] and manifest["ensemble_size"] == 1
    assert manifest["submission"] == "mini_track.zip"

    batches = [[N_TRAIN, N_TRAIN + 1, N_TRAIN + 2], [N_TRAIN + 3]]  # --batch_size 3
    expected = layout.split(_own_forward(model, release, batches))
    for subject, rois in expected.items():
        for roi, rows in rois.items():
            npy = np.load(single / "predictions" / subject / f"{roi}.npy")
            truth = load_pickle(release / "synthetic_truth/mini_track" / subject / f"{roi}.pkl")
            assert npy.dtype == np.float32
            assert npy.shape == truth["clean"][N_TRAIN:].shape == rows.shape
            assert manifest["shapes"][f"{subject}/{roi}"] == list(npy.shape)
            np.testing.assert_allclose(npy, rows, rtol=1e-6, atol=1e-6)
            assert submission[roi][subject].dtype == np.float32
            np.testing.assert_array_equal(submission[roi][subject], npy)
    assert np.ptp(expected["sub01"]["LOC"], axis=0).max() > 0  # the rows are not all alike
    assert not (single / ".prediction_shards").exists()


def test_ensemble_is_the_mean_of_its_members(single, trained, tmp_path):
    (model_a, ckpt_a), (_, ckpt_b) = trained
    layout = model_a.layout
    _predict([ckpt_b], tmp_path / "b")
    _predict([ckpt_a, ckpt_b], tmp_path / "ab")
    a, b, ab = _npy(single, layout), _npy(tmp_path / "b", layout), _npy(tmp_path / "ab", layout)
    assert np.abs(a - b).max() > 1e-3  # two different models, so the mean is a real test
    np.testing.assert_allclose(ab, (a + b) / 2, rtol=1e-5, atol=1e-6)
    manifest = json.loads((tmp_path / "ab" / "manifest.json").read_text())
    assert manifest["ensemble_size"] == 2
    assert manifest["checkpoints"] == [str(ckpt_a.resolve()), str(ckpt_b.resolve())]
    submission = validate_submission(tmp_path / "ab/mini_track.zip", layout.voxel_counts, N_TEST)
    np.testing.assert_array_equal(submission["V1"]["sub02"],
                                  np.load(tmp_path / "ab/predictions/sub02/V1.npy"))


# ----------------------------------------------------------------------------- folders of clips
def _clip_folder(release: Path, folder: Path, n: int = 3) -> list[int]:
    """Copy the first ``n`` test clips under names whose sorted order reverses theirs; return
    the test rows in the order the folder's predictions should come out."""
    folder.mkdir(parents=True)
    for i, video in enumerate(list_videos(release)[N_TRAIN:N_TRAIN + n]):
        shutil.copy2(video, folder / f"{chr(ord('a') + n - 1 - i)}_{video.name}")
    return list(range(n))[::-1]


def test_videos_folder_gives_npy_and_manifest_without_zip(single, trained, release, tmp_path):
    layout = trained[0][0].layout
    order = _clip_folder(release, tmp_path / "clips")
    (tmp_path / "clips" / "notes.txt").write_text("not a video")
    out = _predict([trained[0][1]], tmp_path / "out", "--videos", str(tmp_path / "clips"))
    assert not list(out.glob("*.zip"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["videos"] == sorted(p.name for p in (tmp_path / "clips").glob("*.mp4"))
    assert manifest["videos"][0].startswith("a_") and "submission" not in manifest
    # The test set's clips, decoded into their own cache: the same rows, in name order (one
    # batch of 3 in another order: float32 sums may differ by ~1e-6).
    np.testing.assert_allclose(_npy(out, layout), _npy(single, layout)[order], rtol=1e-5, atol=1e-5)
    n_ffa = layout.voxel_counts["sub01"]["FFA"]
    assert np.load(out / "predictions/sub01/FFA.npy").shape == (3, n_ffa)


# ----------------------------------------------------------------------------- DDP
@pytest.mark.slow
@pytest.mark.parametrize("case", ["test_set", "videos"])
def test_ddp_two_processes_write_the_same_files(case, single, trained, release, tmp_path):
    """A real ``python predict.py`` on 2 CPU processes with a stale shard in the way.

    test_set: 4 videos in batches of 3 (each rank a short batch of 2), checked against the
    one-process export. videos: 3 clips one per batch, so rank 0 writes 2 shards and rank 1
    one, checked against the model's own per-clip forward."""
    model, ckpt = trained[0]
    layout = model.layout
    out = tmp_path / "out"
    if case == "test_set":
        extra, first, n_rows = ["--batch_size", "3"], N_TRAIN, N_TEST
        # Other batches than the single process's: float32 sums differ by ~2e-6 (|value| < 6).
        expected, tol = _npy(single, layout), 1e-5
    else:
        order = _clip_folder(release, tmp_path / "clips")
        extra = ["--batch_size", "1", "--videos", str(tmp_path / "clips")]
        first, n_rows = 0, len(order)
        expected, tol = _own_forward(model, release, [[N_TRAIN + i] for i in order]), 1e-6
    # A shard an earlier, interrupted run left: rank 0 must clear it before anyone writes.
    (out / ".prediction_shards").mkdir(parents=True)
    np.savez(out / ".prediction_shards/rank001_batch000099.npz",
             index=np.arange(first, first + n_rows),
             preds=np.full((n_rows, layout.n_voxels), 99.0, np.float32))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, str(REPO / "predict.py"), "--ckpt_path", str(ckpt),
                           "--output_dir", str(out), "--devices", "2", "--strategy", "ddp",
                           "--accelerator", "cpu", "--num_workers", "0", *extra],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in proc.stderr  # really two processes
    np.testing.assert_allclose(_npy(out, layout), expected, rtol=tol, atol=tol)
    manifest = json.loads((out / "manifest.json").read_text())
    assert not (out / ".prediction_shards").exists()
    if case == "test_set":
        assert f"submission: {out / 'mini_track.zip'}" in proc.stdout
        assert manifest == json.loads((single / "manifest.json").read_text())
        submission = validate_submission(out / "mini_track.zip", layout.voxel_counts, N_TEST)
        np.testing.assert_array_equal(submission["LOC"]["sub01"],
                                      np.load(out / "predictions/sub01/LOC.npy"))
    else:
        assert not list(out.glob("*.zip"))
        assert manifest["videos"] == sorted(p.name for p in (tmp_path / "clips").glob("*.mp4"))


# ----------------------------------------------------------------------------- bad input
def test_checkpoint_and_data_with_other_voxels_are_refused(trained, release, tmp_path):
    other = tmp_path / "other"
    generate_dataset(other, replace(TINY_CONFIG, voxel_scale=0.04, seed=7), progress=False)
    with pytest.raises(SystemExit, match="voxels .* do not match the data in"):
        _predict([trained[0][1]], tmp_path / "out", "--data.root", str(other))

    # The same release with a subject's fMRI gone.
    fewer = tmp_path / "fewer"
    (fewer / FMRI_DIR / "mini_track").mkdir(parents=True)
    (fewer / VIDEO_DIR).symlink_to(release / VIDEO_DIR)
    shutil.copytree(release / FMRI_DIR / "mini_track/sub01", fewer / FMRI_DIR / "mini_track/sub01")
    with pytest.raises(DataLayoutError, match=r"subjects \['sub02'\] not found"):
        _predict([trained[0][1]], tmp_path / "out", "--data.root", str(fewer))
    assert not (tmp_path / "out").exists()


def test_ensemble_of_different_layouts_is_refused(trained, tmp_path):
    checkpoint = read_checkpoint(trained[0][1])
    hparams = {k: v for k, v in checkpoint["hyper_parameters"].items() if not k.startswith("_")}
    hparams["voxel_counts"] = {"sub01": hparams["voxel_counts"]["sub01"]}
    torch.save({"hyper_parameters": hparams, "state_dict": EncodingModel(**hparams).state_dict(),
                "datamodule_hyper_parameters": checkpoint["datamodule_hyper_parameters"]},
               tmp_path / "sub01.ckpt")
    with pytest.raises(SystemExit, match="an ensemble needs the same subjects, regions and voxels"):
        _predict([trained[0][1], tmp_path / "sub01.ckpt"], tmp_path / "out")


def test_missing_or_broken_checkpoint_and_empty_video_folder(trained, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ckpt: checkpoint not found"):
        _predict([tmp_path / "nope.ckpt"], tmp_path / "out")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.ckpt: not a loadable checkpoint"):
        _predict([tmp_path / "junk.ckpt"], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "clip.avi").write_bytes(b"")
    with pytest.raises(DataLayoutError, match="no .mp4 files found"):
        _predict([trained[0][1]], tmp_path / "out", "--videos", str(tmp_path / "empty"))
    with pytest.raises(DataLayoutError, match="video folder not found"):
        _predict([trained[0][1]], tmp_path / "out", "--videos", str(tmp_path / "absent"))
    assert not (tmp_path / "out").exists()


def test_existing_submission_is_kept_unless_overwrite(single, trained, release, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(single, out)  # a complete test-set export
    before = {name: (out / name).read_bytes() for name in ("mini_track.zip", "manifest.json")}
    with pytest.raises(SystemExit, match="already holds predictions .*pass --overwrite"):
        _predict([trained[1][1]], out)
    assert {name: (out / name).read_bytes() for name in before} == before

    # Overwritten by a folder's predictions: the earlier test-set zip must go with the rest.
    order = _clip_folder(release, tmp_path / "clips")
    _predict([trained[1][1]], out, "--overwrite", "--videos", str(tmp_path / "clips"))
    assert not list(out.glob("*.zip"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["checkpoints"] == [str(trained[1][1].resolve())]
    assert len(manifest["videos"]) == len(order)
    assert np.load(out / "predictions/sub01/V1.npy").shape[0] == len(order)


def test_failure_part_way_leaves_no_submission(trained, tmp_path, monkeypatch):
    calls = []
    forward = EncodingModel.forward

    def failing_forward(self, video):
        calls.append(len(video))
        if len(calls) > 1:
            raise RuntimeError("simulated failure in the second batch")
        return forward(self, video)

    monkeypatch.setattr(EncodingModel, "forward", failing_forward)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated failure in the second batch"):
        _predict([trained[0][1]], out)
    assert calls == [3, 1]  # the first batch was predicted (its shard written) before the failure
    assert not list(out.glob("*.zip")) and not (out / "manifest.json").exists()
    assert not (out / "predictions").exists() and not (out / ".prediction_shards").exists()

    # Nothing was left that would block the next run (no --overwrite needed).
    monkeypatch.setattr(EncodingModel, "forward", forward)
    _predict([trained[0][1]], out)
    assert (out / "mini_track.zip").is_file()


def _export_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out).parts)}


def test_failed_overwrite_keeps_the_previous_export_intact(single, trained, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(single, out)  # an earlier complete export, being overwritten
    before = _export_files(out)

    def reject(*args, **kwargs):
        raise SubmissionError("simulated rejection")

    monkeypatch.setattr(predict, "validate_submission", reject)
    with pytest.raises(SubmissionError, match="simulated rejection"):
        _predict([trained[1][1]], out, "--overwrite")
    assert _export_files(out) == before  # zip, manifest and .npy files of the previous export, byte for byte
    assert not [p.name for p in out.iterdir() if p.name.startswith(".export")]  # no staging left behind


def test_fresh_failed_validation_leaves_no_zip_and_no_manifest(trained, tmp_path, monkeypatch):
    monkeypatch.setattr(predict, "validate_submission", lambda *a, **k: (_ for _ in ()).throw(
        SubmissionError("simulated rejection")))
    out = tmp_path / "out"
    with pytest.raises(SubmissionError):
        _predict([trained[1][1]], out)
    assert not list(out.glob("*.zip")) and not (out / "manifest.json").exists()
    assert not (out / "predictions").exists()


def _with_data_settings(ckpt: Path, dest: Path, **settings) -> Path:
    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=False)
    checkpoint["datamodule_hyper_parameters"].update(settings)
    torch.save(checkpoint, dest)
    return dest


def test_paths_stored_in_a_checkpoint_do_not_choose_where_files_are_written(trained, release, tmp_path):
    elsewhere = tmp_path / "home" / ".config" / "autostart"  # someone else's checkpoint names this
    ckpt = _with_data_settings(trained[0][1], tmp_path / "foreign.ckpt", cache_dir=str(elsewhere))
    out = _predict([ckpt], tmp_path / "out")
    assert not (tmp_path / "home").exists()
    assert ClipCache(out / ".clip_cache", list_videos(release), num_frames=4, size=32).is_built
    assert (out / "mini_track.zip").is_file()


def test_symlinked_predictions_folder_is_replaced_as_a_link_not_followed(single, trained, tmp_path):
    out, target = tmp_path / "out", tmp_path / "kept_elsewhere"
    shutil.copytree(single, out)
    shutil.move(out / "predictions", target)
    (out / "predictions").symlink_to(target)
    before = _export_files(target)
    _predict([trained[1][1]], out, "--overwrite")
    assert not (out / "predictions").is_symlink() and (out / "predictions/sub01/V1.npy").is_file()
    assert _export_files(target) == before  # the link's target was not touched


@pytest.mark.slow
def test_read_only_output_folder_is_one_error_line(trained, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(ro)]).returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here (needs root)")
    try:
        result = subprocess.run([sys.executable, "predict.py", "--ckpt_path", str(trained[0][1]), "--output_dir",
                                 str(ro / "out"), "--accelerator", "cpu", "--num_workers", "0"], cwd=REPO,
                                capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run(["umount", "-l", str(ro)])
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"error: {ro / 'out'}: cannot write the predictions there (Read-only file system); choose another --output_dir"]


@pytest.mark.parametrize("fault", ["missing_train_clip", "stray_first", "apple_double"])
def test_misnumbered_release_gets_no_checked_submission(trained, release, tmp_path, fault):
    root = tmp_path / "release"
    shutil.copytree(release, root, ignore=shutil.ignore_patterns(".clip_cache"))
    videos = sorted((root / VIDEO_DIR).glob("*.mp4"))
    if fault == "missing_train_clip":
        videos[4].unlink()
        expected = "clip 0005_ is missing"
    elif fault == "stray_first":
        shutil.copy(videos[0], root / VIDEO_DIR / "0000_stray.mp4")
        expected = "0000_stray.mp4: clip numbers start at 0001"
    else:
        shutil.copy(videos[0], root / VIDEO_DIR / f"._{videos[0].name}")
        expected = "a macOS metadata file, not a video"
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match=expected):
        predict.main(["--ckpt_path", str(trained[0][1]), "--output_dir", str(out), "--data.root", str(root),
                      "--accelerator", "cpu", "--num_workers", "0"])
    assert not list(out.glob("*.zip")) and not (out / "manifest.json").exists()


@pytest.mark.slow
def test_cli_bad_input_is_one_error_line_not_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "predict.py", "--ckpt_path", str(tmp_path / "missing.ckpt"),
                             "--output_dir", str(tmp_path / "out")], cwd=Path(__file__).resolve().parents[1],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.ckpt'}: checkpoint not found"]


def test_read_only_data_root_without_a_cache_names_cache_dir(trained, release, tmp_path):
    # (The training's cache would otherwise be found and read: the copied clips keep their fingerprints.)
    ckpt = _with_data_settings(trained[0][1], tmp_path / "no_cache.ckpt", cache_dir=str(tmp_path / "none"))
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(ro)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        shutil.copytree(release, ro / "release", ignore=shutil.ignore_patterns(".clip_cache"))
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        with pytest.raises(SystemExit, match=r"^error: .*release/.clip_cache: cannot write the clip cache here "
                                             r"\(Read-only file system\); set data.cache_dir \(train.py\) or "
                                             r"--cache_dir \(predict.py\)"):
            predict.main(["--ckpt_path", str(ckpt), "--output_dir", str(tmp_path / "out"), "--data.root",
                          str(ro / "release"), "--accelerator", "cpu", "--num_workers", "0"])
    finally:
        subprocess.run(["umount", "-l", str(ro)])
