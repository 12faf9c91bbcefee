"""A run keeps what resuming and prediction need: ``last.ckpt`` in full (optimiser, loops, random
generators), the best checkpoint as weights with the model's and data's settings, much smaller."""

import json
from pathlib import Path

from export.checkpoint import load_encoding_model, read_checkpoint
from tests.helpers import fit_tiny


def test_best_checkpoint_holds_weights_and_settings_only(tiny_root, tmp_path):
    cli = fit_tiny(tiny_root, tmp_path, "--trainer.max_epochs", "2", "--model.ridge.fit", "false",
                   "--trainer.limit_val_batches", "1")
    run_dir = Path(cli.trainer.log_dir)
    best_path = Path(json.loads((run_dir / "summary.json").read_text())["best_checkpoint"])
    last_path = run_dir / "checkpoints" / "last.ckpt"
    best, last = read_checkpoint(best_path), read_checkpoint(last_path)
    assert "optimizer_states" in last and "callbacks" in last and "lr_schedulers" in last
    assert not {"optimizer_states", "callbacks", "lr_schedulers"} & best.keys()
    assert best["hyper_parameters"]["voxel_counts"] and best["datamodule_hyper_parameters"]["num_frames"] == 4
    assert best.keys() >= {"state_dict", "epoch"}
    # AdamW keeps two moments per weight: without them the file is a good deal smaller.
    assert best_path.stat().st_size < 0.6 * last_path.stat().st_size
    model, data = load_encoding_model(best_path)  # what predict.py does
    assert data["image_size"] == 32 and model.layout == cli.model.layout
