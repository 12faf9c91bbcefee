"""Issue 27 through the real commands on the simulator's tiny movie release (slow tier):
``train.py fit --config configs/movies_finetune.yaml`` then ``predict.py`` to the submission zip,
and the same fit on 2 DDP processes (gloo, CPU) with the correlation loss over both ranks'
segments, crossing the freeze-to-unfreeze transition."""

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from run_folder.contract import RunFolder
from tests.helpers import REPO


@pytest.fixture(scope="module")
def movies_root(tmp_path_factory):
    from simulator.movies import MOVIES_TINY, generate_movies
    root = tmp_path_factory.mktemp("movies") / "release"
    generate_movies(root, MOVIES_TINY, progress=False)
    return root


def _fit_args(root, work, *extra):
    return ["train.py", "fit", "--config", str(REPO / "configs/movies_finetune.yaml"),
            "--data.root", str(root), "--data.image_size", "32",
            "--data.cache_dir", str(work.parent / "cache"),
            "--data.segment_trs", "4", "--data.segment_stride", "4", "--model.window_s", "4",
            "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "3",
            "--trainer.accelerator", "cpu",
            "--trainer.logger.init_args.save_dir", str(work / "runs"), *extra]


def _scalars(run, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(run))
    events.Reload()
    return [e.value for e in events.Scalars(tag)]


@pytest.mark.slow
def test_fit_and_predict_through_the_cli(movies_root, tmp_path):
    fit = subprocess.run([sys.executable, *_fit_args(movies_root, tmp_path)], cwd=REPO,
                         capture_output=True, text=True, timeout=900)
    assert fit.returncode == 0, fit.stderr[-3000:]
    run = tmp_path / "runs/movies_finetune/version_0"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_run"] == 2 and np.isfinite(summary["last"]["r"]["overall"])
    assert np.isfinite(summary["ridge"]["r"]["overall"])  # the heads started from the ridge
    assert _scalars(run, "train/backbone_trainable") == [0.0, 1.0]
    assert len(_scalars(run, "val/score")) == 2
    # the best epoch's validation per parcel, for report.py's maps
    validation = RunFolder(run).read_predictions()
    assert validation.epoch == summary["best_epoch"]
    assert validation.val_score == pytest.approx(summary["best"]["r"]["overall"], abs=1e-6)

    out = tmp_path / "out"
    pred = subprocess.run([sys.executable, "predict.py", "--ckpt_path", str(run),
                           "--data.root", str(movies_root), "--output_dir", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert pred.returncode == 0, pred.stderr[-3000:]
    with zipfile.ZipFile(out / "fmri_predictions_friends_s7.zip") as archive:
        archive.extractall(tmp_path / "unzipped")
    submission = np.load(tmp_path / "unzipped/fmri_predictions_friends_s7.npy",
                         allow_pickle=True).item()
    assert sorted(submission) == ["sub-01", "sub-02"]
    for subject, episodes in submission.items():
        samples = f"fmri/{subject}/target_sample_number/{subject}_friends-s7_fmri_samples.npy"
        expected = np.load(movies_root / samples, allow_pickle=True).item()
        assert {e: a.shape for e, a in episodes.items()} == {e: (n, 14)
                                                             for e, n in expected.items()}
        assert all(a.dtype == np.float32 and np.isfinite(a).all() and a.std() > 0
                   for a in episodes.values())


@pytest.mark.slow
def test_two_process_ddp_fit(movies_root, tmp_path):
    ddp = ["--trainer.devices", "2", "--trainer.strategy", "ddp", "--data.batch_size", "1"]
    fit = subprocess.run([sys.executable, *_fit_args(movies_root, tmp_path, *ddp)], cwd=REPO,
                         capture_output=True, text=True, timeout=1200)
    assert fit.returncode == 0, (fit.stdout + fit.stderr)[-5000:]
    run = tmp_path / "runs/movies_finetune/version_0"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_run"] == 2 and np.isfinite(summary["best"]["r"]["overall"])
    assert _scalars(run, "train/backbone_trainable") == [0.0, 1.0]  # crossed the unfreeze under DDP
    assert (run / "checkpoints/last.ckpt").is_file()
