"""The synthetic release: exact layout, decodable clips, determinism, true noise ceilings."""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scoring.layout import MINI_TRACK_ROIS
from scoring.noise_ceiling import noise_ceiling
from simulator import TINY_CONFIG, SyntheticConfig, generate_dataset, writer
from simulator.brain import add_noise, noise_sd_for_ceiling, standardise, true_ceiling
from simulator.generate import plan_timing

VIDEOS = "AlgonautsVideos268_All_30fpsmax"
FMRI = "participants_data_v2021"
TRUTH = "synthetic_truth"
REPO = Path(__file__).resolve().parents[1]
# Smaller than TINY, for tests that only need a dataset to exist.
MICRO = dataclasses.replace(TINY_CONFIG, n_train=3, n_test=1, n_subjects=1, size=32)


def load(path: Path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "tiny"
    return generate_dataset(out, TINY_CONFIG, progress=False)


@pytest.fixture(scope="module")
def meta(tiny) -> dict:
    return json.loads((tiny / TRUTH / "meta.json").read_text())


def test_videos_are_numbered_sorted_and_split(tiny, meta):
    names = sorted(p.name for p in (tiny / VIDEOS).iterdir())
    cfg = TINY_CONFIG
    assert len(names) == cfg.n_train + cfg.n_test
    assert all(n.endswith(".mp4") for n in names)
    assert [n[:5] for n in names] == [f"{i + 1:04d}_" for i in range(len(names))]
    assert [v["name"] for v in meta["videos"]] == names
    assert [v["split"] for v in meta["videos"]] == ["train"] * cfg.n_train + ["test"] * cfg.n_test


def test_videos_decode_with_mixed_frame_rates(tiny, meta):
    decord = pytest.importorskip("decord")
    rates = set()
    for video in meta["videos"]:
        reader = decord.VideoReader(str(tiny / VIDEOS / video["name"]))
        assert 45 <= len(reader) <= 91
        assert len(reader) == video["n_frames"]
        assert reader[0].shape == (TINY_CONFIG.size, TINY_CONFIG.size, 3)
        assert reader.get_avg_fps() == pytest.approx(video["fps"], rel=0.01)
        assert 2.9 <= len(reader) / video["fps"] <= 3.1
        rates.add(video["fps"])
    assert 30.0 in rates and 25.0 in rates and rates & {15.0, 20.0}


def test_mini_track_pickles(tiny, meta):
    cfg = TINY_CONFIG
    subjects = sorted(p.name for p in (tiny / FMRI / "mini_track").iterdir())
    assert subjects == ["sub01", "sub02"]
    for subject in subjects:
        assert sorted(p.name for p in (tiny / FMRI / "mini_track" / subject).iterdir()) == sorted(
            f"{roi}.pkl" for roi in MINI_TRACK_ROIS)
        for roi in MINI_TRACK_ROIS:
            data = load(tiny / FMRI / "mini_track" / subject / f"{roi}.pkl")
            assert isinstance(data, dict) and list(data) == ["train"]
            n_voxels = meta["voxel_counts"][subject][roi]
            assert n_voxels >= cfg.min_voxels
            assert data["train"].dtype == np.float32
            assert data["train"].shape == (cfg.n_train, 3, n_voxels)
            assert np.isfinite(data["train"]).all()


def test_voxel_counts_differ_between_subjects(meta):
    a, b = meta["voxel_counts"]["sub01"], meta["voxel_counts"]["sub02"]
    assert a != b
    assert all(a[roi] < a["LOC"] for roi in MINI_TRACK_ROIS if roi != "LOC")


def test_whole_brain_is_the_regions_plus_extra_voxels(tiny, meta):
    cfg = TINY_CONFIG
    for subject in ("sub01", "sub02"):
        wb = load(tiny / FMRI / "full_track" / subject / "WB.pkl")
        n_wb = meta["voxel_counts"][subject]["WB"]
        assert sorted(wb) == ["train", "voxel_mask"]
        assert wb["train"].dtype == np.float32 and wb["train"].shape == (cfg.n_train, 3, n_wb)
        assert wb["voxel_mask"].dtype == bool and wb["voxel_mask"].shape == cfg.wb_volume_shape
        assert int(wb["voxel_mask"].sum()) == n_wb
        truth = load(tiny / TRUTH / "full_track" / subject / "WB.pkl")
        roi_of, ceiling = truth["roi"], truth["noise_ceiling"]
        assert roi_of.shape == (n_wb,) and (roi_of == -1).sum() > 0
        # Outside the regions: some voxels weakly driven, some pure noise (ceiling exactly 0).
        assert (ceiling[roi_of == -1] == 0).any() and (ceiling[roi_of == -1] > 0).any()
        assert (ceiling[roi_of >= 0] > 0).all()
        for r, roi in enumerate(MINI_TRACK_ROIS):
            region = load(tiny / FMRI / "mini_track" / subject / f"{roi}.pkl")["train"]
            np.testing.assert_array_equal(wb["train"][..., roi_of == r], region)


def test_regions_are_spatial_blobs(tiny):
    from scipy import ndimage

    wb = load(tiny / FMRI / "full_track" / "sub01" / "WB.pkl")
    roi_of = load(tiny / TRUTH / "full_track" / "sub01" / "WB.pkl")["roi"]
    volume = np.full(wb["voxel_mask"].shape, -2)
    volume[wb["voxel_mask"]] = roi_of  # columns follow the mask's C order
    for r, roi in enumerate(MINI_TRACK_ROIS):
        _, n_pieces = ndimage.label(volume == r, structure=np.ones((3, 3, 3)))
        assert n_pieces <= 4, f"{roi} is scattered over {n_pieces} pieces"  # two hemispheres


def test_truth_pickles(tiny, meta):
    cfg = TINY_CONFIG
    for track, rois in (("mini_track", MINI_TRACK_ROIS), ("full_track", ("WB",))):
        for subject in ("sub01", "sub02"):
            for roi in rois:
                truth = load(tiny / TRUTH / track / subject / f"{roi}.pkl")
                n = meta["voxel_counts"][subject][roi]
                assert truth["clean"].shape == (cfg.n_videos, n)
                assert truth["test"].shape == (cfg.n_test, cfg.n_test_repetitions, n)
                assert truth["noise_ceiling"].shape == truth["noise_sd"].shape == (n,)
                for key in ("clean", "test", "noise_ceiling", "noise_sd"):
                    assert truth[key].dtype == np.float32
                assert ((truth["noise_ceiling"] >= 0) & (truth["noise_ceiling"] < 1)).all()
                # The stated ceiling is the definition applied to the stated signal and noise.
                np.testing.assert_allclose(
                    truth["noise_ceiling"], true_ceiling(truth["clean"], truth["noise_sd"], 3),
                    atol=1e-4)
    assert set(meta["regions"]) == set(MINI_TRACK_ROIS)
    assert all(isinstance(s, str) and s for s in meta["regions"].values())


def test_written_noise_has_the_stated_size(tiny):
    """Residuals of the train and test repetitions around the clean signal match noise_sd."""
    cfg = TINY_CONFIG
    truth = load(tiny / TRUTH / "full_track" / "sub01" / "WB.pkl")
    train = load(tiny / FMRI / "full_track" / "sub01" / "WB.pkl")["train"]
    residuals = np.concatenate([
        (train - truth["clean"][: cfg.n_train, None]).reshape(-1, train.shape[2]),
        (truth["test"] - truth["clean"][cfg.n_train :, None]).reshape(-1, train.shape[2]),
    ])
    ratio = np.sqrt((residuals.astype(np.float64) ** 2).mean(0)) / truth["noise_sd"]
    assert ratio.mean() == pytest.approx(1.0, abs=0.03)


def test_noise_ceilings_spread_like_real_data(tiny):
    ceilings = np.concatenate([
        load(tiny / TRUTH / "mini_track" / s / f"{roi}.pkl")["noise_ceiling"]
        for s in ("sub01", "sub02") for roi in MINI_TRACK_ROIS])
    assert ceilings.min() >= 0.1 and ceilings.max() <= 0.8
    assert np.ptp(ceilings) > 0.4


def test_stated_ceiling_matches_empirical_estimates():
    """corr^2(clean, mean of 3 repetitions) and the split-half estimate recover the ceiling."""
    rng = np.random.default_rng(0)
    target = np.linspace(0.1, 0.8, 15)
    clean = standardise(rng.standard_normal((20_000, target.size)))
    sd = noise_sd_for_ceiling(target, 3)
    np.testing.assert_allclose(true_ceiling(clean, sd, 3), target, rtol=1e-6)
    reps = add_noise(rng, clean, sd, 3)
    corr = [np.corrcoef(clean[:, v], reps[:, :, v].mean(1))[0, 1] for v in range(target.size)]
    np.testing.assert_allclose(np.square(corr), target, atol=0.015)
    np.testing.assert_allclose(noise_ceiling(reps), target, atol=0.03)


def test_regions_respond_to_what_meta_says(tiny):
    features = np.load(tiny / TRUTH / "features.npz")
    for roi, feature in (("FFA", "face_area"), ("EBA", "body_area"), ("PPA", "place")):
        clean = load(tiny / TRUTH / "mini_track" / "sub01" / f"{roi}.pkl")["clean"]
        r = [np.corrcoef(clean[:, v], features[feature])[0, 1] for v in range(clean.shape[1])]
        assert np.mean(r) > 0.5, (roi, feature, r)


def test_release_reader_accepts_it(tiny):
    from datamodules.release import load_release

    for track in ("mini", "full"):
        release = load_release(tiny, track)
        assert release.n_train == TINY_CONFIG.n_train and release.n_test == TINY_CONFIG.n_test
        assert sorted(release.recordings) == ["sub01", "sub02"]


def test_same_seed_same_data(tiny, tmp_path):
    again = generate_dataset(tmp_path / "again", TINY_CONFIG, progress=False)
    files = sorted(p.relative_to(tiny) for p in tiny.rglob("*.pkl"))
    assert files == sorted(p.relative_to(again) for p in again.rglob("*.pkl"))
    for rel in files:
        a, b = load(tiny / rel), load(again / rel)
        assert list(a) == list(b)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{rel}:{key}")
    assert sorted(p.name for p in (tiny / VIDEOS).iterdir()) == sorted(
        p.name for p in (again / VIDEOS).iterdir())


def test_other_seed_other_data(tmp_path):
    a = generate_dataset(tmp_path / "a", MICRO, progress=False)
    b = generate_dataset(tmp_path / "b", dataclasses.replace(MICRO, seed=1), progress=False)
    va, vb = (load(d / FMRI / "mini_track" / "sub01" / "V1.pkl")["train"] for d in (a, b))
    assert va.shape != vb.shape or not np.array_equal(va, vb)


def test_refuses_a_non_empty_folder(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "something.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        generate_dataset(out, MICRO, progress=False)
    assert [p.name for p in out.iterdir()] == ["something.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_accepts_an_empty_folder(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert generate_dataset(out, MICRO, progress=False) == out
    assert (out / TRUTH / "meta.json").is_file()


def test_a_crash_leaves_nothing_behind(tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer, "write_meta", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_dataset(tmp_path / "out", MICRO, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_timing_plan_mixes_frame_rates_within_release_limits():
    fps, n_frames = plan_timing(dataclasses.replace(TINY_CONFIG, n_train=1000, n_test=102))
    values, counts = np.unique(fps, return_counts=True)
    assert set(values) == {15.0, 20.0, 25.0, 30.0}
    assert values[counts.argmax()] == 30.0
    assert n_frames.min() >= 45 and n_frames.max() <= 91
    assert (n_frames / fps).min() > 2.9 and (n_frames / fps).max() < 3.1
    # Even a handful of clips mixes frame rates.
    assert len(set(plan_timing(MICRO)[0])) > 1


@pytest.mark.parametrize("bad", [{"size": 63}, {"n_train": 2}, {"n_subjects": 0},
                                 {"wb_volume_shape": (4, 4, 4)}])
def test_config_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        dataclasses.replace(SyntheticConfig(), **bad)


@pytest.mark.slow
def test_cli(tmp_path):
    out = tmp_path / "cli"
    run = [sys.executable, "-m", "simulator", "--preset", "tiny", "--out", str(out)]
    done = subprocess.run(run, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(list((out / VIDEOS).glob("*.mp4"))) == TINY_CONFIG.n_videos
    assert (out / FMRI / "full_track" / "sub02" / "WB.pkl").is_file()
    again = subprocess.run(run, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "not empty" in again.stderr
