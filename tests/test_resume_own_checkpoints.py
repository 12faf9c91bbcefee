"""``--ckpt_path last`` means this run's own checkpoints: a requeue checkpoint (``hpc_ckpt_<n>.ckpt``)
that another run left in the working directory (Lightning's default ``trainer.default_root_dir``,
where its SLURM handler writes) never takes over a new run folder."""

import shutil

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

from run_folder.contract import RunFolder
from runtime.resume import ForeignCheckpointError, check_no_foreign_requeue_checkpoint, latest_checkpoint
from tests.helpers import fit_tiny

SLURM = {"SLURM_NTASKS": "1", "SLURM_JOB_NAME": "train", "SLURM_JOB_ID": "77", "SLURM_NODELIST": "n1"}


def _trainer(tmp_path, root) -> pl.Trainer:
    logger = TensorBoardLogger(save_dir=str(tmp_path / "runs"), name="demo", version="new")
    return pl.Trainer(accelerator="cpu", logger=logger, default_root_dir=str(root), enable_progress_bar=False)


def test_a_requeue_checkpoint_in_the_working_directory_is_not_this_runs(tmp_path, monkeypatch):
    shared = tmp_path / "cwd"
    shared.mkdir()
    torch.save({"epoch": 5}, shared / "hpc_ckpt_1.ckpt")
    trainer = _trainer(tmp_path, shared)
    assert latest_checkpoint(trainer) is None  # a fresh start, not another run's state
    check_no_foreign_requeue_checkpoint(trainer)  # outside SLURM Lightning does not load it by itself
    for key, value in SLURM.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ForeignCheckpointError, match="hpc_ckpt_1.ckpt is a requeue checkpoint of another run"):
        check_no_foreign_requeue_checkpoint(trainer)


def test_the_runs_own_requeue_checkpoint_and_last_ckpt_are_resumed_newest_first(tmp_path, monkeypatch):
    run = RunFolder(tmp_path / "runs" / "demo" / "new")
    run.checkpoints_dir.mkdir(parents=True)
    torch.save({"epoch": 1}, run.last_checkpoint)
    trainer = _trainer(tmp_path, run.path)  # default_root_dir = the run folder (slurm_train.sbatch, kfold.py)
    assert latest_checkpoint(trainer) == str(run.last_checkpoint)
    torch.save({"epoch": 1}, run.path / "hpc_ckpt_1.ckpt")  # written later: newer
    assert latest_checkpoint(trainer) == str(run.path / "hpc_ckpt_1.ckpt")
    for key, value in SLURM.items():
        monkeypatch.setenv(key, value)
    check_no_foreign_requeue_checkpoint(trainer)  # its own: Lightning may restore it


@pytest.mark.slow
def test_new_run_with_ckpt_path_last_ignores_another_runs_checkpoint_in_the_working_directory(
        tiny_root, tmp_path, monkeypatch):
    fixed = ("--trainer.max_epochs", "1", "--model.ridge.fit", "false")
    fit_tiny(tiny_root, tmp_path, *fixed, "--trainer.logger.init_args.version", "a")
    a = RunFolder(tmp_path / "runs" / "demo" / "a")
    shared = tmp_path / "cwd"
    shared.mkdir()
    shutil.copy(a.last_checkpoint, shared / "hpc_ckpt_1.ckpt")  # another run's state in the working directory
    monkeypatch.chdir(shared)
    fit_tiny(tiny_root, tmp_path, *fixed, "--trainer.logger.init_args.version", "b", "--seed_everything", "1",
             "--ckpt_path", "last")
    b = RunFolder(tmp_path / "runs" / "demo" / "b")
    mine, theirs = (torch.load(r.last_checkpoint, weights_only=False)["state_dict"] for r in (b, a))
    assert any(not torch.equal(mine[k], theirs[k]) for k in theirs)  # trained itself, from its own seed
