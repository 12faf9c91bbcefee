"""Commands print only warnings that tell the user something: no litlogger tip, no warnings
about the optimiser a ridge-only run does not need, about LightningCLI's args when train.main is
called from Python (sweep trials), or about the checkpoint folder a resumed run writes into."""

import logging
import warnings

from tests.helpers import REPO, fit_tiny

NOISE = ("configure_optimizers` returned `None`", "`training_step` returned `None`",
         "LightningCLI's args parameter", "exists and is not empty", "smaller than the logging interval",
         "LeafSpec")


def test_ridge_only_run_and_its_resume_print_no_noise(tiny_root, tmp_path, caplog):
    ridge = ("--config", str(REPO / "configs/ridge_baseline.yaml"), "--trainer.logger.init_args.save_dir",
             str(tmp_path / "runs"), "--trainer.logger.init_args.version", "run")
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        fit_tiny(tiny_root, tmp_path, *ridge)
        resumed = fit_tiny(tiny_root, tmp_path, *ridge, "--trainer.max_epochs", "2", "--ckpt_path", "last")
    assert resumed.trainer.current_epoch == 2  # it did resume into the same, non-empty folder
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if any(n in m for n in NOISE)], messages
    assert not [r for r in caplog.records if "litlogger" in r.getMessage()]
