"""``predict.py --ckpt_path <run folder>`` uses the run's best checkpoint and says which."""

import json
from pathlib import Path

import pytest

import predict
from export.best_checkpoint import resolve_checkpoint
from tests.helpers import fit_tiny


def _run_folder(tmp_path: Path, summary: dict | None, files=("best-epoch003.ckpt", "last.ckpt")) -> Path:
    run = tmp_path / "runs" / "demo" / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    for name in files:
        (run / "checkpoints" / name).write_bytes(b"x")
    if summary is not None:
        (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_run_folder_means_the_best_checkpoint_its_summary_names(tmp_path):
    # The summary names the path as the training saw it (relative to another working folder):
    # the file is found in the run's own checkpoints/ by name.
    run = _run_folder(tmp_path, {"best_checkpoint": "elsewhere/checkpoints/best-epoch003.ckpt", "best_epoch": 3,
                                 "best": {"score": {"overall": 0.5179}}})
    path, line = resolve_checkpoint(run)
    assert path == run / "checkpoints" / "best-epoch003.ckpt"
    assert "best val/score 0.5179, epoch 3" in line and str(path) in line


def test_file_is_itself_and_unfinished_run_falls_back(tmp_path):
    run = _run_folder(tmp_path, None, files=("last.ckpt",))
    assert resolve_checkpoint(run / "checkpoints" / "last.ckpt")[0] == run / "checkpoints" / "last.ckpt"
    path, line = resolve_checkpoint(run)  # stopped before its summary, no best file: the latest epoch
    assert path == run / "checkpoints" / "last.ckpt" and "latest epoch" in line
    with pytest.raises(FileNotFoundError, match="no such checkpoint file or run folder"):
        resolve_checkpoint(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="without checkpoints"):
        resolve_checkpoint(tmp_path / "empty")


def test_predict_takes_a_run_folder(tiny_root, tmp_path, capsys):
    cli = fit_tiny(tiny_root, tmp_path, "--trainer.max_epochs", "2", "--model.ridge.fit", "false",
                   "--trainer.limit_val_batches", "1")
    run_dir = Path(cli.trainer.log_dir)
    best = Path(json.loads((run_dir / "summary.json").read_text())["best_checkpoint"]).name
    capsys.readouterr()
    predict.main(["--ckpt_path", str(run_dir), "--output_dir", str(tmp_path / "out"), "--num_workers", "0",
                  "--cache_dir", str(tiny_root.parent / "cache")])
    out = capsys.readouterr().out
    assert f"checkpoint: {run_dir / 'checkpoints' / best} (the run's best" in out
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [Path(p).name for p in manifest["checkpoints"]] == [best]
