"""A checkpoint written by the code before the layout change (flat settings, old module paths)
loads with today's code and predicts what the old code predicted (issue 16, item 7); a run folder
and checkpoint written before the run folder's contract (issue 24) read through
:class:`run_folder.contract.RunFolder` and predict what the old code predicted.

The old code is the real one: commits 6376997 and 2d6470a checked out beside this tree with
``git worktree``, trained there in their own process, their predictions taken there too.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from export.checkpoint import load_encoding_model
from reports.runs import load_run
from run_folder.contract import RunFolder
from tests.helpers import FAST, REPO

BEFORE_THE_LAYOUT = "6376997"
BEFORE_THE_CONTRACT = "2d6470a"  # the last commit before issue 24's layout round

_OLD_PREDICT = """
import json, sys, torch
from export.checkpoint import load_encoding_model
model, _ = load_encoding_model(sys.argv[1])
torch.manual_seed(0)
video = torch.randint(0, 256, (3, 4, 3, 32, 32), dtype=torch.uint8)
with torch.no_grad():
    print(json.dumps(model(video).tolist()))
"""


def _worktree(tmp_path_factory, commit: str):
    if subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=REPO).returncode != 0:
        pytest.skip(f"commit {commit} is not in this clone (a shallow one)")
    tree = tmp_path_factory.mktemp(f"old_{commit}") / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=REPO, check=True,
                   capture_output=True)
    yield tree
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True)


@pytest.fixture(scope="module")
def old_tree(tmp_path_factory):
    yield from _worktree(tmp_path_factory, BEFORE_THE_LAYOUT)


@pytest.fixture(scope="module")
def tree_before_contract(tmp_path_factory):
    yield from _worktree(tmp_path_factory, BEFORE_THE_CONTRACT)


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


def _predict(tree: Path, run_dir: Path, out: Path, cache: Path) -> tuple[str, dict[str, np.ndarray]]:
    """``predict.py --ckpt_path <run folder>`` run with the code in ``tree``: its output, and its
    ``.npy`` predictions by ``<subject>/<roi>``."""
    done = subprocess.run([sys.executable, "predict.py", "--ckpt_path", str(run_dir), "--output_dir", str(out),
                           "--num_workers", "0", "--cache_dir", str(cache), "--accelerator", "cpu"],
                          cwd=tree, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = out / "predictions"
    return done.stdout, {str(p.relative_to(folder)): np.load(p) for p in sorted(folder.rglob("*.npy"))}


@pytest.mark.slow
def test_run_folder_before_the_contract_reads_and_predicts_as_before(tree_before_contract, tiny_root, tmp_path):
    runs = tmp_path / "runs"
    subprocess.run([sys.executable, "train.py", "fit", "--config", "configs/demo.yaml", *FAST,
                    "--data.root", str(tiny_root), "--data.synthetic", "null",
                    "--data.cache_dir", str(tmp_path / "cache"), "--trainer.max_epochs", "2",
                    "--trainer.limit_train_batches", "1", "--model.backbone.layers", "[2, 4]",
                    "--model.ridge.pca", "3", "--trainer.logger.init_args.save_dir", str(runs)],
                   cwd=tree_before_contract, check=True, capture_output=True, timeout=900)
    run_dir = next(runs.rglob("summary.json")).parent
    raw = json.loads((run_dir / "summary.json").read_text())  # the old writer's file, read by hand

    folder = RunFolder(run_dir)
    summary = folder.read_summary()
    assert summary.best_score == pytest.approx(raw["best"]["score"]["overall"], abs=0)
    assert summary.ridge_score == pytest.approx(raw["ridge"]["score"]["overall"], abs=0)
    assert summary.gain_over_ridge == pytest.approx(raw["gain_over_ridge"], abs=0)
    assert (summary.best_epoch, summary.epochs_run) == (raw["best_epoch"], raw["epochs_run"])
    assert summary.best.score.groups[("sub01", "V1")] == pytest.approx(raw["best"]["score"]["groups"]["sub01/V1"])
    checkpoint, _ = folder.best_checkpoint()
    assert checkpoint.name == Path(raw["best_checkpoint"]).name and checkpoint.is_file()

    saved = folder.read_predictions()
    with np.load(run_dir / "val_predictions.npz") as z:
        np.testing.assert_array_equal(saved.predictions, z["predictions"])
        np.testing.assert_array_equal(saved.targets, z["targets"])
        np.testing.assert_array_equal(saved.train_index, z["train_index"])
        assert saved.layout.n_voxels == int(z["voxel_counts"].sum()) == saved.predictions.shape[1]
    assert saved.epoch == raw["best_epoch"] and saved.val_score == pytest.approx(summary.best_score)
    assert folder.read_config()["model"]["backbone"]["layers"] == [2, 4]
    assert load_run(run_dir).best_scores["overall"] == pytest.approx(summary.best_score)

    old_out, old = _predict(tree_before_contract, run_dir, tmp_path / "old_out", tmp_path / "old_cache")
    new_out, new = _predict(REPO, run_dir, tmp_path / "new_out", tmp_path / "new_cache")
    assert f"checkpoint: {checkpoint} (the run's best" in old_out and f"checkpoint: {checkpoint} (the run's best" in new_out
    assert sorted(new) == sorted(old) and len(old) == len(saved.groups)
    for name in old:
        np.testing.assert_allclose(new[name], old[name], rtol=1e-5, atol=1e-6, err_msg=name)
