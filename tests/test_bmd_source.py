"""The BOLD Moments source (``data.source: bmd``) on the simulator's BMD layout: detection,
selection by the challenge's, BMD's and whole-file names, whole brain, clips, and (slow) a tiny
training whose ``predict.py --score`` is checked against a score computed here with numpy/scipy."""

import dataclasses
import json
import pickle
import shutil

import numpy as np
import pytest
import scipy.stats

import predict
from datamodules import bmd_files
from datamodules.algonauts import AlgonautsDataModule
from datamodules.bmd_regions import CHALLENGE_REGIONS
from datamodules.sources.base import DataLayoutError, MissingRegionError, Selection
from datamodules.sources.bmd import BMDSource
from datamodules.sources.registry import detect_source
from simulator import TINY_CONFIG, generate_dataset
from tests.helpers import fit_tiny

CONFIG = dataclasses.replace(TINY_CONFIG, n_train=12, n_test=6, voxel_scale=0.1, layout="bmd")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("bmd_source") / "release", CONFIG, progress=False)


def _raw(root, subject, file):
    with open(bmd_files.roi_path(root, subject, file), "rb") as f:
        return pickle.load(f)


def test_detected_from_the_root_and_reads_the_nine_regions_with_test_responses(root):
    assert detect_source(root) is BMDSource
    release = BMDSource(root).read(Selection())
    assert release.source == "bmd" and release.n_train == CONFIG.n_train and release.n_test == CONFIG.n_test
    assert list(release.recordings) == ["sub-01", "sub-02"]
    assert list(release.recordings["sub-01"]) == list(CHALLENGE_REGIONS)
    assert [p.name for p in release.video_paths] == [f"{i:04d}.mp4" for i in range(1, CONFIG.n_videos + 1)]
    # V1 = lV1v, lV1d, rV1v, rV1d side by side, NaN repetitions kept, float32.
    v1 = release.recordings["sub-01"]["V1"]
    parts = [_raw(root, "sub-01", f) for f in ("lV1v", "lV1d", "rV1v", "rV1d")]
    expected = np.concatenate([p["test_data_allvoxel"] for p in parts], axis=2).astype(np.float32)
    np.testing.assert_array_equal(v1.test, expected)
    assert v1.train.dtype == np.float32 and np.isnan(release.stacked_train()).any()
    blocks = release.column_blocks["sub-01/V1"]
    assert [b["file"] for b in blocks] == ["lV1v", "lV1d", "rV1v", "rV1d"]
    assert blocks[-1]["stop"] == v1.train.shape[2]


def test_bmd_names_one_hemisphere_and_bmdgeneral_are_selectable(root):
    release = BMDSource(root).read(Selection(rois=("EBA", "lEBA", "BMDgeneral"), subjects=("sub-02",)))
    eba, left, general = (release.recordings["sub-02"][r] for r in ("EBA", "lEBA", "BMDgeneral"))
    np.testing.assert_array_equal(left.train, _raw(root, "sub-02", "lEBA")["train_data_allvoxel"].astype(np.float32))
    assert eba.train.shape[2] == left.train.shape[2] + _raw(root, "sub-02", "rEBA")["train_data_allvoxel"].shape[2]
    assert general.train.shape[2] == _raw(root, "sub-02", "BMDgeneral")["train_data_allvoxel"].shape[2]
    with pytest.raises(DataLayoutError, match="unknown BMD region 'V7'.*V1, V2"):
        BMDSource(root).read(Selection(rois=("V7",)))


def test_full_track_reads_the_whole_brain_files_and_their_masks(root):
    release = BMDSource(root).read(Selection(track="full", subjects=("sub-01",)))
    wb = release.recordings["sub-01"]["WB"]
    raw = bmd_files.read_whole_brain(root, "sub-01", "test", n_train=CONFIG.n_train)
    np.testing.assert_array_equal(wb.test, raw.betas.astype(np.float32))
    assert wb.voxel_mask.sum() == wb.train.shape[2] and release.voxel_masks["sub-01"].shape == raw.mask.shape
    with pytest.raises(DataLayoutError, match="full track is the whole brain"):
        BMDSource(root).read(Selection(track="full", rois=("V1",)))


