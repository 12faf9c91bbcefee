"""The data module prediction and ensembles rebuild from a checkpoint's saved settings is training's:
the same source, clip cache (path and key) and split, for the same settings; a setting an older
checkpoint lacks takes the data module's own default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import train
from datamodules.algonauts import AlgonautsDataModule
from datamodules.rebuild import DataSettingsError, data_settings, datamodule_from_checkpoint
from export.checkpoint import read_checkpoint
from export.ensemble import recorded_train_index
from export.predict_run import PredictionRequest, find_stimuli
from scoring.layout import TargetLayout
from scoring.splits import holdout_split, kfold_split
from tests.helpers import FAST, REPO


def _training_datamodule(tiny_root: Path, tmp_path: Path, *extra: str) -> AlgonautsDataModule:
    """The data module ``train.py fit`` builds for these settings (LightningCLI, nothing run)."""
    cli = train.main(["--config", str(REPO / "configs/demo.yaml"), *FAST, "--data.root", str(tiny_root),
                      "--data.synthetic", "null", "--data.cache_dir", str(tiny_root.parent / "cache"),
                      "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), *extra], run=False)
    return cli.datamodule


def _saved(datamodule: AlgonautsDataModule, tmp_path: Path) -> dict:
    """The settings as a checkpoint holds them (Lightning's checkpoint connector saves
    ``dict(datamodule.hparams)``), read back the way ``predict.py`` reads a checkpoint."""
    torch.save({"datamodule_hyper_parameters": dict(datamodule.hparams)}, tmp_path / "data.ckpt")
    return dict(read_checkpoint(tmp_path / "data.ckpt")["datamodule_hyper_parameters"])


@pytest.mark.parametrize("split", [[], ["--data.split", "kfold", "--data.n_folds", "3", "--data.fold", "2",
                                        "--data.seed", "5"],
                                   ["--data.frame_sampling", "consecutive", "--data.frame_rate", "15"]],
                         ids=["holdout", "kfold", "consecutive_15hz"])
def test_rebuilt_data_module_is_trainings(tiny_root, tmp_path, split):
    trained = _training_datamodule(tiny_root, tmp_path, *split)
    saved = _saved(trained, tmp_path)
    rebuilt = datamodule_from_checkpoint(saved)
    assert "_instantiator" in saved  # LightningCLI's bookkeeping, saved beside the settings
    assert dict(rebuilt.hparams) == {k: v for k, v in trained.hparams.items() if not k.startswith("_")}
    assert rebuilt.cache_dir == trained.cache_dir == tiny_root.parent / "cache"
    assert rebuilt.clip_settings == trained.clip_settings
    assert rebuilt.clips.path == trained.clips.path  # same folder, videos and settings: the same key
    expected = ("consecutive", 15) if "consecutive" in split else ("spread", None)
    assert (rebuilt.clips.sampling.kind, rebuilt.clips.sampling.rate) == expected
    assert rebuilt.voxel_counts == trained.voxel_counts

    trained.prepare_data()
    trained.setup("fit")
    n_train = trained.release.n_train
    train_rows, val_rows = rebuilt.split_of(n_train)
    np.testing.assert_array_equal(train_rows, trained.train_indices)
    np.testing.assert_array_equal(val_rows, trained.val_indices)
    np.testing.assert_array_equal(recorded_train_index(saved, n_train), trained.train_indices)

    # predict.py's own path to the test set: training's cache, read at the test rows.
    request = PredictionRequest(checkpoints=("x.ckpt",), output_dir=tmp_path / "out")
    stimuli = find_stimuli(request, saved, TargetLayout(trained.voxel_counts), tmp_path / "out")
    assert stimuli.clips.path == trained.clips.path and stimuli.clips.is_built
    assert stimuli.first == n_train and stimuli.videos == trained.release.video_paths[n_train:]
    assert not (tmp_path / "out").exists()


def test_settings_an_older_checkpoint_lacks_take_the_data_modules_defaults(tiny_root):
    saved = {"root": str(tiny_root), "predict_videos": None, "_instantiator": "lightning.cli"}  # no source, split, ...
    settings = data_settings(saved)
    defaults = AlgonautsDataModule(root=str(tiny_root)).hparams
    assert settings == dict(defaults)
    assert settings["source"] == "auto" and "predict_videos" not in settings
    assert (settings["frame_sampling"], settings["frame_rate"]) == ("spread", None)  # clips as they were read
    # The split an ensemble recomputes: the defaults' k-fold split (10 folds, fold 0, seed 0) ...
    assert (defaults["split"], defaults["n_folds"], defaults["fold"], defaults["seed"]) == ("kfold", 10, 0, 0)
    np.testing.assert_array_equal(recorded_train_index({}, 40), kfold_split(40, 10, 0, 0)[0])
    # ... and a saved holdout with the default n_val.
    np.testing.assert_array_equal(recorded_train_index({"split": "holdout"}, 140), holdout_split(140, 100)[0])


def test_unknown_saved_setting_is_refused_naming_it():
    with pytest.raises(DataSettingsError, match=r"data settings \['frames_per_second'\] are not settings"):
        data_settings({"frames_per_second": 4})
    with pytest.raises(DataSettingsError, match=r"\['colour'\] are not data settings"):
        datamodule_from_checkpoint({}, colour="red")
