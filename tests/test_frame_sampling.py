"""Consecutive frames at a fixed rate (data.frame_sampling: consecutive), on real mp4s written with PyAV:
the decoded frames are the asked ones, centred, a short clip repeats its last frame, and the clip
cache is keyed by the sampling."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pytest

import datamodules.video as video
from datamodules.algonauts import AlgonautsDataModule
from datamodules.clip_cache import ClipCache
from datamodules.clip_cache_manifest import FORMAT_VERSION
from datamodules.clip_settings import ClipSettings
from datamodules.frame_sampling import SPREAD, FrameSampling
from datamodules.mp4_writer import write_mp4
from datamodules.settings_checks import DataSettingsError
from datamodules.video import read_clip

BACKENDS = ["pyav"] + (["decord"] if importlib.util.find_spec("decord") else [])
AT_15 = FrameSampling("consecutive", 15)


def ramp_video(path: Path, n_frames: int, fps: float) -> Path:
    """A 32x32 mp4 whose frame t is a flat grey of level 10 + 3 t (each frame told apart by its level)."""
    levels = (10 + 3 * np.arange(n_frames)).astype(np.uint8)
    write_mp4(path, np.broadcast_to(levels[:, None, None, None], (n_frames, 32, 32, 3)).copy(), fps)
    return path


def decoded_indices(path: Path, sampling: FrameSampling, num_frames: int, backend: str) -> np.ndarray:
    """Which frames of the clip ``read_clip`` returned: each matched to the nearest of all its frames."""
    n = int(path.stem.split("_")[1])  # the frame count is in the name
    every = read_clip(path, n, 16, backend).astype(np.float32)  # spread with num_frames == n: every frame
    got = read_clip(path, num_frames, 16, backend, sampling=sampling).astype(np.float32)
    distance = ((got[:, None] - every[None]) ** 2).mean(axis=(2, 3, 4))
    return distance.argmin(axis=1)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ramps")
    return {"30fps": ramp_video(folder / "a_60_30fps.mp4", 60, 30),
            "25fps": ramp_video(folder / "b_75_25fps.mp4", 75, 25),
            "short": ramp_video(folder / "c_20_30fps.mp4", 20, 30)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_consecutive_frames_at_the_asked_rate_centred(clips, backend):
    idx = decoded_indices(clips["30fps"], AT_15, 16, backend)
    np.testing.assert_array_equal(np.diff(idx), 2)  # 15 Hz from 30 fps: every second frame
    assert (idx[0] + idx[-1]) / 2 == pytest.approx(59 / 2, abs=0.5)  # centred in the 60-frame clip
    np.testing.assert_array_equal(idx, AT_15.indices(60, 30.0, 16))
    every = decoded_indices(clips["30fps"], FrameSampling("consecutive", None), 8, backend)
    np.testing.assert_array_equal(every, np.arange(26, 34))  # every frame, centred: 26..33 of 0..59


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rate_the_clip_does_not_divide_rounds_to_the_nearest_frame(clips, backend):
    idx = decoded_indices(clips["25fps"], AT_15, 16, backend)
    step = 25 / 15
    ideal = (74 - 15 * step) / 2 + np.arange(16) * step  # centred window, 1/15 s apart
    assert np.abs(idx - ideal).max() <= 0.5
    assert (idx[-1] - idx[0]) / 25 == pytest.approx(15 / 15, abs=1 / 25)  # 15 steps of 1/15 s


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_clip_shorter_than_the_window_repeats_its_last_frame(clips, backend, caplog, monkeypatch):
    monkeypatch.setattr(video, "_padded_said", False)
    with caplog.at_level(logging.WARNING, logger="datamodules.video"):
        idx = decoded_indices(clips["short"], AT_15, 16, backend)
    # 16 frames at 15 Hz need 31 frames of a 30 fps clip; it has 20: 0, 2, ..., 18, then the last (19).
    np.testing.assert_array_equal(idx, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18] + [19] * 6)
    assert "shorter than the 31-frame window" in caplog.text and "last frame is repeated" in caplog.text
    assert AT_15.pads(20, 30.0, 16) and not AT_15.pads(31, 30.0, 16)


def test_spread_is_the_devkit_formula_and_ignores_the_rate():
    for n, k in [(60, 16), (90, 8), (5, 8)]:
        np.testing.assert_array_equal(SPREAD.indices(n, None, k), np.linspace(0, n - 1, k).astype(int))


@pytest.mark.parametrize("kind, rate, said", [("spread", 15, "frame_rate=15 is used only with"),
                                              ("consecutive", 0, "frame_rate=0"),
                                              ("consecutive", float("nan"), "frame_rate=nan"),
                                              ("uniform", None, "frame_sampling='uniform'")])
def test_bad_sampling_settings_are_refused_naming_them(kind, rate, said, tmp_path):
    with pytest.raises(DataSettingsError, match=said):
        FrameSampling(kind, rate)
    with pytest.raises(DataSettingsError, match=said):
        AlgonautsDataModule(root=str(tmp_path), frame_sampling=kind, frame_rate=rate)


def test_the_cache_is_keyed_by_the_sampling(clips, tmp_path):
    videos = [clips["30fps"], clips["25fps"]]
    spread = ClipCache(tmp_path, videos, 8, 16, backend="pyav").build(progress=False)
    at_15 = ClipCache(tmp_path, videos, 8, 16, backend="pyav", sampling=AT_15).build(progress=False)
    at_7 = ClipCache(tmp_path, videos, 8, 16, backend="pyav", sampling=FrameSampling("consecutive", 7.5))
    assert len({spread.key, at_15.key, at_7.key}) == 3
    assert at_15.path.name.startswith("clips-pyav-8f-16px-c15hz-")
    assert at_7.path.name.startswith("clips-pyav-8f-16px-c7.5hz-")
    # Built beside the spread cache of the same videos, its rows were decoded, not copied from it.
    for i, v in enumerate(videos):
        np.testing.assert_array_equal(at_15[i], read_clip(v, 8, 16, "pyav", sampling=AT_15))
        assert not np.array_equal(at_15[i], spread[i])
    manifest = json.loads(at_15.manifest_path.read_text())
    assert manifest["format_version"] == FORMAT_VERSION == 2
    assert manifest["frame_sampling"] == {"kind": "consecutive", "rate": 15}
    assert manifest["sampling"] == AT_15.description != spread.manifest["sampling"]


def test_clip_settings_carry_the_sampling_and_default_to_spread():
    assert ClipSettings.from_data_settings({}).sampling == SPREAD  # a checkpoint from before the setting
    stored = {"frame_sampling": "consecutive", "frame_rate": 7.5}
    assert ClipSettings.from_data_settings(stored).cache_arguments()["sampling"] == FrameSampling("consecutive", 7.5)


def test_the_video_recipes_read_clips_at_their_networks_rate():
    import yaml

    from lightning_modules.networks.video_backbones import VIDEO_MODELS

    checked = 0
    for config in sorted(Path(__file__).parents[1].glob("configs/video_*.yaml")):
        settings = yaml.safe_load(config.read_text())
        name = settings["model"]["backbone"]["name"]
        if not name.startswith("torchvision/"):
            continue
        spec, data = VIDEO_MODELS[name.split("/", 1)[1]], settings["data"]
        assert (data.get("frame_sampling"), data.get("frame_rate")) == ("consecutive", spec.frame_rate), config
        assert data["num_frames"] <= spec.clip_len, config
        checked += 1
    assert checked >= 2  # r2plus1d_18 and s3d
