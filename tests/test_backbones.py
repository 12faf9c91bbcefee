"""Backbones and the VOneNet front end, on tiny randomly initialised models."""

import numpy as np
import pytest
import timm
import torch
import torchvision

from lightning_modules.networks import backbones
from lightning_modules.networks.backbones import build_backbone
from lightning_modules.networks.vonenet import VOneBlock, VOneFrontEnd, sample_gabor_params


@pytest.mark.parametrize(
    "name, size, layers, grid",
    [
        ("resnet18", 32, [0, 2, 4], 1),
        ("resnet18", 32, [-1, 1], 2),
        ("vit_tiny_patch16_224", 32, [0, -1], 1),
        ("vit_tiny_patch16_224", 32, [5], 2),
        ("convnext_atto", 32, [1, 3], 1),
        ("tf_efficientnet_lite0", 32, [0, 4], 1),
        ("torchvision/alexnet", 64, [0, 4, 6], 1),
        ("torchvision/alexnet", 64, [2], 3),
    ],
)
def test_shapes_match_feature_dims(name, size, layers, grid):
    bb = build_backbone(name, layers=layers, pool_grid=grid, image_size=size)
    out = bb(torch.randn(3, 3, size, size))
    assert len(out) == len(layers) == len(bb.feature_dims) == len(bb.layer_names)
    assert [o.shape for o in out] == [(3, d) for d in bb.feature_dims]
    assert bb.input_size == (3, size, size)
    assert len(bb.mean) == len(bb.std) == 3


def test_dims_read_from_model():
    bb = build_backbone("resnet18", layers=[1, 4], pool_grid=2, image_size=32)
    assert bb.feature_dims == [64 * 4, 512 * 4]
    assert bb.layer_names == ["layer1", "layer4"]
    vit = build_backbone("vit_tiny_patch16_224", image_size=32)
    assert vit.feature_dims == [192] and vit.mean == (0.5, 0.5, 0.5)
    alex = build_backbone("torchvision/alexnet", layers=list(range(7)), image_size=64)
    assert alex.feature_dims == [64, 192, 384, 256, 256, 4096, 4096]


def test_layer_order_is_kept():
    torch.manual_seed(1)
    a = build_backbone("resnet18", layers=[4, 1], image_size=32).eval()
    torch.manual_seed(1)
    b = build_backbone("resnet18", layers=[1, 4], image_size=32).eval()
    x = torch.randn(2, 3, 32, 32)
    (a4, a1), (b1, b4) = a(x), b(x)
    torch.testing.assert_close(a4, b4)
    torch.testing.assert_close(a1, b1)


def test_timm_checkpoint_and_last_layer_equals_pre_logits(tmp_path):
    ref = timm.create_model("resnet18", pretrained=False).eval()
    path = tmp_path / "resnet18.pth"
    torch.save(ref.state_dict(), path)
    bb = build_backbone("resnet18", checkpoint_path=str(path), image_size=32).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = ref.forward_head(ref.forward_features(x), pre_logits=True)
        (got,) = bb(x)
    torch.testing.assert_close(got, expected)


def test_torchvision_checkpoint_and_fc7(tmp_path):
    ref = torchvision.models.alexnet(weights=None).eval()
    path = tmp_path / "alexnet.pth"
    torch.save(ref.state_dict(), path)
    bb = build_backbone("torchvision/alexnet", checkpoint_path=str(path), image_size=64).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = ref.classifier[:6](torch.flatten(ref.avgpool(ref.features(x)), 1))
        (got,) = bb(x)
    torch.testing.assert_close(got, expected)
    assert bb.layer_names == ["classifier.5"]


def test_unused_modules_pruned():
    conv_only = build_backbone("torchvision/alexnet", layers=[1], image_size=64)
    assert len(conv_only.model.classifier) == 0
    shallow = build_backbone("resnet18", layers=[1], image_size=32)
    n = sum(p.numel() for p in shallow.parameters())
    assert n < 1e6  # layer2-4 and fc gone; every parameter gets a gradient
    shallow(torch.randn(2, 3, 32, 32))[0].sum().backward()
    assert all(p.grad is not None for p in shallow.parameters())


