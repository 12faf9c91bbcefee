"""Rates and scales of ``model.optimisation`` out of range are refused before any work, naming the
setting (issue 30, item 8: ``--model.optimisation.lr -0.001`` trained by gradient ascent, exit 0,
because torch checks only an optimiser's default rate, not the per-group rates the model sets)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lightning_modules.settings import OptimisationSettings, SettingsError
from tests.helpers import FAST, REPO

NAN, INF = float("nan"), float("inf")

BAD = [("lr", -1e-3), ("lr", NAN), ("lr", INF), ("backbone_lr_scale", -0.1),
       ("backbone_lr_scale", NAN), ("weight_decay", -1e-4), ("warmup_epochs", -1.0),
       ("min_lr_ratio", -0.01), ("min_lr_ratio", 1.5), ("freeze_backbone_epochs", -2),
       ("unfreeze_at_score", NAN), ("mse_weight", -0.01), ("head_init_std", -0.01),
       ("layer_lr_decay", 0.0), ("layer_lr_decay", 1.5), ("layer_lr_decay", NAN),
       ("train_last_blocks", 0)]


@pytest.mark.parametrize("name, value", BAD)
def test_out_of_range_setting_is_refused_naming_it(name, value):
    with pytest.raises(SettingsError, match=rf"^model\.optimisation\.{name}={value}: expected "):
        OptimisationSettings(**{name: value})


def test_every_bad_setting_is_named_in_one_error():
    with pytest.raises(SettingsError) as refused:
        OptimisationSettings(lr=-1.0, mse_weight=-1.0, min_lr_ratio=2.0)
    assert [part.split("=")[0] for part in str(refused.value).split("; ")] == [
        "model.optimisation.lr", "model.optimisation.min_lr_ratio", "model.optimisation.mse_weight"]


@pytest.mark.parametrize("edge", [{}, {"backbone_lr_scale": 0.0}, {"min_lr_ratio": 0.0}, {"min_lr_ratio": 1.0},
                                  {"warmup_epochs": 0}, {"freeze_backbone_epochs": -1}, {"layer_lr_decay": 1.0},
                                  {"unfreeze_at_score": -0.5}, {"head_init_std": 0.0}, {"lr": 10.0}, {"lr": 0.0}])
def test_settings_at_the_edges_of_their_ranges_are_accepted(edge):
    OptimisationSettings(**edge)


def test_train_py_refuses_a_negative_learning_rate_before_training(tiny_root, tmp_path):
    import train

    with pytest.raises(SettingsError, match=r"model\.optimisation\.lr=-0\.001: expected a learning rate >= 0"):
        train.main(["--config", str(REPO / "configs/demo.yaml"), *FAST, "--data.root", str(tiny_root),
                    "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
                    "--model.optimisation.lr", "-0.001"], run=False)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_train_py_with_a_negative_learning_rate_exits_1_with_one_error_line(tiny_root, tmp_path):
    done = subprocess.run([sys.executable, "train.py", "fit", "--config", "configs/demo.yaml", *FAST,
                           "--data.root", str(tiny_root), "--trainer.logger.init_args.save_dir",
                           str(tmp_path / "runs"), "--model.optimisation.lr", "-0.001",
                           "--model.optimisation.backbone_lr_scale", "-1"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == (
        "error: model.optimisation.lr=-0.001: expected a learning rate >= 0; "
        "model.optimisation.backbone_lr_scale=-1.0: expected a factor >= 0 "
        "(freeze_backbone_epochs: -1 keeps the backbone frozen)")
    assert not (tmp_path / "runs").exists()
