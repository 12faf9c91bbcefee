"""Voxel heads against an explicit per-group loop, and the ridge hand-over."""

import pytest
import torch

from lightning_modules.networks.heads import VoxelHeads
from scoring.layout import TargetLayout

LAYOUT = TargetLayout({"sub01": {"V1": 3, "LOC": 5}, "sub02": {"V1": 2, "FFA": 4, "STS": 1}})
DIMS = [4, 6, 3]


def reference(heads: VoxelHeads, features):
    """Loop over groups: each group's own linear map with its own layer gains."""
    f = [x.double() for x in features]
    gains = heads.layer_gains().double()
    out = torch.empty(f[0].shape[0], heads.layout.n_voxels, dtype=torch.float64)
    for g, grp in enumerate(heads.layout.groups):
        cols = slice(grp.start, grp.stop)
        y = heads.bias[cols].double().clone()
        for i, w in enumerate(heads.weights):
            y = y + gains[g, i] * (f[i] @ w[:, cols].double())
        out[:, cols] = y
    return out


def test_matches_per_group_loop():
    heads = VoxelHeads(DIMS, LAYOUT, init_std=0.5)
    with torch.no_grad():
        heads.mix_logits.normal_()
        heads.bias.normal_()
    feats = [torch.randn(7, d) for d in DIMS]
    out = heads(feats)
    assert out.shape == (7, LAYOUT.n_voxels)
    torch.testing.assert_close(out.double(), reference(heads, feats), rtol=1e-5, atol=1e-5)


def test_gains_start_at_one_and_learn():
    heads = VoxelHeads(DIMS, LAYOUT)
    torch.testing.assert_close(heads.layer_gains(), torch.ones(LAYOUT.n_groups, len(DIMS)))
    heads([torch.randn(4, d) for d in DIMS]).pow(2).sum().backward()
    assert all(p.grad is not None for p in heads.parameters())
    assert heads.mix_logits.grad.abs().sum() > 0


def test_load_linear_reproduces_linear_map():
    heads = VoxelHeads(DIMS, LAYOUT)
    with torch.no_grad():
        heads.mix_logits.normal_()  # load_linear must reset the gains
    coef = torch.randn(sum(DIMS), LAYOUT.n_voxels)
    intercept = torch.randn(LAYOUT.n_voxels)
    heads.load_linear(coef, intercept)
    feats = [torch.randn(5, d) for d in DIMS]
    torch.testing.assert_close(heads(feats), torch.cat(feats, 1) @ coef + intercept)
    with pytest.raises(ValueError):
        heads.load_linear(coef[1:], intercept)


def test_whole_brain_size():
    n = 161_326
    counts = {f"sub{s:02d}": {"WB": n // 10 + (s == 1) * (n % 10)} for s in range(1, 11)}
    layout = TargetLayout(counts)
    heads = VoxelHeads([8, 8], layout)
    assert heads([torch.randn(2, 8), torch.randn(2, 8)]).shape == (2, n)