def test_features_only_fallback_matches(tmp_path, monkeypatch):
    path = tmp_path / "r18.pth"
    torch.save(timm.create_model("resnet18").state_dict(), path)
    kw = dict(checkpoint_path=str(path), layers=[3, 1], image_size=32)
    main = build_backbone("resnet18", **kw).eval()
    monkeypatch.setattr(backbones, "_supports_intermediates", lambda model: False)
    fallback = build_backbone("resnet18", **kw).eval()
    assert fallback.features_only and fallback.feature_dims == main.feature_dims
    x = torch.randn(2, 3, 32, 32)
    for a, b in zip(main(x), fallback(x), strict=True):
        torch.testing.assert_close(a, b)


def test_package_weights_through_features_only_fallback(monkeypatch):
    """The pip-shipped Lite0 weights load into timm's truncated feature model the same way."""
    kw = dict(pretrained=True, layers=[3, 1], image_size=64)
    main = build_backbone("tf_efficientnet_lite0", **kw).eval()
    monkeypatch.setattr(backbones, "_supports_intermediates", lambda model: False)
    fallback = build_backbone("tf_efficientnet_lite0", **kw).eval()
    assert fallback.features_only and fallback.feature_dims == main.feature_dims == [112, 24]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(main(x), fallback(x), strict=True):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(name="resnet18", layers=[5]), "layer 5 out of range: this model has 5 levels"),
        (dict(name="resnet18", layers=[1, -4]), r"duplicate layers in \[1, -4\]"),
        (dict(name="resnet18", layers=[]), "layers is empty"),
        (dict(name="torchvision/resnet18"), "the torchvision adapter needs .*AlexNet, VGG.*got ResNet"),
        (dict(name="vit_tiny_patch16_224", vone_frontend=True), "VOneNet front end replaces a ResNet stem"),
        (dict(name="resnet18", pool_grid=0), "pool_grid must be >= 1, got 0"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_backbone(image_size=32, **kwargs)


# VOneNet front end


def test_gabor_params_deterministic_and_in_published_ranges():
    a, b = sample_gabor_params(300, seed=3), sample_gabor_params(300, seed=3)
    c = sample_gabor_params(300, seed=4)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.allclose(a["sf"], c["sf"])
    assert a["sf"].min() >= 0.5 and a["sf"].max() <= 8.0
    assert a["theta"].min() >= 0 and a["theta"].max() < np.pi
    for k in ("nx", "ny"):
        assert a[k].min() >= 0.1 - 1e-9 and a[k].max() <= 10**0.2 + 1e-9


def test_vone_block_fixed_and_seeded():
    blk = VOneBlock(simple_channels=8, complex_channels=8, image_size=32, seed=0)
    assert list(blk.parameters()) == []
    assert {n for n, _ in blk.named_buffers()} == {"weight_q0", "weight_q1"}
    same = VOneBlock(simple_channels=8, complex_channels=8, image_size=32, seed=0)
    other = VOneBlock(simple_channels=8, complex_channels=8, image_size=32, seed=1)
    torch.testing.assert_close(blk.weight_q0, same.weight_q0)
    assert not torch.allclose(blk.weight_q0, other.weight_q0)
    blk.train()
    x = torch.randn(2, 3, 32, 32)
    y = blk(x)
    assert y.shape == (2, 16, 8, 8) and (y >= 0).all()
    torch.testing.assert_close(blk(x), y)  # noise is off by default


def test_vone_noise_only_in_training():
    blk = VOneBlock(simple_channels=4, complex_channels=4, image_size=32, noise_mode="neuronal")
    x = torch.randn(1, 3, 32, 32)
    assert not torch.equal(blk.train()(x), blk(x))
    torch.testing.assert_close(blk.eval()(x), blk(x))


def test_vone_resnet_frontend_trains_but_filters_do_not():
    bb = build_backbone("resnet18", vone_frontend=True, layers=[0, 4], image_size=32)
    stem = bb.model.conv1
    assert isinstance(stem, VOneFrontEnd)
    out = bb(torch.randn(2, 3, 32, 32))
    assert [o.shape for o in out] == [(2, 64), (2, 512)]
    sum(o.sum() for o in out).backward()
    assert stem.bottleneck.weight.grad is not None
    assert not any(p.requires_grad for p in stem.vone_block.parameters())
