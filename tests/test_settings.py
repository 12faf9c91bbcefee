"""The model's grouped settings: their checkpoint form, checkpoints and configs written before
the groups (flat keys), and the messages that name each key's new place."""

import subprocess
import sys

import pytest
import torch

from cli.legacy_config import check_flat_model_keys
from cli.resume_settings import setting_differences
from export.checkpoint import load_encoding_model
from lightning_modules.settings import (
    FLAT_KEYS,
    GROUPS,
    BackboneSettings,
    ModelSettings,
    RidgeSettings,
    SettingsError,
    grouped_hyperparameters,
)
from lightning_modules.system import EncodingModel
from tests.helpers import REPO

VOXELS = {"sub01": {"V1": 3, "STS": 2}}


def _flat(hparams: dict) -> dict:
    """The same settings as a checkpoint written before the groups held them."""
    flat = {k: v for k, v in hparams.items() if k not in GROUPS}
    for old, (group, field) in FLAT_KEYS.items():
        flat[old] = hparams[group][field]
    return flat


def test_groups_are_plain_dicts_in_the_checkpoint_and_load_with_weights_only(tmp_path):
    model = EncodingModel(VOXELS, backbone=BackboneSettings("resnet18", layers=[3, 4]), num_frames=2,
                          image_size=32, ridge=RidgeSettings(pca=7))
    assert model.hparams["backbone"] == {"name": "resnet18", "pretrained": False, "checkpoint_path": None,
                                         "layers": [3, 4], "pool_grid": 1, "vone_frontend": False,
                                         "channels_last": False, "compile": False}
    path = tmp_path / "m.ckpt"
    torch.save({"hyper_parameters": dict(model.hparams), "state_dict": model.state_dict()}, path)
    loaded, _ = load_encoding_model(path)  # weights_only=True inside: no class is unpickled
    assert loaded.settings == model.settings and loaded.settings.ridge.pca == 7


def test_a_checkpoint_with_flat_settings_loads_into_the_same_model(tmp_path):
    model = EncodingModel(VOXELS, backbone=BackboneSettings("resnet18", layers=[2, 4]), num_frames=2,
                          image_size=32, temporal={"kind": "weighted"}, ridge={"fit": False, "folds": 3})
    old = _flat(dict(model.hparams))
    assert old["backbone"] == "resnet18" and old["temporal"] == "weighted" and old["ridge"] is False
    path = tmp_path / "old.ckpt"
    torch.save({"hyper_parameters": old, "state_dict": model.state_dict()}, path)
    loaded, _ = load_encoding_model(path)
    assert loaded.settings.temporal.kind == "weighted" and loaded.settings.backbone.layers == [2, 4]
    assert loaded.settings.ridge == RidgeSettings(fit=False, folds=3)
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    grouped = grouped_hyperparameters(old)
    # Settings added after the groups (model.ridge.banded ...) have no flat key: their defaults apply.
    assert ModelSettings.from_arguments(**{g: grouped[g] for g in GROUPS}) == model.settings
    assert ({k: v for k, v in grouped.items() if k not in GROUPS}
            == {k: v for k, v in model.hparams.items() if k not in GROUPS})


def test_resume_check_compares_a_flat_checkpoint_with_grouped_settings():
    grouped = dict(EncodingModel(VOXELS, num_frames=2, image_size=32).hparams)
    flat = _flat(grouped)
    assert setting_differences(flat, grouped) == []
    flat["layers"], flat["temporal"] = [1, 4], "lstm"
    assert setting_differences(flat, grouped) == ["model.backbone.layers: checkpoint [1, 4], this run None",
                                                  "model.temporal.kind: checkpoint lstm, this run mean"]


def test_unknown_group_field_is_named():
    with pytest.raises(SettingsError, match=r"model.ridge: unknown setting\(s\) folds_typo"):
        ModelSettings.from_arguments(ridge={"folds_typo": 3})


@pytest.mark.parametrize("args, message", [
    (["fit", "--model.lr", "0.1"], "--model.lr: .* use --model.optimisation.lr"),
    (["fit", "--model.ridge=false"], "--model.ridge: .* use --model.ridge.fit"),
    (["fit", "--model.backbone", "resnet50"], "use --model.backbone.name"),
])
def test_flat_flags_are_refused_naming_the_new_key(args, message):
    with pytest.raises(SettingsError, match=message):
        check_flat_model_keys(args)
    check_flat_model_keys(["fit", "--model.backbone.name", "resnet50", "--model.ridge", "{fit: false}"])


@pytest.mark.slow
def test_a_config_with_flat_model_keys_stops_train_py_with_the_moves(tmp_path):
    old = tmp_path / "old_run_config.yaml"
    old.write_text("model:\n  backbone: resnet18\n  lr: 0.01\n  ridge_pca: 10\ndata:\n  root: nowhere\n")
    done = subprocess.run([sys.executable, "train.py", "fit", "--config", str(old)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert f"error: {old}: the model settings are now grouped" in done.stderr
    for move in ("model.backbone -> model.backbone.name", "model.lr -> model.optimisation.lr",
                 "model.ridge_pca -> model.ridge.pca"):
        assert move in done.stderr
    assert "Traceback" not in done.stderr


def test_fetch_weights_reads_the_backbone_of_grouped_and_flat_configs(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("fetch_weights", REPO / "scripts/fetch_weights.py")
    fetch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch)
    assert fetch._backbones_of(REPO / "configs/demo.yaml") == ["tf_efficientnet_lite0"]
    old = tmp_path / "old.yaml"
    old.write_text("model:\n  backbone: resnet50\n")
    assert fetch._backbones_of(old) == ["resnet50"]
    (tmp_path / "none.yaml").write_text("model:\n  temporal: {kind: mean}\n")
    with pytest.raises(SystemExit, match="sets no model.backbone.name"):
        fetch._backbones_of(tmp_path / "none.yaml")
