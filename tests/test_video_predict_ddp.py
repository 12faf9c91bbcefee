"""A video backbone through predict.py and through a 2-process DDP fit (issue 28).

- A tiny random-init ``torchvision/r3d_18`` run reading consecutive frames at 15 Hz trains, then a
  real ``python predict.py`` exports the test videos: its predictions are the trained model's own
  forward on clips read with the checkpoint's sampling (and not on the default spread clips).
- The video demo config (the inflated Lite0) fits on 2 CPU processes (gloo), crossing the
  freeze-to-unfreeze transition with the ranks' weights identical at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import train
from datamodules.clip_cache import ClipCache
from datamodules.frame_sampling import SPREAD, FrameSampling
from datamodules.release import list_videos
from tests.helpers import FAST, REPO, release_args
from tests.test_ddp_fit import _check_crossed_the_freeze, _ddp_fit

AT_15 = FrameSampling("consecutive", 15)
R3D = ["--model.backbone.name", "torchvision/r3d_18", "--model.backbone.pretrained", "false",
       "--model.backbone.layers", "[2, 4]", "--data.frame_sampling", "consecutive", "--data.frame_rate", "15"]


@pytest.mark.slow
def test_a_video_backbone_run_trains_then_predict_py_exports_it(tiny_root, tmp_path):
    cli = train.main(["fit", "--config", str(REPO / "configs/video_demo.yaml"), *FAST, *R3D,
                      "--trainer.max_epochs", "1", "--model.ridge.fit", "false",
                      *release_args(tiny_root, tmp_path / "runs")])
    model = cli.model.eval()
    assert cli.datamodule.clips.sampling == AT_15 and cli.datamodule.clips.path.name.split("-")[4] == "c15hz"
    checkpoint = Path(cli.trainer.log_dir) / "checkpoints" / "last.ckpt"
    out = tmp_path / "out"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, str(REPO / "predict.py"), "--ckpt_path", str(checkpoint),
                           "--output_dir", str(out), "--accelerator", "cpu", "--num_workers", "0",
                           "--batch_size", "4"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    layout = model.layout
    exported = np.concatenate([np.load(out / "predictions" / g.subject / f"{g.roi}.npy") for g in layout.groups],
                              axis=1)
    videos = list_videos(tiny_root)
    n_train = cli.datamodule.release.n_train
    assert exported.shape == (len(videos) - n_train, layout.n_voxels)

    def forward(sampling: FrameSampling) -> np.ndarray:
        clips = ClipCache(tmp_path / "own_cache", videos[n_train:], num_frames=4, size=32, backend="decord",
                          sampling=sampling).build(progress=False)
        with torch.no_grad():
            return model(torch.from_numpy(np.array(clips.array))).numpy()

    np.testing.assert_allclose(exported, forward(AT_15), rtol=1e-5, atol=1e-5)
    assert np.abs(exported - forward(SPREAD)).max() > 1e-3  # the sampling matters to this model


@pytest.mark.slow
def test_two_process_fit_of_the_video_demo_crosses_the_freeze(tiny_root, tmp_path):
    record = _ddp_fit(tiny_root, tmp_path, ["video_demo.yaml"], "--model.ridge.fit", "true")
    _check_crossed_the_freeze(record)
    assert "val/ridge/score" in record["callback_metrics"]
