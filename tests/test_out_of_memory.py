"""Out of device memory (injected on the CPU by making the model's forward raise it) ends with a
message naming the settings to lower, in training and in prediction."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import predict
from lightning_modules.system import EncodingModel
from runtime.out_of_memory import DeviceOutOfMemoryError
from tests.faults import predict_tiny
from tests.helpers import fit_tiny

TRAIN_SETTINGS = ("data.batch_size (now 4)", "data.num_frames (now 4)", "data.image_size (now 32)",
                  "data.subjects / data.rois", "voxels per head batch", "trainer.precision (now 32-true)",
                  "bf16-mixed", "trainer.accumulate_grad_batches")


def _raise(error: BaseException):
    def forward(self, video):
        raise error
    return forward


@pytest.mark.parametrize("error", [
    torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory: out of memory"),
], ids=["cuda", "generic"])
def test_out_of_memory_in_training_names_the_settings_to_lower(tiny_root, tmp_path, monkeypatch, error):
    monkeypatch.setattr(EncodingModel, "forward", _raise(error))
    with pytest.raises(DeviceOutOfMemoryError) as info:
        fit_tiny(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--model.ridge.fit", "false")
    message = str(info.value)
    assert message.startswith("out of device memory during fit")
    for setting in TRAIN_SETTINGS:
        assert setting in message, setting
    assert info.value.__cause__ is error and str(error) in message


def test_other_runtime_errors_pass_through_unchanged(tiny_root, tmp_path, monkeypatch):
    error = RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    monkeypatch.setattr(EncodingModel, "forward", _raise(error))
    with pytest.raises(RuntimeError) as info:
        fit_tiny(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--model.ridge.fit", "false")
    assert info.value is error


def test_out_of_memory_in_prediction_names_the_settings_to_lower(tiny_root, tmp_path, monkeypatch, capsys):
    cli = fit_tiny(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--model.ridge.fit", "false",
                   "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1")
    ckpt = Path(cli.trainer.log_dir) / "checkpoints/last.ckpt"
    monkeypatch.setattr(EncodingModel, "forward", _raise(torch.cuda.OutOfMemoryError("CUDA out of memory")))
    with pytest.raises(DeviceOutOfMemoryError, match="during prediction") as info:
        predict_tiny(ckpt, tmp_path / "out")
    for setting in ("--batch_size (now 3)", "--precision (now 32-true)", "bf16-mixed", "--devices"):
        assert setting in str(info.value), setting
    assert not (tmp_path / "out" / ".prediction_shards").exists()
    with pytest.raises(SystemExit, match="error: out of device memory during prediction"):
        predict.main(["--ckpt_path", str(ckpt), "--output_dir", str(tmp_path / "out2"), "--accelerator", "cpu",
                      "--num_workers", "0"])
