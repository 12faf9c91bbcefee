"""The video encoder end to end on a tiny random ResNet-18."""

import pytest
import torch
from torch import nn

from lightning_modules.networks.backbones import build_backbone
from lightning_modules.networks.encoder import VideoEncoder
from scoring.layout import TargetLayout

LAYOUT = TargetLayout({"sub01": {"V1": 3, "FFA": 2}, "sub02": {"V1": 4}})


def make(temporal_kind="mean", frame_diff=False, layers=(2, 4)):
    backbone = build_backbone("resnet18", layers=list(layers), image_size=32)
    return VideoEncoder(backbone, temporal_kind, 3, LAYOUT, hidden_dim=4, frame_diff=frame_diff)


def video(batch=2):
    return torch.randint(0, 256, (batch, 3, 3, 32, 32), dtype=torch.uint8)


@pytest.mark.parametrize("kind, frame_diff", [("mean", False), ("weighted", True), ("lstm", True)])
def test_forward_shapes(kind, frame_diff):
    enc = make(kind, frame_diff)
    v = video()
    assert enc(v).shape == (2, LAYOUT.n_voxels)
    feats = enc.frame_features(v)
    assert [f.shape for f in feats] == [(2, 3, 128), (2, 3, 512)]


def test_uint8_and_float_inputs_agree_and_normalise():
    enc = make().eval()
    v = video()
    torch.testing.assert_close(enc(v), enc(v.float() / 255))
    frames = enc._normalise(torch.full((1, 3, 1, 1), 255, dtype=torch.uint8))
    expected = (1 - torch.tensor(enc.backbone.mean)) / torch.tensor(enc.backbone.std)
    torch.testing.assert_close(frames.flatten(), expected)


def test_frames_batched_in_order():
    enc = make().eval()
    v = video()
    feats = enc.frame_features(v)
    single = enc.frame_features(v[1:2, 2:3])
    torch.testing.assert_close(feats[1][1, 2], single[1][0, 0], rtol=1e-4, atol=1e-5)


def test_gradients_reach_backbone_only_when_unfrozen():
    enc = make()
    enc.freeze_backbone()
    enc(video()).sum().backward()
    assert all(p.grad is None for p in enc.backbone_parameters())
    assert all(p.grad is not None for p in enc.head_parameters())
    enc.zero_grad()
    enc.unfreeze_backbone()
    enc(video()).sum().backward()
    assert all(p.grad is not None for p in enc.backbone_parameters())


def test_parameter_groups_partition():
    enc = make("lstm")
    ids = [id(p) for p in enc.backbone_parameters()] + [id(p) for p in enc.head_parameters()]
    assert sorted(ids) == sorted(id(p) for p in enc.parameters())
    assert len(set(ids)) == len(ids)


def test_frozen_batchnorm_stays_in_eval():
    enc = make()
    bns = [m for m in enc.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    enc.freeze_backbone()
    enc.train()
    assert enc.training and enc.heads.training
    assert not any(bn.training for bn in bns)
    before = [bn.running_mean.clone() for bn in bns]
    enc(video())
    for bn, b in zip(bns, before, strict=True):
        torch.testing.assert_close(bn.running_mean, b)
    enc.unfreeze_backbone()
    assert all(bn.training for bn in bns)
    enc.eval()
    enc.unfreeze_backbone()
    assert not any(bn.training for bn in bns)


def test_freeze_batchnorm_keeps_running_statistics_while_fine_tuning():
    from lightning_modules.networks.backbones import build_backbone
    from lightning_modules.networks.encoder import VideoEncoder
    from scoring.layout import TargetLayout

    encoder = VideoEncoder(build_backbone("resnet18", layers=[4]), "mean", 2, TargetLayout({"s": {"V1": 3}}),
                           freeze_batchnorm=True)
    encoder.freeze_backbone()
    encoder.unfreeze_backbone()
    encoder.train()
    bns = [m for m in encoder.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    before = bns[0].running_mean.clone()
    encoder(torch.randint(0, 255, (2, 2, 3, 32, 32), dtype=torch.uint8)).sum().backward()
    assert torch.equal(bns[0].running_mean, before)
    assert bns[0].weight.grad is not None  # the affine part still trains
