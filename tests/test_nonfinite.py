"""Non-finite data and diverged training never end in a "successful" run scored 0.

Injected: an Inf in one repetition, a float16 file that overflowed to inf, finite 3e38 values
(refused at set-up, or masked on request); a diverging learning rate in a real CLI run
(stopped with a message, in process and as a subprocess with its exit code); NaN predictions
in the metric; a NaN val/score and NaN weights at checkpoint time; a diverging sweep trial.
"""

from __future__ import annotations

import logging
import math
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import pytorch_lightning as pl
import torch
import yaml

import sweep
from datamodules.algonauts import AlgonautsDataModule
from datamodules.voxel_checks import NonFiniteResponseError, check_voxels
from lightning_modules.metrics import VoxelCorrelation
from runtime.lightning_overrides import EpochCheckpoint
from runtime.nonfinite_guard import NonFiniteError
from scoring.layout import TargetLayout
from scoring.summary import score_summary
from tests.faults import copy_release, rewrite_roi, roi_file
from tests.helpers import FAST, REPO, fit_tiny
from tests.test_sweep import tiny_sweep_args

DIVERGE = ("--model.optimisation.lr", "1e30", "--model.optimisation.warmup_epochs", "0", "--model.ridge.fit", "false",
           "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "2")


# ----------------------------------------------------------------------------- inputs
def _inf(train):
    train[2, 1, 1] = np.inf
    return train


def _huge(train):
    train[2, 1, 1] = 3e38  # finite in float32, but its square is not
    return train


@pytest.mark.parametrize("fault", [_inf, _huge], ids=["inf_in_one_repetition", "finite_3e38"])
def test_non_finite_response_is_refused_at_setup_naming_file_region_and_voxel(tiny_root, tmp_path, fault):
    root = copy_release(tiny_root, tmp_path)
    rewrite_roi(root, "sub01", "V1", fault)
    with pytest.raises(NonFiniteResponseError) as err:
        AlgonautsDataModule(root=str(root)).release  # noqa: B018
    message = str(err.value)
    assert str(roi_file(root, "sub01", "V1")) in message and "sub01/V1" in message
    assert "video row 2 (clip 0003_), repetition 1, voxel 1" in message
    assert "--data.non_finite mask" in message


def test_float16_file_that_overflowed_to_inf_is_refused(tiny_root, tmp_path):
    root = copy_release(tiny_root, tmp_path)
    path = roi_file(root, "sub02", "FFA")
    data = pickle.loads(path.read_bytes())
    big = np.array(data["train"], dtype=np.float32)
    big[5, 0, 2] = 70000.0  # float16's largest is 65504
    with np.errstate(over="ignore"):
        data["train"] = big.astype(np.float16)
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(NonFiniteResponseError, match=r"sub02/FFA.*first is inf at video row 5 .* voxel 2"):
        AlgonautsDataModule(root=str(root)).release  # noqa: B018


def test_non_finite_values_are_masked_as_missing_on_request(tiny_root, tmp_path, caplog):
    root = copy_release(tiny_root, tmp_path)
    rewrite_roi(root, "sub01", "V1", _inf)
    with caplog.at_level(logging.WARNING, logger="datamodules.voxel_checks"):
        dm = AlgonautsDataModule(root=str(root), non_finite="mask")
        responses = dm.responses
    assert "masked as missing measurements (non_finite=mask)" in caplog.text
    start = next(g.start for g in dm.target_layout.groups if g.name == "sub01/V1")
    assert np.isnan(responses[2, 1, start + 1])
    assert np.isfinite(np.delete(responses.reshape(-1), (2 * responses.shape[1] + 1) * responses.shape[2]
                                 + start + 1)).all()
    report = check_voxels(responses, dm.mean_responses)
    assert report.missing[start + 1] and report.missing.sum() == 1


def test_voxel_checks_count_inf_as_missing():
    responses = np.random.default_rng(0).normal(size=(6, 3, 4)).astype(np.float32)
    responses[1, 0, 2] = np.inf
    report = check_voxels(responses, responses.mean(axis=1))
    assert report.missing.tolist() == [False, False, True, False]


# ----------------------------------------------------------------------------- the metric
def test_nan_predictions_score_nan_and_never_outrank_a_real_model():
    layout = TargetLayout({"sub01": {"V1": 3}, "sub02": {"V1": 2}})
    y = torch.randn(10, 5)
    bad, real = VoxelCorrelation(5), VoxelCorrelation(5)
    bad.update(torch.full((10, 5), float("nan")), y)
    real.update(-y + 0.1 * torch.randn(10, 5), y)  # a poor but real model: negative r
    ceiling = torch.full((5,), 0.5)
    bad_summary = score_summary(bad.compute(), ceiling, layout).logged()
    real_summary = score_summary(real.compute(), ceiling, layout).logged()
    assert math.isnan(bad_summary["score"]) and math.isnan(bad_summary["r"])
    assert math.isnan(bad_summary["score/sub01/V1"]) and math.isnan(bad_summary["r/V1"])
    assert real_summary["score"] < 0
    # What a sweep or a "best" comparison does: a NaN never wins against a real score.
    assert not bad_summary["score"] > real_summary["score"]


def test_one_nan_prediction_makes_its_group_nan_but_not_the_other_subject():
    layout = TargetLayout({"sub01": {"V1": 2}, "sub02": {"V1": 2}})
    x, y = torch.randn(8, 4), torch.randn(8, 4)
    x[3, 0] = float("inf")
    metric = VoxelCorrelation(4)
    metric.update(x, y)
    summary = score_summary(metric.compute(), None, layout).logged()
    assert math.isnan(summary["r/sub01/V1"]) and math.isnan(summary["r"])
    assert math.isfinite(summary["r/sub02/V1"]) and math.isfinite(summary["r/sub02"])


# ----------------------------------------------------------------------------- checkpoints
class _Tiny(pl.LightningModule):
    """A linear model whose validation logs a chosen val/score and can poison its own weights."""

    def __init__(self, score: float, poison_weights: bool = False):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.score, self.poison = score, poison_weights

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        self.log("val/score", self.score)

    def on_validation_epoch_end(self):
        if self.poison:
            with torch.no_grad():
                self.layer.weight.fill_(float("nan"))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _fit_tiny_module(module, tmp_path) -> Path:
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(4, 2)), batch_size=2)
    ckpt_dir = tmp_path / "ckpt"
    callback = EpochCheckpoint(dirpath=ckpt_dir, monitor="val/score", mode="max", save_last=True,
                               filename="best-epoch{epoch:03d}", auto_insert_metric_name=False)
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[callback], num_sanity_val_steps=0)
    trainer.fit(module, data, data)
    return ckpt_dir


