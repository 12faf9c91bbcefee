"""The ridge baseline alone (``configs/ridge_baseline.yaml``) reads no training batch, trains
nothing, and every run's ``summary.json`` carries the ridge score and the gain over it."""

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import yaml

import train
from datamodules.algonauts import AlgonautsDataModule
from tests.helpers import FAST, REPO


class _TrainingBatches(pl.Callback):
    def __init__(self):
        self.batches = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.batches.append(batch)


def _fit_with(tiny_root, tmp_path, *extra) -> tuple[train.EncodingCLI, _TrainingBatches]:
    args = ["--config", str(REPO / "configs/demo.yaml"), *FAST, "--data.root", str(tiny_root),
            "--data.synthetic", "null", "--data.cache_dir", str(tiny_root.parent / "cache"), *extra,
            "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")]
    cli = train.main(args, run=False)
    seen = _TrainingBatches()
    cli.trainer.callbacks.append(seen)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return cli, seen


def test_ridge_baseline_config_has_no_batch_limit():
    # limit_train_batches: 1 is read as 1.0, all of them; the baseline needs no limit at all.
    config = yaml.safe_load((REPO / "configs/ridge_baseline.yaml").read_text())
    assert "limit_train_batches" not in config.get("trainer", {})


def test_ridge_only_run_draws_no_training_batch(tiny_root, tmp_path, monkeypatch, capsys):
    training_loaders = []
    real_loader = AlgonautsDataModule._loader

    def recording(self, dataset, shuffle, evaluation=False):
        if shuffle:
            training_loaders.append(dataset)
        return real_loader(self, dataset, shuffle, evaluation)

    monkeypatch.setattr(AlgonautsDataModule, "_loader", recording)
    cli, seen = _fit_with(tiny_root, tmp_path, "--config", str(REPO / "configs/ridge_baseline.yaml"))
    assert training_loaders == []  # no loader over the training clips was ever built
    assert seen.batches == [{}]  # the one epoch's one step got an empty batch, no clip
    assert not any(p.requires_grad for p in cli.model.parameters())  # and nothing could train
    metrics = cli.trainer.callback_metrics
    assert float(metrics["val/score"]) == pytest.approx(float(metrics["val/ridge/score"]), abs=1e-4)
    run_dir = Path(cli.trainer.log_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["ridge"]["score"]["overall"] == pytest.approx(summary["best"]["score"]["overall"], abs=1e-4)
    assert Path(summary["last_checkpoint"]).is_file()  # predict.py can use it
    assert f"ridge baseline val/score {summary['best']['score']['overall']:.4f}" in capsys.readouterr().out


def test_summary_stores_and_prints_the_ridge_score_and_the_gain(tiny_root, tmp_path, capsys):
    cli, _ = _fit_with(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "1")
    summary = json.loads((Path(cli.trainer.log_dir) / "summary.json").read_text())
    ridge = summary["ridge"]
    # The ridge fit's own validation scores, as logged beside the heads' (val/ridge/...).
    assert ridge["score"]["overall"] == pytest.approx(cli.model.ridge_summary.score.overall, abs=1e-6)
    assert ridge["score"]["overall"] == pytest.approx(float(cli.trainer.callback_metrics["val/ridge/score"]),
                                                      abs=1e-6)
    assert set(ridge["score"]["rois"]) == set(summary["best"]["score"]["rois"])
    assert ridge["score"]["groups"]["sub01/V1"] == pytest.approx(cli.model.ridge_summary.score.groups[("sub01", "V1")])
    best = summary["best"]["score"]["overall"]
    assert summary["gain_over_ridge"] == pytest.approx(best - ridge["score"]["overall"], abs=1e-12)
    out = capsys.readouterr().out
    assert (f"best val/score {best:.4f}; ridge baseline {ridge['score']['overall']:.4f}, "
            f"gain {summary['gain_over_ridge']:+.4f}") in out
