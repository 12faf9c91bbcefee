"""DDP fits on 2 CPU processes (gloo), through the real CLI and the real launcher.

- The correlation loss is taken over the global batch: one training step on 2 processes gives
  the parameters the same gradients as 1 process holding the combined batch (the shares are
  unequal on purpose, and some targets are NaN).
- A 2-process fit of the demo, ridge baseline included (it used to deadlock), crosses the
  freeze-to-unfreeze transition (it used to crash at the second step), and the ranks end with
  identical weights (DDP kept syncing the backbone's gradients after unfreezing).
- Slow: the same for every shipped config, shrunk to the TINY release (small backbones for the
  ResNet-50 and ViT-B/16 recipes), and the ridge baseline's scores equal a single process's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import REPO, TINY_CPU, release_args

#: Per-rank batch shares differ; a per-rank loss would give gradients off by ~1e-1.
FLOAT64_TOLERANCE = 1e-9
#: Measured 1.3e-6 on the heads (float32 sums in another order: (g0 + g1) / 2 against one sum).
FLOAT32_TOLERANCE = 1e-5
TINY = [*TINY_CPU, "--data.batch_size", "2", "--trainer.limit_train_batches", "2", "--trainer.max_epochs", "2",
        "--trainer.log_every_n_steps", "1"]


def _gradients(devices: int, out: Path, precision: str) -> dict[str, torch.Tensor]:
    subprocess.run([sys.executable, str(REPO / "tests/ddp_gradients.py"), str(devices), str(out), precision],
                   cwd=out.parent, check=True, timeout=900, capture_output=True)
    grads = torch.load(out / "grads_rank0.pt")
    if devices > 1:  # DDP left every rank the same averaged gradients
        other = torch.load(out / "grads_rank1.pt")
        assert all(torch.equal(grads[k], other[k]) for k in grads)
    return grads


def _compare(one: dict, two: dict, tolerance: float, only: str = "") -> None:
    assert one.keys() == two.keys() and any(k.startswith("model.heads") for k in one)
    assert any(k.startswith("model.backbone") for k in one)  # the backbone trains in this step
    for key in one:
        if key.startswith(only):
            torch.testing.assert_close(two[key], one[key], atol=tolerance, rtol=0, msg=key)


@pytest.mark.slow
def test_two_process_gradients_equal_one_process_on_the_combined_batch(tmp_path):
    # Float64 end to end (the loss too): the two orders of summation agree to rounding, so any
    # error in gathering or in DDP's averaging would show far above the tolerance.
    one = _gradients(1, tmp_path / "one", "64-true")
    two = _gradients(2, tmp_path / "two", "64-true")
    _compare(one, two, FLOAT64_TOLERANCE)


@pytest.mark.slow
def test_two_process_gradients_equal_one_process_in_float32(tmp_path):
    one = _gradients(1, tmp_path / "one", "32-true")
    two = _gradients(2, tmp_path / "two", "32-true")
    _compare(one, two, FLOAT32_TOLERANCE)
    _compare(one, two, 5e-6, only="model.heads")


def _ddp_fit(tiny_root: Path, tmp_path: Path, configs: list[str], *extra: str, devices: int = 2) -> dict:
    out = tmp_path / f"record{devices}.json"
    args = [a for c in configs for a in ("--config", str(REPO / "configs" / c))]
    args += [*TINY, "--trainer.devices", str(devices), *release_args(tiny_root, tmp_path / f"runs{devices}"), *extra]
    if devices > 1:
        args += ["--trainer.strategy", "ddp"]
    done = subprocess.run([sys.executable, str(REPO / "tests/ddp_fit.py"), str(out), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    return json.loads(out.read_text())


def _check_crossed_the_freeze(record: dict) -> None:
    assert record["world_size"] == 2
    assert record["backbone_trainable"] == [False, True]
    assert record["backbone_moved"] == [False, True]  # frozen in epoch 0, fine-tuned in epoch 1
    assert record["rank_mismatch"] == 0.0  # the ranks' weights are identical at the end
    assert record["optimizer_steps"] == 4
    assert record["summary"]["epochs_run"] == 2 and record["summary"]["best"]["score"]["overall"] is not None


@pytest.mark.slow
def test_two_process_fit_of_the_demo_with_ridge_crosses_the_freeze(tiny_root, tmp_path):
    record = _ddp_fit(tiny_root, tmp_path, ["demo.yaml"], "--model.ridge.fit", "true")
    _check_crossed_the_freeze(record)
    assert "val/ridge/score" in record["callback_metrics"]


@pytest.mark.slow
def test_two_process_fit_training_only_the_last_blocks_at_layer_wise_rates(tiny_root, tmp_path):
    # The pinned lower blocks never get a gradient: DDP must skip them, and the ranks stay identical.
    record = _ddp_fit(tiny_root, tmp_path, ["demo.yaml"], "--model.optimisation.train_last_blocks", "2",
                      "--model.optimisation.layer_lr_decay", "0.5", "--model.ridge.fit", "false")
    _check_crossed_the_freeze(record)


SHIPPED = {
    "demo": (["demo.yaml"], []),
    "demo_random_resnet18": (["demo.yaml", "demo_random_resnet18.yaml"], []),
    "mini_track_lite0_224": (["mini_track_lite0_224.yaml"], []),
    "resnet50_lstm": (["resnet50_lstm.yaml"], ["--model.backbone.name", "resnet18", "--model.backbone.pretrained", "false",
                                                "--model.temporal.lstm_hidden", "16"]),
    "vit_b16_mean": (["vit_b16_mean.yaml"], ["--model.backbone.name", "vit_tiny_patch16_224", "--model.backbone.pretrained",
                                              "false", "--model.optimisation.unfreeze_at_score", "-10"]),
    "full_track_resnet50": (["full_track_resnet50.yaml"], ["--model.backbone.name", "resnet18",
                                                           "--model.backbone.pretrained", "false"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SHIPPED))
def test_two_process_fit_of_every_shipped_config_crosses_the_freeze(name, tiny_root, tmp_path):
    configs, overrides = SHIPPED[name]
    # One frozen epoch, whatever the recipe's count, so that two epochs cross the transition.
    record = _ddp_fit(tiny_root, tmp_path, configs, *overrides, "--model.optimisation.freeze_backbone_epochs", "1")
    _check_crossed_the_freeze(record)


@pytest.mark.slow
def test_two_process_ridge_baseline_scores_as_one_process(tiny_root, tmp_path):
    configs = ["demo.yaml", "ridge_baseline.yaml"]
    two = _ddp_fit(tiny_root, tmp_path, configs, "--trainer.max_epochs", "1")
    one = _ddp_fit(tiny_root, tmp_path, configs, "--trainer.max_epochs", "1", devices=1)
    assert two["world_size"] == 2 and two["optimizer_steps"] == 0 and two["rank_mismatch"] == 0.0
    for key, value in one["callback_metrics"].items():
        if key.startswith("val/ridge/") or key == "val/score":
            assert two["callback_metrics"][key] == pytest.approx(value, abs=1e-5), key
