"""Issue 27 item 4, the requeue path of the movie modes' CLI (``cli/movies.py``), as in clip mode
(``tests/test_slurm.py``): ``fit --ckpt_path last`` starts a fresh run when the run has no
checkpoint and otherwise continues from the newest of ``last.ckpt`` and the SLURM requeue
checkpoint; a requeue signal (SIGUSR1) to a ``configs/movies_finetune.yaml`` fit saves
``hpc_ckpt_1.ckpt`` at the next batch end and calls ``scontrol requeue`` (a stand-in here), and
the same command then resumes from it and finishes the run."""

import json
import os
import subprocess
import sys

import pytest
import torch

from tests.helpers import REPO
from tests.test_movie_finetune_cli import _fit_args, movies_root  # noqa: F401 (a fixture)
from tests.test_slurm import _slurm_env, signal_requeue_after_first_epoch

EPOCHS, BATCHES = 3, 3  # _fit_args' limit_train_batches


@pytest.mark.parametrize("config", ["movies_finetune", "movies_ridge"])
def test_ckpt_path_last_is_a_fresh_start_then_the_newest_checkpoint(movies_root, tmp_path,  # noqa: F811
                                                                    config):
    import train
    from cli.movies import MovieCLI

    run_dir = tmp_path / "runs" / config / "run"
    cli = train.main(["--config", str(REPO / f"configs/{config}.yaml"),
                      "--data.root", str(movies_root), "--data.cache_dir", str(tmp_path / "cache"),
                      "--model.backbone", "test_efficientnet", "--model.pretrained", "false",
                      "--trainer.accelerator", "cpu",
                      "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
                      "--trainer.logger.init_args.version", "run",
                      "--trainer.default_root_dir", str(run_dir)], run=False)
    assert isinstance(cli, MovieCLI)

    def resolved():
        return cli.adjust_subcommand_kwargs("fit", {"ckpt_path": "last"})["ckpt_path"]

    assert resolved() is None  # nothing yet: a fresh start
    last, hpc = run_dir / "checkpoints/last.ckpt", run_dir / "hpc_ckpt_1.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"")
    assert resolved() == str(last)
    hpc.write_bytes(b"")
    os.utime(hpc, ns=(last.stat().st_mtime_ns + 10**9,) * 2)  # the requeue came after the epoch
    assert resolved() == str(hpc)
    assert cli.adjust_subcommand_kwargs("fit", {"ckpt_path": str(last)})["ckpt_path"] == str(last)


@pytest.mark.slow
def test_requeue_signal_checkpoints_requeues_and_the_same_command_resumes(movies_root,  # noqa: F811
                                                                          tmp_path):
    env = _slurm_env(tmp_path)
    run_dir = tmp_path / "runs/movies_finetune/run"
    command = [sys.executable, *_fit_args(
        movies_root, tmp_path, "--trainer.max_epochs", str(EPOCHS),
        "--model.backbone", "test_efficientnet", "--model.pretrained", "false",
        "--trainer.logger.init_args.version", "run", "--trainer.default_root_dir", str(run_dir),
        "--trainer.plugins+", "pytorch_lightning.plugins.environments.SLURMEnvironment",
        "--trainer.plugins.auto_requeue", "false",
        "--trainer.callbacks+", "runtime.slurm_requeue.RequeueOnSignal",
        "--seed_everything", "0", "--ckpt_path", "last")]
    requeued, hpc = tmp_path / "scontrol.log", run_dir / "hpc_ckpt_1.ckpt"
    signal_requeue_after_first_epoch(command, env, run_dir, requeued, timeout=300)
    assert requeued.read_text().split() == ["requeue", "4242"]
    assert hpc.is_file() and not (run_dir / "summary.json").exists()
    step_at_requeue = torch.load(hpc, map_location="cpu", weights_only=False)["global_step"]
    assert BATCHES < step_at_requeue < EPOCHS * BATCHES  # part-way: after epoch 1, before the end

    # The requeued job: the same command, the same job id.
    log = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert log.returncode == 0, log.stderr[-3000:]
    assert f"Restored all states from the checkpoint at {hpc}" in log.stdout + log.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs_run"] == EPOCHS and summary["last"]["r"]["overall"] is not None
    last = torch.load(run_dir / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == EPOCHS * BATCHES  # as many optimiser steps as a run left alone

    # A run left alone, same command elsewhere: the requeued run trained the same segments
    # (the ones it had left, in the same order) to the same weights.
    alone_dir = tmp_path / "runs/movies_finetune/alone"
    alone_command = [{"run": "alone"}.get(part, part.replace(str(run_dir), str(alone_dir)))
                     for part in command]  # its own logger version and folder
    alone = subprocess.run(alone_command, cwd=REPO, env={**env, "SLURM_JOB_ID": "4343"},
                           capture_output=True, text=True, timeout=600)
    assert alone.returncode == 0, alone.stderr[-3000:]
    reference = torch.load(alone_dir / "checkpoints/last.ckpt", map_location="cpu",
                           weights_only=False)["state_dict"]
    assert reference.keys() == last["state_dict"].keys()
    for name, tensor in reference.items():
        torch.testing.assert_close(last["state_dict"][name], tensor, rtol=1e-5, atol=1e-6, msg=name)


def test_training_segments_come_in_the_resumable_epoch_order(movies_root, tmp_path):  # noqa: F811
    """The segments' order follows (seed, epoch) through the clip mode's EpochOrderSampler, which
    skips what a run resumed part-way through an epoch had trained (tests/test_sampling.py); a
    plain shuffling loader would serve a resumed run fresh segments."""
    from datamodules.movies.segment_module import MovieSegmentDataModule
    from datamodules.sampling import EpochOrderSampler

    def module():
        dm = MovieSegmentDataModule(root=str(movies_root), cache_dir=str(tmp_path / "cache"),
                                    image_size=32, segment_trs=4, segment_stride=4, batch_size=2)
        dm.setup("fit")
        dm.context_frames = 3
        return dm

    loader = module().train_dataloader()
    assert isinstance(loader.sampler, EpochOrderSampler)
    batch = next(iter(loader))  # the dataset reads the sampler's (position, epoch) keys
    assert batch["frames"].shape[0] == 2
    again = module().train_dataloader()  # another process, same seed: the same order
    for epoch in (0, 1):
        loader.sampler.set_epoch(epoch), again.sampler.set_epoch(epoch)
        assert list(loader.sampler) == list(again.sampler)
    assert list(loader.sampler.order(0)) != list(loader.sampler.order(1))  # a new order each epoch
