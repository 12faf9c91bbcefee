"""A tampered checkpoint cannot run code: checkpoints load with ``weights_only=True``."""

from __future__ import annotations

import os

import pytest
import torch

import predict
from export.checkpoint import read_checkpoint


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "tampered.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "hyper_parameters": _Payload(marker)}, path)
    with pytest.raises(ValueError, match="tampered.ckpt: not a loadable checkpoint"):
        read_checkpoint(path)
    with pytest.raises(SystemExit, match="error: .*tampered.ckpt: not a loadable checkpoint"):
        predict.main(["--ckpt_path", str(path), "--output_dir", str(tmp_path / "out"), "--accelerator", "cpu"])
    assert not marker.exists()