def test_clips_from_another_folder_and_misnumbered_clips(root, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for i, clip in enumerate(sorted((root / bmd_files.VIDEO_DIR).iterdir()), start=1):
        shutil.copy(clip, videos / f"{i:04d}_clip{i}.mp4")  # the 2021 folder's naming
    release = BMDSource(root).read(Selection(video_dir=str(videos)))
    assert release.video_paths[0].name == "0001_clip1.mp4" and len(release.video_paths) == CONFIG.n_videos
    (videos / "0003_clip3.mp4").unlink()
    with pytest.raises(DataLayoutError, match="clip 0003 is missing"):
        BMDSource(root).read(Selection(video_dir=str(videos)))
    (videos / "notes.txt").write_text("x")
    with pytest.raises(DataLayoutError, match="notes.txt: not a numbered clip"):
        BMDSource(root).read(Selection(video_dir=str(videos)))


def test_fewer_clips_than_responses_is_refused_naming_the_file(root, tmp_path):
    videos = tmp_path / "videos"
    shutil.copytree(root / bmd_files.VIDEO_DIR, videos)
    (videos / f"{CONFIG.n_videos:04d}.mp4").unlink()
    with pytest.raises(DataLayoutError, match=f"{CONFIG.n_test} test rows, but the stimulus folder has "
                                              f"{CONFIG.n_test - 1} test stimuli"):
        BMDSource(root).read(Selection(video_dir=str(videos)))


def test_a_missing_region_file_follows_missing_rois(root, tmp_path):
    copy = tmp_path / "release"
    shutil.copytree(root / "derivatives" / "versionB", copy / "derivatives" / "versionB")
    (copy / bmd_files.VIDEO_DIR).parent.mkdir(parents=True)
    (copy / bmd_files.VIDEO_DIR).symlink_to(root / bmd_files.VIDEO_DIR)
    for f in ("lEBA", "rEBA"):
        bmd_files.roi_path(copy, "sub-02", f).unlink()
    with pytest.raises(MissingRegionError, match="sub-02_roi-lEBA.*sub-02 has no EBA"):
        BMDSource(copy).read(Selection(rois=("V1", "EBA")))
    release = BMDSource(copy).read(Selection(rois=("V1", "EBA"), missing_rois="skip"))
    assert list(release.recordings["sub-02"]) == ["V1"] and list(release.recordings["sub-01"]) == ["V1", "EBA"]


def test_data_module_reads_bmd_with_source_and_region_settings(root):
    data = AlgonautsDataModule(root=str(root), source="bmd", rois=["V4", "BMDgeneral"], subjects=["sub-01"])
    assert data.release.source == "bmd"
    assert list(data.voxel_counts["sub-01"]) == ["V4", "BMDgeneral"]
    # Targets are the means of the repetitions present (NaN skipped), never NaN for a missing one.
    responses = data.responses
    one_missing = np.isnan(responses).any(axis=1) & ~np.isnan(responses).all(axis=1)
    assert one_missing.any()
    assert not np.isnan(data.mean_responses[one_missing]).any()
    np.testing.assert_allclose(data.mean_responses, np.nanmean(responses.astype(np.float64), axis=1), atol=1e-5)


def test_help_says_how_region_names_map_to_files(capsys):
    import train

    with pytest.raises(SystemExit):
        train.main(["fit", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "V1 = lV1v+lV1d+rV1v+rV1d" in out and "BMDgeneral" in out and "--data.video_dir" in out


# ----------------------------------------------------------------------------------- a real test score
def _independent_ceiling(responses: np.ndarray) -> np.ndarray:
    """Per voxel, by loops: the variance ceiling of the mean of the repetitions present."""
    n_videos, _, n_voxels = responses.shape
    out = np.zeros(n_voxels)
    for v in range(n_voxels):
        rows = [responses[i, :, v][~np.isnan(responses[i, :, v])] for i in range(n_videos)]
        rows = [r for r in rows if r.size]
        k = np.array([r.size for r in rows], float)
        sigma2 = sum(((r - r.mean()) ** 2).sum() for r in rows) / (k - 1).sum()
        means = np.array([r.mean() for r in rows])
        n = len(rows)
        out[v] = 1 - sigma2 * np.mean(1 / k) / np.var(means, ddof=1) * (n - 3) / (n - 1)
    return out


@pytest.mark.slow
def test_trained_on_bmd_predict_score_matches_an_independent_score(root, tmp_path, capsys):
    rois = ["V1", "EBA", "BMDgeneral"]
    cli = fit_tiny(root, tmp_path, "--trainer.max_epochs", "1", "--data.n_val", "4",
                   "--data.rois", json.dumps(rois))
    run = cli.trainer.log_dir
    out = tmp_path / "out"
    capsys.readouterr()
    predict.main(["--ckpt_path", run, "--data.root", str(root), "--output_dir", str(out), "--score",
                  "--num_workers", "0"])
    printed = capsys.readouterr().out
    scores = json.loads((out / "test_scores.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"] == "bmd" and not list(out.glob("*_track.zip"))
    assert f"test score {scores['overall']['score']:.3f} (mean r {scores['overall']['r']:.3f}) over 6 test videos" \
        in printed
    groups = {}
    for subject in ("sub-01", "sub-02"):
        for roi in rois:
            pred = np.load(out / "predictions" / subject / f"{roi}.npy")
            # The test responses from the written files, merged in the manifest's column order.
            resp = np.concatenate([_raw(root, subject, b["file"])["test_data_allvoxel"]
                                   for b in manifest["columns"][f"{subject}/{roi}"]], axis=2)
            assert pred.shape == (CONFIG.n_test, resp.shape[2])
            target = np.nanmean(resp, axis=1)
            r = np.array([scipy.stats.pearsonr(pred[:, v], target[:, v])[0] for v in range(resp.shape[2])])
            ceiling = _independent_ceiling(resp)
            ok = ceiling > 0
            groups[(subject, roi)] = (np.mean(r[ok] / np.sqrt(ceiling[ok])), np.mean(r))
    for (subject, roi), (score, r) in groups.items():
        assert scores["groups"][f"{subject}/{roi}"]["score"] == pytest.approx(score, abs=1e-5)
        assert scores["groups"][f"{subject}/{roi}"]["r"] == pytest.approx(r, abs=1e-5)
    assert scores["overall"]["score"] == pytest.approx(np.mean([s for s, _ in groups.values()]), abs=1e-5)
    assert scores["rois"]["EBA"]["r"] == pytest.approx(np.mean([groups[(s, "EBA")][1] for s in
                                                                 ("sub-01", "sub-02")]), abs=1e-5)


def test_score_on_the_2021_files_says_in_one_line_that_there_are_no_test_responses(tiny_root, tmp_path):
    from datamodules.sources.algonauts2021 import Algonauts2021Source
    from export.predict_run import PredictionRequest, Stimuli, _test_scores

    release = Algonauts2021Source(tiny_root).read(Selection())
    stimuli = Stimuli(clips=None, first=release.n_train, n_train=release.n_train, test_set=True, release=release)
    request = PredictionRequest(checkpoints=(), output_dir=tmp_path, score=True)
    files, line = _test_scores(request, stimuli, None, None)
    assert files == {} and line.startswith("no test score:") and "\n" not in line
    assert f"its {release.n_test} test videos" in line
    files, line = _test_scores(dataclasses.replace(request, score=False), stimuli, None, None)
    assert files == {} and line is None


def test_whole_brain_files_are_cached_once_as_float32_memmaps(root, tmp_path, monkeypatch):
    import os

    from datamodules import response_cache

    copy = tmp_path / "release"
    shutil.copytree(root / "derivatives" / "versionB", copy / "derivatives" / "versionB")
    (copy / bmd_files.VIDEO_DIR).parent.mkdir(parents=True)
    (copy / bmd_files.VIDEO_DIR).symlink_to(root / bmd_files.VIDEO_DIR)
    first = BMDSource(copy).read(Selection(track="full", subjects=("sub-01",)))
    raw = bmd_files.read_whole_brain(copy, "sub-01", "train")
    cached = copy / response_cache.CACHE_DIR / "sub-01_task-train.f32.npy"
    assert cached.is_file() and np.load(cached, mmap_mode="r").dtype == np.float32
    np.testing.assert_array_equal(first.recordings["sub-01"]["WB"].train, raw.betas.astype(np.float32))

    def no_unpickling(*args, **kwargs):
        raise AssertionError("a cached file was unpickled again")

    monkeypatch.setattr(bmd_files, "load_pickle", no_unpickling)
    again = BMDSource(copy).read(Selection(track="full", subjects=("sub-01",)))
    wb = again.recordings["sub-01"]["WB"]
    assert isinstance(wb.train, np.memmap) and isinstance(wb.test, np.memmap)
    np.testing.assert_array_equal(wb.train, first.recordings["sub-01"]["WB"].train)
    np.testing.assert_array_equal(again.voxel_masks["sub-01"], raw.mask)
    # A changed source file is converted again.
    source = bmd_files.whole_brain_path(copy, "sub-01", "train")
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="unpickled again"):
        BMDSource(copy).read(Selection(track="full", subjects=("sub-01",)))
