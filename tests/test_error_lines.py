"""Bad settings and states that ended in a traceback end in one ``error:`` line naming the file
or setting and what to do (issue 30, item 15)."""

import subprocess
import sys

import pytest
import torch

import train
from cli.resume_settings import ResumeSettingsError, check_resume_settings
from datamodules.settings_checks import DataSettingsError
from run_folder.contract import RunFolder
from runtime.accelerator_check import AcceleratorUnavailableError, check_accelerator
from tests.helpers import FAST, REPO, fit_tiny


@pytest.mark.parametrize("setting, value", [("data.num_frames", "0"), ("data.image_size", "0")])
def test_clips_of_no_frames_or_pixels_are_refused_before_the_cache_is_touched(tiny_root, tmp_path, setting, value):
    cache = tmp_path / "cache"
    with pytest.raises(DataSettingsError, match=rf"{setting}={value} "):
        train.main(["fit", "--config", str(REPO / "configs/demo.yaml"), *FAST, "--data.root", str(tiny_root),
                    "--data.synthetic", "null", "--data.cache_dir", str(cache), f"--{setting}", value,
                    "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")])
    assert not cache.exists() and not (tmp_path / "runs").exists()  # no partial cache file, no run folder


def test_accelerator_without_its_device_names_the_setting(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(AcceleratorUnavailableError, match=r"--trainer.accelerator gpu: this machine has no CUDA GPU "
                                                          r".*use --trainer.accelerator cpu"):
        check_accelerator("gpu", "--trainer.accelerator")
    check_accelerator("cpu", "--trainer.accelerator")
    check_accelerator("auto", "--trainer.accelerator")


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.parametrize("command", ["train", "predict"])
def test_gpu_asked_on_a_machine_without_one_is_one_error_line(tiny_root, tmp_path, command):
    if command == "train":
        argv = [str(REPO / "train.py"), "fit", "--config", str(REPO / "configs/demo.yaml"), *FAST,
                "--data.root", str(tiny_root), "--trainer.accelerator", "gpu"]
    else:
        argv = [str(REPO / "predict.py"), "--ckpt_path", str(tmp_path / "any.ckpt"), "--output_dir",
                str(tmp_path / "out"), "--accelerator", "gpu"]
    done = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: --")
    assert "accelerator gpu: this machine has no CUDA GPU" in done.stderr


def test_resuming_from_a_weights_only_best_checkpoint_says_to_use_last_ckpt(tmp_path):
    best = tmp_path / "checkpoints" / "best-epoch003.ckpt"
    best.parent.mkdir()
    torch.save({"state_dict": {}, "hyper_parameters": {"num_frames": 4}, "epoch": 3}, best)
    with pytest.raises(ResumeSettingsError, match=rf"{best} holds the weights only .* Resume from "
                                                  rf"{best.parent / 'last.ckpt'} \(--ckpt_path last\)"):
        check_resume_settings(best, {"num_frames": 4})


@pytest.mark.slow
def test_fit_from_the_best_checkpoint_is_refused_and_config_yaml_kept(tiny_root, tmp_path):
    fixed = ("--model.ridge.fit", "false", "--trainer.logger.init_args.version", "r")
    fit_tiny(tiny_root, tmp_path, *fixed, "--trainer.max_epochs", "1")
    run = RunFolder(tmp_path / "runs" / "demo" / "r")
    config = run.config_path.read_bytes()
    best = next(run.checkpoints_dir.glob("best-*.ckpt"))
    with pytest.raises(ResumeSettingsError, match="holds the weights only"):
        fit_tiny(tiny_root, tmp_path, *fixed, "--trainer.max_epochs", "2", "--ckpt_path", str(best),
                 "--data.num_frames", "2")
    assert run.config_path.read_bytes() == config
