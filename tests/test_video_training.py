"""Video backbones through the real train.py: the video demo config (inflated Lite0) fits its ridge
baseline on the frozen video features, then fine-tunes with layer-wise rates and only the last
blocks training; a torchvision video network trains the same way."""

import json
import math
from pathlib import Path

import pytest
import torch

import train
from tests.helpers import FAST, REPO


def _fit(tiny_root, tmp_path, config, *extra):
    args = ["fit", "--config", str(REPO / config), *FAST, "--data.root", str(tiny_root),
            "--data.synthetic", "null", "--data.cache_dir", str(tiny_root.parent / "cache"),
            "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), *extra]
    return train.main(args)


def test_video_demo_config_fits_ridge_and_fine_tunes_the_last_blocks(tiny_root, tmp_path):
    cli = _fit(tiny_root, tmp_path, "configs/video_demo.yaml", "--trainer.max_epochs", "2",
               "--trainer.limit_val_batches", "1", "--model.optimisation.train_last_blocks", "2",
               "--model.optimisation.layer_lr_decay", "0.5")
    backbone = cli.model.model.backbone
    assert getattr(backbone, "consumes_clips", False) and backbone.input_size[1:] == (3, 32, 32)
    assert cli.model.ridge_summary is not None and math.isfinite(cli.model.ridge_summary.main)
    summary = json.loads((Path(cli.trainer.log_dir) / "summary.json").read_text())
    assert summary, "summary.json is empty"
    # Only the last two of the inflated Lite0's blocks moved; the stem kept the package's weights
    # (inflated: the 2-D kernel over 3 frames, each a third).
    import timm

    from lightning_modules.networks.package_weights import load_package_weights
    reference = timm.create_model("tf_efficientnet_lite0")
    load_package_weights(reference, "tf_efficientnet_lite0")
    stem = backbone.model.conv_stem.weight.detach()
    torch.testing.assert_close(stem * 3, reference.conv_stem.weight.unsqueeze(2).expand_as(stem))
    groups = {g["name"] for g in cli.model.optimizers().optimizer.param_groups}
    assert sum(n.startswith("backbone.block") for n in groups) == 2


@pytest.mark.slow
def test_torchvision_video_network_trains_through_train_py(tiny_root, tmp_path):
    cli = _fit(tiny_root, tmp_path, "configs/video_demo.yaml", "--trainer.max_epochs", "2",
               "--trainer.limit_val_batches", "1", "--model.backbone.name", "torchvision/r2plus1d_18",
               "--model.backbone.pretrained", "false", "--model.backbone.layers", "[2, 4]")
    assert cli.model.ridge_summary is not None and math.isfinite(cli.model.ridge_summary.main)
    assert cli.model.model.backbone.layer_names == ["layer2", "layer4"]


@pytest.mark.slow
@pytest.mark.parametrize("config, levels, frames", [("configs/video_r2plus1d_18.yaml", ["layer2", "layer3", "layer4"], 16),
                                            ("configs/video_s3d.yaml", ["features.6", "features.12", "features.15"], 32),
                                            ("configs/video_inflated_lite0_224.yaml",
                                             ["blocks.1", "blocks.2", "blocks.4", "blocks.6"], 16)])
def test_real_data_recipes_build_their_video_network(tiny_root, config, levels, frames):
    """The recipes' settings parse and build (random init: their weights need a download)."""
    model = train.main(["--config", str(REPO / config), "--model.backbone.pretrained", "false",
                        "--data.root", str(tiny_root), "--data.synthetic", "null"], run=False).model
    backbone = model.model.backbone
    assert backbone.layer_names == levels and backbone.input_size[-1] in (112, 224)
    assert model.model.num_frames == frames  # S3D: 32 consecutive frames at 15 Hz
