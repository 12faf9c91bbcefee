"""End to end: the CLI trains, saves, summarises; the configs build; the schedule freezes; DDP agrees."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import train
from tests.helpers import FAST, REPO
from tests.helpers import fit_tiny as _fit


@pytest.fixture(scope="session")
def trained_run(tiny_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    cli = _fit(tiny_root, tmp, "--trainer.max_epochs", "2")
    return cli, Path(cli.trainer.log_dir)


def test_fit_writes_config_checkpoints_and_summary(trained_run):
    cli, run_dir = trained_run
    assert (run_dir / "config.yaml").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert Path(summary["best_checkpoint"]).is_file() and Path(summary["last_checkpoint"]).name == "last.ckpt"
    best = summary["best"]["score"]
    assert set(best["rois"]) == {"V1", "V2", "V3", "V4", "LOC", "EBA", "FFA", "STS", "PPA"}
    assert set(best["subjects"]) == {"sub01", "sub02"}
    assert len(best["groups"]) == 18 and best["overall"] is not None
    assert any(p.name.startswith("events.out.tfevents") for p in run_dir.iterdir())
    assert "val/score/sub01/V1" in cli.trainer.callback_metrics
    # "last" is the final validation, not the one before it.
    assert summary["last"]["score"]["overall"] == pytest.approx(float(cli.trainer.callback_metrics["val/score"]))
    assert summary["epochs_run"] == 2 and summary["best_epoch"] in (0, 1)


def test_checkpoint_carries_its_config(trained_run):
    _, run_dir = trained_run
    from export.checkpoint import read_checkpoint

    ckpt = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert ckpt["hyper_parameters"]["voxel_counts"]["sub01"]["V1"] >= 1
    assert ckpt["datamodule_hyper_parameters"]["num_frames"] == 4


def test_backbone_frozen_in_first_epoch_then_trains(tiny_root, tmp_path):
    cli = _fit(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--model.optimisation.freeze_backbone_epochs", "1",
               "--trainer.limit_val_batches", "1")
    model = cli.model
    fresh = train.main(["--config", str(REPO / "configs/demo.yaml"), *FAST, "--data.root", str(tiny_root),
                        "--data.synthetic", "null"], run=False).model
    # Same seed, same initial weights: the frozen backbone did not move, the heads did.
    for (name, p), q in zip(model.model.backbone.named_parameters(), fresh.model.backbone.parameters()):
        assert torch.equal(p, q), name
    assert not torch.equal(model.model.heads.weights[0], fresh.model.heads.weights[0])
    cli2 = _fit(tiny_root, tmp_path, "--trainer.max_epochs", "2", "--model.optimisation.freeze_backbone_epochs", "1",
                "--trainer.limit_val_batches", "1")
    moved = [not torch.equal(p, q) for p, q in zip(cli2.model.model.backbone.parameters(),
                                                    fresh.model.backbone.parameters())]
    assert any(moved)


@pytest.mark.parametrize("config, overrides", [
    ("resnet50_lstm.yaml", ["--model.backbone.name", "resnet18"]),
    ("vit_b16_mean.yaml", ["--model.backbone.name", "vit_tiny_patch16_224"]),
    ("full_track_resnet50.yaml", ["--model.backbone.name", "resnet18"]),
    ("mini_track_lite0_224.yaml", []),
])
def test_real_data_configs_instantiate(tiny_root, config, overrides):
    cli = train.main(["--config", str(REPO / "configs" / config), "--data.root", str(tiny_root),
                      "--model.backbone.pretrained", "false", "--trainer.precision", "32-true", "--data.image_size", "32",
                      *overrides], run=False)
    video = torch.zeros(2, cli.datamodule.hparams.num_frames, 3, 32, 32, dtype=torch.uint8)
    with torch.no_grad():
        out = cli.model(video)
    assert out.shape == (2, cli.datamodule.target_layout.n_voxels)


@pytest.mark.slow
def test_ddp_validation_equals_single_process(trained_run, tiny_root, tmp_path):
    _, run_dir = trained_run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    results = {}
    for devices in (1, 2):
        out = tmp_path / f"metrics{devices}.json"
        subprocess.run([sys.executable, str(REPO / "tests/ddp_validate.py"), str(ckpt), str(tiny_root),
                        str(devices), str(out)], check=True, cwd=tmp_path, timeout=300)
        results[devices] = json.loads(out.read_text())
    assert results[1]["val/score"] == pytest.approx(results[2]["val/score"], abs=1e-5)
    for key in results[1]:
        assert results[1][key] == pytest.approx(results[2][key], abs=1e-5, nan_ok=True), key


@pytest.mark.slow
def test_print_config_resolves_composed_configs():
    out = subprocess.run([sys.executable, "train.py", "fit", "--config", "configs/demo.yaml", "--config",
                          "configs/ridge_baseline.yaml", "--print_config"], cwd=REPO, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert "name: tf_efficientnet_lite0" in out and "only: true" in out and "kind: mean" in out
    assert "monitor: val/score" in out


def test_bf16_mixed_precision_trains(tiny_root, tmp_path):
    # CPU autocast here; on a GPU the same flag runs the backbone in bfloat16.
    cli = _fit(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--trainer.precision", "bf16-mixed",
               "--model.optimisation.freeze_backbone_epochs", "0", "--trainer.limit_train_batches", "1")
    score = float(cli.trainer.callback_metrics["val/score"])
    assert math.isfinite(score) and -1 <= score <= 2
    # The flag reached the forward pass: under the trainer's precision context the backbone runs in bfloat16.
    video = torch.zeros(2, 4, 3, 32, 32, dtype=torch.uint8)
    with cli.trainer.precision_plugin.forward_context(), torch.no_grad():
        levels = cli.model.model.frame_features(video)
        out = cli.model(video)
    assert cli.trainer.precision == "bf16-mixed" and torch.isfinite(out).all()
    assert [level.dtype for level in levels] == [torch.bfloat16] * len(levels)
    with torch.no_grad():  # and only there: outside it the same backbone runs in float32
        assert {level.dtype for level in cli.model.model.frame_features(video)} == {torch.float32}
