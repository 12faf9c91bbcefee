"""The clear error before training when the voxel heads' weights, gradients and AdamW states would
not fit the training device (issue 25, item 4)."""

import pytest
import torch

from lightning_modules import head_memory
from lightning_modules.head_memory import HeadsTooLargeError, check_heads_fit, heads_bytes
from lightning_modules.settings import SettingsError
from tests.helpers import fit_tiny


def test_bytes_count_weights_gradients_and_both_adam_moments():
    assert heads_bytes(1000, torch.device("cuda")) == 4 * 4 * 1000
    assert heads_bytes(1000, torch.device("cpu")) == 3 * 4 * 1000  # the weights are already in RAM


def test_whole_brain_heads_on_a_24_gb_gpu_are_refused_in_one_line_saying_what_to_do():
    n_voxels, n_features = 1_080_000, 1280
    with pytest.raises(HeadsTooLargeError) as err:
        check_heads_fit(n_voxels * (n_features + 1), n_voxels, "cuda", free=16 * 2**30)
    message = str(err.value)
    assert "\n" not in message and isinstance(err.value, SettingsError)  # train.py prints it as one line
    assert "1,080,000 voxels" in message and "20.6 GiB on cuda" in message and "16.0 GiB is free" in message
    assert "--data.rois BMDgeneral" in message and "--model.ridge.only true" in message
    check_heads_fit(100_000 * 1281, 100_000, "cuda", free=16 * 2**30)  # BMDgeneral-sized: fits


def test_a_run_whose_heads_would_not_fit_stops_before_the_first_step(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setattr(head_memory, "available_bytes", lambda device: 1000)
    with pytest.raises(HeadsTooLargeError, match="need .* GiB on cpu"):
        fit_tiny(tiny_root, tmp_path)
    assert not list((tmp_path / "runs").rglob("*.ckpt"))
