"""The accuracy study: scores against the simulator's truth, the seed route, and the script end to end."""

import argparse
import json

import numpy as np
import pytest
from scipy.stats import pearsonr

from benchmarks import accuracy, seed_route
from datamodules.safe_pickle import load_pickle
from scoring.layout import TargetLayout
from simulator.truth import load_ground_truth, score_against_truth


@pytest.fixture(scope="module")
def truth_and_layout(tiny_root):
    meta = json.loads((tiny_root / "synthetic_truth" / "meta.json").read_text())
    layout = TargetLayout({s: {r: meta["voxel_counts"][s][r] for r in ("V1", "STS")} for s in meta["subjects"]})
    return load_ground_truth(tiny_root, "mini", layout), layout


def test_truth_follows_the_layout_and_the_simulator_files(tiny_root, truth_and_layout):
    truth, layout = truth_and_layout
    group = layout.groups[-1]
    raw = load_pickle(tiny_root / "synthetic_truth" / "mini_track" / group.subject / f"{group.roi}.pkl")
    cols = slice(group.start, group.stop)
    np.testing.assert_allclose(truth.measured[:, cols], raw["test"].mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(truth.clean[:, cols], raw["clean"][-4:], rtol=1e-6)
    # The ceiling of a 10-repetition mean is above the 3-repetition one the release reports.
    signal = raw["noise_ceiling"] > 0
    assert (truth.ceiling[cols][signal] >= raw["noise_ceiling"][signal] - 1e-6).all()


def test_noise_free_predictions_reach_the_whole_ceiling(truth_and_layout):
    truth, layout = truth_and_layout
    scores = score_against_truth(truth.clean, truth, layout)
    assert scores["r_truth"]["overall"] == pytest.approx(1.0)
    assert scores["ceiling_fraction"]["overall"] == pytest.approx(1.0)


def test_scores_match_scipy_on_one_group(truth_and_layout):
    truth, layout = truth_and_layout
    preds = np.random.default_rng(0).standard_normal(truth.measured.shape).astype(np.float32) + truth.clean
    scores = score_against_truth(preds, truth, layout)
    g = layout.groups[0]
    cols = range(g.start, g.stop)
    keep = [c for c in cols if truth.ceiling[c] > 0]
    r = np.array([pearsonr(preds[:, c], truth.measured[:, c])[0] for c in keep])
    assert scores["r"]["groups"][g.name] == pytest.approx(r.mean(), abs=1e-6)
    assert scores["score"]["groups"][g.name] == pytest.approx((r / np.sqrt(truth.ceiling[keep])).mean(), abs=1e-5)
    best = np.array([pearsonr(truth.clean[:, c], truth.measured[:, c])[0] for c in keep])
    assert scores["ceiling_fraction"]["groups"][g.name] == pytest.approx(r.mean() / best.mean(), abs=1e-5)
    # A region is the mean of its subjects' groups.
    v1 = [v for k, v in scores["r"]["groups"].items() if k.endswith("/V1")]
    assert scores["r"]["rois"]["V1"] == pytest.approx(np.mean(v1))


def test_seed_route_recovers_a_sparse_linear_map():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((120, 20))
    Y = Z[:, :3] @ rng.standard_normal((3, 5)) + 0.1 * rng.standard_normal((120, 5))
    preds, best = seed_route.seed_route_predict(Z[:100], Y[:100], Z[100:], n_rounds=8, n_folds=4)
    r = [pearsonr(preds[:, j], Y[100:, j])[0] for j in range(5)]
    assert min(r) > 0.95 and best["cv_r"] > 0.9


@pytest.mark.slow
def test_study_runs_end_to_end_at_tiny_size(tiny_root, tmp_path):
    models = ["seed-style: PCA-100 + ElasticNet per region", "fine-tune, learned frame weights"]
    out = tmp_path / "results.md"
    accuracy.main(["--data", str(tiny_root), "--cache-dir", str(tiny_root.parent / "cache"), "--n-val", "6",
                   "--image-size", "32", "--num-frames", "4", "--max-epochs", "1", "--num-workers", "0",
                   "--seed-rounds", "2", "--seed-folds", "2", "--work", str(tmp_path / "work"),
                   "--out", str(out), "--models", *models])
    text = out.read_text()
    for name in [*models, "ridge head (ours), frozen features"]:  # the seed route needed the ridge run
        assert (tmp_path / "work" / "results" / f"{accuracy.slug(name)}.json").is_file()
    rows = [line for line in text.splitlines() if line.startswith("| seed") or line.startswith("| fine")]
    assert len(rows) == 2
    assert out.with_suffix(".png").stat().st_size > 10_000
    # A second call reads the stored results instead of training again.
    stored = json.loads((tmp_path / "work" / "results" / f"{accuracy.slug(models[1])}.json").read_text())
    again = accuracy.run_model(argparse.Namespace(work=tmp_path / "work"), tiny_root, models[1])
    assert again == stored


def test_bootstrap_score_is_the_studys_score_and_a_model_ties_with_itself(truth_and_layout):
    from benchmarks.accuracy_bootstrap import paired_bootstrap

    truth, layout = truth_and_layout
    rng = np.random.default_rng(0)
    good = truth.clean + rng.standard_normal(truth.clean.shape) * truth.clean.std(0)
    bad = truth.clean + rng.standard_normal(truth.clean.shape) * 5 * truth.clean.std(0)
    study = {name: score_against_truth(p, truth, layout)["score"] for name, p in (("good", good), ("bad", bad))}
    assert paired_bootstrap(good, good, truth, layout, n_boot=20) == (0.0, 0.0, 0.0)
    full, low, high = paired_bootstrap(good, bad, truth, layout, n_boot=200)
    assert full == pytest.approx(study["good"]["overall"] - study["bad"]["overall"], abs=1e-5)
    assert low <= full <= high and full > 0
    sts = paired_bootstrap(good, bad, truth, layout, roi="STS", n_boot=50)[0]
    assert sts == pytest.approx(study["good"]["rois"]["STS"] - study["bad"]["rois"]["STS"], abs=1e-5)


def test_bootstrap_differences_share_resamples_across_models(truth_and_layout):
    from benchmarks.accuracy_bootstrap import bootstrap_differences

    truth, layout = truth_and_layout
    rng = np.random.default_rng(1)
    noisy = {f"noise x{k}": truth.clean + rng.standard_normal(truth.clean.shape) * k * truth.clean.std(0)
             for k in (1, 3)}
    diffs = bootstrap_differences({**noisy, "truth": truth.clean}, "truth", truth, layout, n_boot=100)
    assert diffs["truth"] == {"diff": 0.0, "low": 0.0, "high": 0.0, "rois": {r: (0.0, 0.0, 0.0) for r in layout.rois}}
    study = {name: score_against_truth(p, truth, layout)["score"] for name, p in {**noisy, "truth": truth.clean}.items()}
    for name in noisy:
        assert diffs[name]["diff"] == pytest.approx(study[name]["overall"] - study["truth"]["overall"], abs=1e-5)
        d, low, high = diffs[name]["rois"]["V1"]
        assert d == pytest.approx(study[name]["rois"]["V1"] - study["truth"]["rois"]["V1"], abs=1e-5)
        assert low <= high
    # More noise scores lower than less noise: the paired differences keep the order on every resample.
    assert diffs["noise x3"]["diff"] < diffs["noise x1"]["diff"] < 0
