"""Settings the training cannot use are refused naming the setting; a resume with other settings
says which differ and leaves the run folder alone."""

from __future__ import annotations

from pathlib import Path

import pytest

import train
from cli.resume_settings import ResumeSettingsError
from datamodules.algonauts import AlgonautsDataModule
from tests.helpers import FAST, REPO, fit_tiny


def _cli_args(tiny_root: Path, tmp_path: Path, *extra: str) -> list[str]:
    """``train.py`` arguments without a subcommand (``run=False``)."""
    return ["--config", str(REPO / "configs/demo.yaml"), *FAST, "--data.root", str(tiny_root),
            "--data.synthetic", "null", "--data.cache_dir", str(tiny_root.parent / "cache"),
            "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), *extra]


def test_batch_size_one_is_refused_naming_the_setting(tiny_root, tmp_path):
    with pytest.raises(ValueError, match=r"data.batch_size=1: the correlation loss .* needs at least 2"):
        train.main(_cli_args(tiny_root, tmp_path, "--data.batch_size", "1"), run=False)
    AlgonautsDataModule(root=str(tiny_root), batch_size=2)  # the smallest usable batch is accepted


@pytest.mark.parametrize("n_val, expected", [
    (1, r"data.n_val=1 gives 1 validation video\(s\) of 12: the noise ceiling and val/score need at least 3"),
    (2, r"data.n_val=2 gives 2 validation video\(s\) of 12"),
    (11, r"data.n_val=11 leaves 1 training video\(s\) of 12: training needs at least 2 \(lower data.n_val\)"),
])
def test_split_too_small_names_n_val(tiny_root, n_val, expected):
    dm = AlgonautsDataModule(root=str(tiny_root), split="holdout", n_val=n_val, num_workers=0)
    with pytest.raises(ValueError, match=expected):
        dm.setup("fit")


def test_kfold_with_too_few_validation_videos_names_n_folds(tiny_root):
    dm = AlgonautsDataModule(root=str(tiny_root), split="kfold", n_folds=6, num_workers=0)
    with pytest.raises(ValueError, match=r"data.n_folds=6 gives 2 validation video\(s\) .* \(lower data.n_folds\)"):
        dm.setup("fit")


def test_resume_with_other_settings_names_them_and_keeps_config_yaml(tiny_root, tmp_path):
    fixed = ("--trainer.logger.init_args.version", "run1", "--model.ridge.fit", "false", "--trainer.max_epochs", "1")
    cli = fit_tiny(tiny_root, tmp_path, *fixed)
    run = Path(cli.trainer.log_dir)
    config = (run / "config.yaml").read_bytes()
    with pytest.raises(ResumeSettingsError) as err:
        fit_tiny(tiny_root, tmp_path, *fixed, "--trainer.max_epochs", "2", "--data.num_frames", "2",
                 "--model.temporal.kind", "mean", "--ckpt_path", "last")
    message = str(err.value)
    assert "data.num_frames: checkpoint 4, this run 2" in message
    assert "model.temporal.kind: checkpoint weighted, this run mean" in message
    assert "max_epochs" not in message  # a trainer setting may change on resume
    assert (run / "config.yaml").read_bytes() == config


def test_ridge_folds_beyond_the_training_videos_names_model_ridge_folds(tiny_root, tmp_path):
    # 12 videos, 9 for validation: 3 training videos, too few for even 2 folds of >= 2 videos.
    with pytest.raises(ValueError, match=r"n_folds=2 \(model.ridge.folds in train.py\) is too many for n_videos=3 "
                                         r"training videos; use more training videos \(a smaller data.n_val\)"):
        fit_tiny(tiny_root, tmp_path, "--data.n_val", "9", "--trainer.max_epochs", "1")
