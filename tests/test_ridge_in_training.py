"""The ridge baseline inside a run: logged beside the trained heads, its map loaded into them exactly."""

from pathlib import Path

import pytest

import lightning_modules.baseline.frozen_features as frozen_features
import train
from tests.helpers import REPO
from tests.helpers import fit_tiny as _fit


def _ridge_only(tiny_root, tmp_path, *extra):
    return _fit(tiny_root, tmp_path, "--config", str(REPO / "configs/ridge_baseline.yaml"),
                "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), *extra)


@pytest.mark.parametrize("pca", ["null", "3"])
def test_ridge_only_heads_reproduce_the_ridge_scores(tiny_root, tmp_path, pca):
    cli = _ridge_only(tiny_root, tmp_path, "--model.ridge.pca", pca)
    metrics = cli.trainer.callback_metrics
    # The heads hold the ridge map (PCA folded back into feature space) and the backbone is
    # untouched, so the model's own validation equals the ridge fit's validation.
    assert float(metrics["val/score"]) == pytest.approx(float(metrics["val/ridge/score"]), abs=1e-4)
    assert float(metrics["val/r/sub01/V1"]) == pytest.approx(cli.model.ridge_summary.r.groups[("sub01", "V1")], abs=1e-4)
    assert "val/ridge/score/V1" in metrics and "val/ridge/score/sub02" in metrics
    assert Path(cli.trainer.checkpoint_callback.last_model_path).is_file()


def test_features_are_cached_and_reused(tiny_root, tmp_path, monkeypatch):
    _ridge_only(tiny_root, tmp_path)
    assert list((tiny_root.parent / "cache").glob("features-*.npy"))

    def fail(*args, **kwargs):
        raise AssertionError("features were extracted again instead of read from the cache")

    monkeypatch.setattr(frozen_features, "extract_features", fail)
    monkeypatch.setattr("lightning_modules.baseline.ridge_baseline.extract_features", fail)
    _ridge_only(tiny_root, tmp_path)


def test_fine_tuning_starts_from_ridge_and_logs_it(tiny_root, tmp_path):
    cli = _fit(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--model.optimisation.freeze_backbone_epochs", "1",
               "--model.optimisation.lr", "1e-12", "--model.optimisation.warmup_epochs", "0", "--model.ridge.init_heads", "true")
    metrics = cli.trainer.callback_metrics
    # With a vanishing learning rate the ridge-initialised heads barely move.
    assert float(metrics["val/score"]) == pytest.approx(float(metrics["val/ridge/score"]), abs=1e-3)


def test_no_ridge_means_random_heads(tiny_root, tmp_path):
    cli = _fit(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--model.ridge.fit", "false",
               "--trainer.limit_train_batches", "1")
    assert "val/ridge/score" not in cli.trainer.callback_metrics
    assert cli.model.ridge_summary is None


def test_lstm_keeps_random_heads_but_logs_ridge(tiny_root, tmp_path):
    fresh = train.main(["--config", str(REPO / "configs/demo.yaml"), "--data.root", str(tiny_root),
                        "--model.temporal.kind", "lstm", "--model.temporal.lstm_hidden", "8", "--data.num_frames", "4",
                        "--data.image_size", "32"], run=False).model
    cli = _fit(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--model.temporal.kind", "lstm",
               "--model.temporal.lstm_hidden", "8", "--trainer.limit_train_batches", "0")
    assert cli.model.ridge_summary is not None  # fitted at the start of fit (no training batch here)
    cli.trainer.validate(cli.model, datamodule=cli.datamodule, verbose=False)  # and logged at validation
    assert float(cli.trainer.callback_metrics["val/ridge/score"]) == pytest.approx(cli.model.ridge_summary.main)
    assert cli.model.model.heads.bias.abs().sum() == fresh.model.heads.bias.abs().sum() == 0


def test_rescale_to_targets_keeps_correlation_and_matches_spread():
    import numpy as np
    import torch

    from lightning_modules.baseline.ridge_baseline import rescale_to_targets

    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(30, 5, generator=g), torch.randn(30, 4, generator=g) * 3 + 1
    coef = torch.randn(5, 4, generator=g) * 1e-4  # heavily shrunk
    new_coef, intercept = rescale_to_targets(coef, X, Y)
    before, after = X @ coef, X @ new_coef + intercept
    for v in range(4):
        assert np.corrcoef(before[:, v], Y[:, v])[0, 1] == pytest.approx(np.corrcoef(after[:, v], Y[:, v])[0, 1],
                                                                            abs=1e-4)
    torch.testing.assert_close(after.std(0), Y.std(0), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(after.mean(0), Y.mean(0), rtol=1e-4, atol=1e-4)


def test_ridge_only_checkpoint_predicts_and_exports(tiny_root, tmp_path):
    import predict

    cli = _ridge_only(tiny_root, tmp_path)
    out = tmp_path / "out"
    predict.predict(predict.parse_args(["--ckpt_path", cli.trainer.checkpoint_callback.last_model_path,
                                        "--output_dir", str(out), "--num_workers", "0",
                                        "--cache_dir", str(tiny_root.parent / "cache")]))
    assert (out / "mini_track.zip").is_file() and (out / "predictions" / "sub01" / "V1.npy").is_file()


def test_one_penalty_per_region_reaches_the_fit(tiny_root, tmp_path, monkeypatch):
    import lightning_modules.baseline.handover as handover

    fits = []

    def recording_fit(*args, **kwargs):
        fits.append(handover.fit_ridge_baseline.__wrapped__(*args, **kwargs))
        return fits[-1]

    recording_fit.__wrapped__ = handover.fit_ridge_baseline
    monkeypatch.setattr(handover, "fit_ridge_baseline", recording_fit)
    cli = _ridge_only(tiny_root, tmp_path, "--model.ridge.alpha_per", "region")
    alphas = fits[0].best_alphas.numpy()
    for group in cli.model.layout.groups:
        assert len(set(alphas[group.start:group.stop].tolist())) == 1, group.name
    metrics = cli.trainer.callback_metrics
    assert float(metrics["val/score"]) == pytest.approx(float(metrics["val/ridge/score"]), abs=1e-4)
