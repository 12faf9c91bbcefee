"""Banded ridge inside a run: logged beside the single-band ridge, its map handed to the heads exactly,
its band weights on disk for the report; and on the simulator, the layers it picks follow the hierarchy."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from reports.band_maps import depth_table, load_band_weights
from reports.build import build_report
from tests.helpers import REPO
from tests.helpers import fit_tiny as _fit

BANDED = ("--model.ridge.banded", "true", "--model.ridge.banded_candidates", "8")


def _ridge_only(tiny_root, tmp_path, *extra):
    return _fit(tiny_root, tmp_path, "--config", str(REPO / "configs/ridge_baseline.yaml"),
                "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), *BANDED, *extra)


def test_ridge_only_heads_are_the_banded_map(tiny_root, tmp_path):
    cli = _ridge_only(tiny_root, tmp_path)
    metrics = cli.trainer.callback_metrics
    # The heads hold the banded map, so the model's own validation is banded ridge's; the
    # single-band ridge is logged beside it.
    assert float(metrics["val/score"]) == pytest.approx(float(metrics["val/banded_ridge/score"]), abs=1e-4)
    assert float(metrics["val/r/sub01/V1"]) == pytest.approx(cli.model.banded_summary.r.groups[("sub01", "V1")], abs=1e-4)
    assert "val/ridge/score" in metrics and "val/banded_ridge/score/V1" in metrics
    assert "val/banded_ridge/score/sub02" in metrics
    run_dir = Path(cli.trainer.log_dir)
    bw = load_band_weights(run_dir)
    assert bw.band_names == ["layer1", "layer2", "layer3", "layer4"]
    assert bw.weights.shape == (4, cli.model.layout.n_voxels)
    np.testing.assert_allclose(bw.weights.sum(0), 1.0, atol=1e-5)
    assert (bw.weights >= 0).all()
    # The report picks the file up.
    html = build_report([run_dir], tmp_path / "report", progress=False).read_text()
    assert "Which layer explains which voxel" in html
    assert (tmp_path / "report" / f"depth_{run_dir.parent.name}_{run_dir.name}.png").is_file()


def test_fine_tuning_starts_from_the_banded_map_motion_band_in_the_frame_difference_rows(tiny_root, tmp_path):
    cli = _fit(tiny_root, tmp_path, *BANDED, "--model.ridge.banded_motion", "true",
               "--model.temporal.frame_diff", "true", "--trainer.max_epochs", "1",
               "--model.optimisation.freeze_backbone_epochs", "1", "--model.optimisation.lr", "1e-12",
               "--model.optimisation.warmup_epochs", "0", "--model.ridge.init_heads", "true")
    metrics = cli.trainer.callback_metrics
    # With a vanishing learning rate the heads stay at the banded map, motion band included.
    assert float(metrics["val/score"]) == pytest.approx(float(metrics["val/banded_ridge/score"]), abs=1e-3)
    assert "val/ridge/score" in metrics
    assert load_band_weights(Path(cli.trainer.log_dir)).band_names[-1] == "motion"


#: Small enough for a few minutes on two cores, large enough that the layers' roles show.
SMALL = dict(n_train=96, n_test=8, n_subjects=1, size=64, voxel_scale=0.05, min_voxels=8,
             wb_volume_shape=(24, 28, 22), seed=3)


@pytest.mark.slow
def test_preferred_depth_rises_along_the_hierarchy_and_sts_leans_on_motion(tmp_path):
    from simulator import TINY_CONFIG, generate_dataset

    root = tmp_path / "release"
    generate_dataset(root, dataclasses.replace(TINY_CONFIG, **SMALL), progress=False)
    cli = _fit(root, tmp_path, "--config", str(REPO / "configs/ridge_baseline.yaml"), *BANDED,
               "--model.ridge.banded_candidates", "20", "--model.ridge.banded_motion", "true",
               "--model.temporal.frame_diff", "true", "--data.num_frames", "8", "--data.image_size", "64",
               "--data.n_val", "16", "--data.batch_size", "16")
    bw = load_band_weights(Path(cli.trainer.log_dir))
    _, rois, preferred, motion = depth_table(bw)
    depth = dict(zip(rois, preferred.mean(0), strict=True))
    early = np.mean([depth[r] for r in ("V1", "V2", "V3")])
    category = np.mean([depth[r] for r in ("LOC", "EBA", "FFA", "PPA")])
    # The simulator drives V1-V3 by edge energy in receptive fields, the category regions by
    # object presence: banded ridge should find the first in early layers, the second deep. With
    # the libraries installed on 2026-12-03 (torch 2.14) the gap is 0.68-0.72 of a level over three
    # runs, also with the code before that day's changes (0.68): the margin was 0.75 when first tuned.
    assert early + 0.5 < category, depth
    assert depth["V1"] < depth["LOC"]
    # STS is driven by motion: the motion band is its largest, and larger there than in V1-V3.
    sts = bw.group_means(bw.weights)[("sub01", "STS")]
    assert bw.band_names[int(np.argmax(sts))] == "motion", dict(zip(bw.band_names, sts, strict=True))
    sts_motion = motion[0, rois.index("STS")]
    assert sts_motion > max(motion[0, rois.index(r)] for r in ("V1", "V2", "V3"))
