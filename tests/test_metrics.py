import numpy as np
import pytest
import scipy.stats
import torch

from lightning_modules.metrics import VoxelCorrelation
from scoring.layout import TargetLayout
from scoring.summary import ScoreSummary, score_summary


def test_batched_accumulation_matches_scipy():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(37, 6))
    x = 0.5 * y + rng.normal(size=(37, 6)) * np.linspace(0.1, 5, 6) + 100.0  # large offset: stability
    metric = VoxelCorrelation(6)
    for rows in np.array_split(np.arange(37), 5):
        metric.update(torch.from_numpy(x[rows]).float(), torch.from_numpy(y[rows]).float())
    expected = [scipy.stats.pearsonr(x[:, v].astype(np.float32), y[:, v].astype(np.float32))[0] for v in range(6)]
    np.testing.assert_allclose(metric.compute().numpy(), expected, atol=1e-5)


def test_constant_and_nan_voxels():
    y = torch.randn(20, 3)
    x = torch.randn(20, 3)
    x[:, 1] = 2.0  # constant prediction
    y[3, 2] = float("nan")  # one missing measurement
    metric = VoxelCorrelation(3)
    metric.update(x, y)
    r = metric.compute()
    assert torch.isfinite(r).all()
    assert r[1] == 0
    keep = np.arange(20) != 3
    assert r[2].item() == pytest.approx(scipy.stats.pearsonr(x[keep, 2], y[keep, 2])[0], abs=1e-5)


def test_score_summary_averages_groups_then_subjects_and_regions():
    layout = TargetLayout({"sub01": {"V1": 2, "FFA": 3}, "sub02": {"V1": 1, "FFA": 2}})
    r = torch.tensor([0.2, 0.4, 0.1, 0.1, 0.4, 0.5, 0.3, -0.1])
    ceiling = torch.tensor([0.25, 1.0, 0.5, 0.0, 0.5, 0.25, 0.5, -0.2])
    summary = score_summary(r, ceiling, layout)
    s = summary.logged()
    assert s["r/sub01/V1"] == pytest.approx(0.3)
    assert s["r/sub01/FFA"] == pytest.approx(0.2)
    assert s["r/V1"] == pytest.approx((0.3 + 0.5) / 2)
    assert s["r"] == pytest.approx((0.3 + 0.2 + 0.5 + 0.1) / 4)
    # Voxels with non-positive ceilings are left out of the normalised score.
    assert s["score/sub01/V1"] == pytest.approx((0.4 + 0.4) / 2)
    assert s["score/sub01/FFA"] == pytest.approx((0.1 / np.sqrt(0.5) + 0.4 / np.sqrt(0.5)) / 2)
    assert s["score/sub02/FFA"] == pytest.approx(0.3 / np.sqrt(0.5))
    assert s["n_unreliable_voxels"] == 2
    # The typed fields hold the same numbers; summary.json's form reads back to an equal summary.
    assert summary.score.groups[("sub02", "FFA")] == s["score/sub02/FFA"]
    assert summary.r.subjects["sub01"] == s["r/sub01"] and summary.main == s["score"]
    assert ScoreSummary.from_json(summary.as_json()) == summary
    # A checkpoint from before the type held the flat keys: read back to the same summary.
    assert ScoreSummary.from_json(s) == summary
