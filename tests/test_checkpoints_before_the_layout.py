"""A checkpoint written by the code before the layout change (flat settings, old module paths)
loads with today's code and predicts what the old code predicted (issue 16, item 7).

The old code is the real one: commit 6376997 checked out beside this tree with ``git worktree``,
trained there in its own process, its predictions taken there too.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from export.checkpoint import load_encoding_model
from tests.helpers import FAST, REPO

BEFORE_THE_LAYOUT = "6376997"

_OLD_PREDICT = """
import json, sys, torch
from export.checkpoint import load_encoding_model
model, _ = load_encoding_model(sys.argv[1])
torch.manual_seed(0)
video = torch.randint(0, 256, (3, 4, 3, 32, 32), dtype=torch.uint8)
with torch.no_grad():
    print(json.dumps(model(video).tolist()))
"""


@pytest.fixture(scope="module")
def old_tree(tmp_path_factory):
    if subprocess.run(["git", "cat-file", "-e", f"{BEFORE_THE_LAYOUT}^{{commit}}"], cwd=REPO).returncode != 0:
        pytest.skip(f"commit {BEFORE_THE_LAYOUT} is not in this clone (a shallow one)")
    tree = tmp_path_factory.mktemp("old") / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), BEFORE_THE_LAYOUT], cwd=REPO, check=True,
                   capture_output=True)
    yield tree
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True)


@pytest.mark.slow
def test_old_checkpoint_loads_and_predicts_as_before(old_tree, tiny_root, tmp_path):
    runs = tmp_path / "runs"
    subprocess.run([sys.executable, "train.py", "fit", "--config", "configs/demo.yaml", *FAST,
                    "--data.root", str(tiny_root), "--data.synthetic", "null",
                    "--data.cache_dir", str(tmp_path / "cache"), "--trainer.max_epochs", "1",
                    "--trainer.limit_train_batches", "1", "--model.layers", "[2, 4]", "--model.ridge_pca", "3",
                    "--trainer.logger.init_args.save_dir", str(runs)],
                   cwd=old_tree, check=True, capture_output=True, timeout=900)
    checkpoint = next(runs.rglob("last.ckpt"))
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)["hyper_parameters"]
    assert saved["backbone"] == "tf_efficientnet_lite0" and saved["ridge_pca"] == 3  # really the flat form
    old = subprocess.run([sys.executable, "-c", _OLD_PREDICT, str(checkpoint)], cwd=old_tree, check=True,
                         capture_output=True, text=True, timeout=300).stdout
    model, data = load_encoding_model(checkpoint)
    assert model.settings.backbone.layers == [2, 4] and model.settings.ridge.pca == 3
    assert model.settings.temporal.kind == saved["temporal"] and data["num_frames"] == 4
    torch.manual_seed(0)
    video = torch.randint(0, 256, (3, 4, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        new = model(video).numpy()
    np.testing.assert_allclose(new, np.array(json.loads(old.strip().splitlines()[-1])), rtol=1e-5, atol=1e-6)
