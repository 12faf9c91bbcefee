"""Training and prediction read clips with the same defaults, from one place."""

import inspect

from datamodules.algonauts import AlgonautsDataModule
from datamodules.clip_settings import CLIP_DEFAULTS, ClipSettings
from datamodules.frame_sampling import SPREAD


def test_the_data_module_defaults_are_the_clip_defaults():
    params = inspect.signature(AlgonautsDataModule.__init__).parameters
    for name in ("num_frames", "image_size", "video_backend", "on_bad_video", "frame_sampling", "frame_rate"):
        assert params[name].default == getattr(CLIP_DEFAULTS, name), name


def test_a_checkpoint_without_clip_settings_gets_the_training_defaults():
    assert ClipSettings.from_data_settings({}) == CLIP_DEFAULTS
    stored = {"num_frames": 4, "image_size": 32, "video_backend": "pyav", "on_bad_video": "skip", "root": "x"}
    assert ClipSettings.from_data_settings(stored).cache_arguments() == {
        "num_frames": 4, "size": 32, "backend": "pyav", "on_error": "skip", "sampling": SPREAD}
    assert ClipSettings.from_data_settings(stored, video_backend="decord").video_backend == "decord"
