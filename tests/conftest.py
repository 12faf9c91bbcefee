"""Shared test settings: CPU only, quiet, deterministic."""

import os

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("PL_DISABLE_FORK", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    """The simulator's TINY release (12 train + 4 test clips, 2 subjects), generated once per session."""
    from simulator import TINY_CONFIG, generate_dataset

    root = tmp_path_factory.mktemp("tiny") / "release"
    generate_dataset(root, TINY_CONFIG, progress=False)
    return root
