"""The ridge baseline's test score beside the model's (issue 25): fitted at the start of training on a
release with test responses, kept in the checkpoint, written by ``predict.py --score`` under
``"ridge_baseline"`` in test_scores.json, printed in its line and shown by report.py."""

import dataclasses
import json

import pytest
import torch

import predict
from export.predict_run import PredictionRequest, Stimuli, _test_scores
from reports.test_scores import scores_on_test_section, summary_line
from simulator import TINY_CONFIG, generate_dataset
from tests.helpers import fit_tiny

CONFIG = dataclasses.replace(TINY_CONFIG, n_train=12, n_test=6, voxel_scale=0.1, layout="bmd")
SCORES = {"overall": {"score": 0.5123, "r": 0.3011}, "subjects": {"sub-01": {"score": 0.6, "r": 0.4}},
          "rois": {"V1": {"score": None, "r": 0.2}}, "n_test_videos": 102, "definition": "r / sqrt(nc)"}
RIDGE = {"overall": {"score": 0.4012, "r": 0.2501}, "subjects": {"sub-01": {"score": 0.45, "r": 0.31}},
         "rois": {"V1": {"score": None, "r": 0.15}}, "n_test_videos": 102, "definition": "r / sqrt(nc)"}


def test_report_shows_the_ridge_baseline_beside_the_model(tmp_path):
    path = tmp_path / "test_scores.json"
    path.write_text(json.dumps({**SCORES, "ridge_baseline": RIDGE}))
    assert summary_line(path, {**SCORES, "ridge_baseline": RIDGE}) == (
        f"test score 0.512 (mean r 0.301) over 102 test videos; ridge baseline 0.401 (mean r 0.250): {path}")
    _, body = scores_on_test_section([path])
    assert "ridge baseline score" in body and "ridge baseline mean r" in body
    overall = body[body.index("overall"):body.index("subject sub-01")]
    assert overall.index("0.512") < overall.index("0.301") < overall.index("0.401") < overall.index("0.250")
    assert "0.45" in body[body.index("subject sub-01"):]
    # Without a ridge baseline: the model's two columns only.
    path.write_text(json.dumps(SCORES))
    _, body = scores_on_test_section([path])
    assert "ridge baseline" not in body


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("ridge_test_score") / "release", CONFIG, progress=False)


def test_ridge_scores_go_beside_the_model_only_for_the_same_test_videos(root, tmp_path):
    from datamodules.sources.base import Selection
    from datamodules.sources.bmd import BMDSource
    from scoring.layout import TargetLayout

    release = BMDSource(root).read(Selection(rois=("V1",)))
    layout = TargetLayout(release.voxel_counts)
    stimuli = Stimuli(clips=None, first=release.n_train, n_train=release.n_train, test_set=False, release=release)
    request = PredictionRequest(checkpoints=(), output_dir=tmp_path, score=True)
    preds = torch.randn(release.n_test, layout.n_voxels).numpy()
    ridge = {**RIDGE, "n_test_videos": release.n_test}
    files, line = _test_scores(request, stimuli, layout, preds, ridge)
    assert json.loads(files["test_scores.json"])["ridge_baseline"] == ridge
    assert "; ridge baseline 0.401 (mean r 0.250): " in line
    files, line = _test_scores(request, stimuli, layout, preds, RIDGE)  # scored on 102 other videos: left out
    assert "ridge_baseline" not in json.loads(files["test_scores.json"]) and "ridge baseline" not in line


@pytest.mark.slow
def test_a_ridge_only_run_scores_on_test_as_its_own_ridge_baseline(root, tmp_path, capsys):
    # A ridge-only run's heads are the ridge map, so the model's test score (checked against
    # numpy/scipy in test_bmd_source.py) must equal the baseline's, computed in training.
    cli = fit_tiny(root, tmp_path, "--trainer.max_epochs", "1", "--data.n_val", "4",
                   "--data.rois", '["V1", "EBA"]', "--model.ridge.only", "true")
    out = tmp_path / "out"
    capsys.readouterr()
    predict.main(["--ckpt_path", cli.trainer.log_dir, "--data.root", str(root), "--output_dir", str(out), "--score",
                  "--num_workers", "0"])
    printed = capsys.readouterr().out
    scores = json.loads((out / "test_scores.json").read_text())
    ridge = scores["ridge_baseline"]
    assert ridge["n_test_videos"] == CONFIG.n_test
    for key in ("overall",):
        assert ridge[key]["score"] == pytest.approx(scores[key]["score"], abs=1e-4)
        assert ridge[key]["r"] == pytest.approx(scores[key]["r"], abs=1e-4)
    for group, pair in scores["groups"].items():
        assert ridge["groups"][group]["r"] == pytest.approx(pair["r"], abs=1e-4)
    assert f"ridge baseline {ridge['overall']['score']:.3f} (mean r {ridge['overall']['r']:.3f})" in printed