def test_nan_score_is_never_saved_as_best(tmp_path):
    ckpt_dir = _fit_tiny_module(_Tiny(float("nan")), tmp_path)
    assert not list(ckpt_dir.glob("best-*.ckpt"))
    assert (ckpt_dir / "last.ckpt").is_file()  # finite weights: the resumable state is still kept


def test_nan_weights_are_never_saved(tmp_path):
    ckpt_dir = _fit_tiny_module(_Tiny(0.5, poison_weights=True), tmp_path)
    assert not list(ckpt_dir.glob("*.ckpt"))


class _NanValidation(_Tiny):
    def validation_step(self, batch, batch_idx):
        self.log("val/score", 0.1)
        return {"preds": torch.full((len(batch[0]), 3), float("nan")) if batch_idx == 1 else torch.zeros(2, 3)}


def test_non_finite_validation_predictions_stop_the_run_before_the_epoch_is_scored(tmp_path):
    from runtime.nonfinite_guard import NonFiniteGuard

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(6, 2)), batch_size=2)
    ckpt_dir = tmp_path / "ckpt"
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         callbacks=[NonFiniteGuard(), EpochCheckpoint(dirpath=ckpt_dir, save_last=True)])
    with pytest.raises(NonFiniteError, match=r"validation predictions have 6 of 6 values NaN or infinite "
                                             r"\(validation batch 1\) at epoch 0"):
        trainer.fit(_NanValidation(0.1), data, data)
    assert not list(ckpt_dir.glob("*.ckpt"))


# ----------------------------------------------------------------------------- diverging runs
def test_diverging_run_stops_with_a_message_and_saves_nothing_after_it(tiny_root, tmp_path):
    with pytest.raises(NonFiniteError, match=r"the model diverged.*model\.optimisation\.lr=1e\+30") as err:
        fit_tiny(tiny_root, tmp_path, *DIVERGE)
    assert "train/loss" in str(err.value) or "validation predictions" in str(err.value)
    run = next((tmp_path / "runs").glob("*/version_*"))
    assert not (run / "summary.json").exists()
    for ckpt in run.glob("checkpoints/*.ckpt"):  # anything saved before the divergence is finite
        state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
        assert all(t.isfinite().all() for t in state.values() if t.is_floating_point()), ckpt


@pytest.mark.slow
def test_diverging_cli_run_exits_non_zero(tiny_root, tmp_path):
    args = ["fit", "--config", str(REPO / "configs/demo.yaml"), *FAST, "--data.root", str(tiny_root),
            "--data.synthetic", "null", "--data.cache_dir", str(tiny_root.parent / "cache"),
            "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), *DIVERGE]
    done = subprocess.run([sys.executable, str(REPO / "train.py"), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode != 0
    assert "NonFiniteError" in done.stderr and "the model diverged" in done.stderr
    assert "run summary" not in done.stdout
    assert not list((tmp_path / "runs").glob("*/*/summary.json"))


@pytest.mark.slow
def test_diverging_sweep_trial_is_marked_failed_not_scored(tiny_root, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"model.optimisation.lr": {"type": "categorical", "choices": [1e30]}}))
    args = tiny_sweep_args(tiny_root, tmp_path / "sweep", space, 1, "--no-prune")
    args += ["--model.optimisation.warmup_epochs", "0", "--trainer.max_epochs", "1"]
    (study,) = sweep.main(args)
    (trial,) = study.get_trials()
    assert trial.state == optuna.trial.TrialState.FAIL
    assert trial.value is None and "diverged" in trial.user_attrs["failure"]
    with pytest.raises(ValueError):
        study.best_trial  # noqa: B018 - no trial was scored


def test_float64_value_beyond_float32_is_named_with_its_value(tmp_path):
    from datamodules.release import load_recording

    train = np.zeros((4, 2, 3))
    train[1, 1, 2] = 1e300  # would become inf in the float32 cast
    path = tmp_path / "sub01" / "V2.pkl"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps({"train": train}, protocol=2))
    with pytest.raises(NonFiniteResponseError, match=r"first is 1e\+300 at video row 1 \(clip 0002_\), repetition 1"):
        load_recording(path)
    masked = load_recording(path, non_finite="mask").train
    assert masked.dtype == np.float32 and np.isnan(masked[1, 1, 2]) and np.isfinite(np.delete(masked, 11)).all()
