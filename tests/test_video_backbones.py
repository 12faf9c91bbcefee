"""torchvision's video networks as backbones: every one builds and trains a step on tiny clips,
a state dict saved from torchvision loads through checkpoint_path and gives torchvision's own
features, their blocks take part in layer-wise rates, and the encoder hands them whole clips."""

import pytest
import torch
import torchvision

from lightning_modules.networks.backbone_depth import depth_groups
from lightning_modules.networks.backbones import build_backbone
from lightning_modules.networks.encoder import VideoEncoder
from lightning_modules.networks.package_weights import WeightsMismatchError
from lightning_modules.networks.video_backbones import VIDEO_MODELS, VideoFeatureExtractor
from scoring.layout import TargetLayout

# Small enough for the CPU: 8 frames of 32 px (the MViTs take only 16 frames of 224 px).
LIGHT = ["r3d_18", "mc3_18", "r2plus1d_18", "s3d"]
HEAVY = ["swin3d_t", "swin3d_s", "swin3d_b", "mvit_v2_s", "mvit_v1_b"]


def _clip_shape(arch):
    return (16, 224) if VIDEO_MODELS[arch].fixed_clip else (8, 32)


def test_every_torchvision_video_model_is_covered():
    assert set(torchvision.models.list_models(module=torchvision.models.video)) == set(VIDEO_MODELS)
    assert set(LIGHT) | set(HEAVY) == set(VIDEO_MODELS)


def _trains_one_step(arch):
    frames, size = _clip_shape(arch)
    torch.manual_seed(0)
    backbone = build_backbone(f"torchvision/{arch}", layers=[0, -1], image_size=size)
    assert isinstance(backbone, VideoFeatureExtractor)
    layout = TargetLayout({"sub01": {"V1": 3, "STS": 2}})
    model = VideoEncoder(backbone, "weighted", frames, layout)
    video = torch.randint(0, 256, (2, frames, 3, size, size), dtype=torch.uint8)
    feats = model.frame_features(video)
    assert [tuple(f.shape) for f in feats] == [(2, frames, d) for d in backbone.feature_dims]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss = (model(video) - torch.randn(2, layout.n_voxels)).pow(2).mean()
    loss.backward()
    # Every parameter (the trunk is cut after the deepest read-out) gets a gradient, as DDP needs.
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing[:5]
    opt.step()
    moved = [n for n, p in model.named_parameters() if n.startswith("backbone.") and not torch.equal(p, before[n])]
    assert moved and any(n.startswith("backbone.model.") for n in moved)


# One video ResNet and S3D in the default tier; the other two ResNets share their trunk code.
@pytest.mark.parametrize("arch", [a if a in ("r3d_18", "s3d") else pytest.param(a, marks=pytest.mark.slow)
                                  for a in LIGHT])
def test_light_video_model_trains_a_step(arch):
    _trains_one_step(arch)


@pytest.mark.slow
@pytest.mark.parametrize("arch", HEAVY)
def test_heavy_video_model_trains_a_step(arch):
    _trains_one_step(arch)


def _torchvision_reference(arch, model, clip):
    """The torchvision model's own maps of its last read-out level, pooled over space."""
    x = clip.transpose(1, 2)
    if arch.startswith(("r3d", "mc3", "r2plus1d")):
        for name in ("stem", "layer1", "layer2", "layer3", "layer4"):
            x = getattr(model, name)(x)
        return x.mean(dim=(3, 4)).transpose(1, 2)
    if arch == "s3d":
        return model.features(x).mean(dim=(3, 4)).transpose(1, 2)
    raise AssertionError(arch)


@pytest.mark.parametrize("arch", ["r2plus1d_18", "s3d"])
def test_torchvision_state_dict_loads_through_checkpoint_path(arch, tmp_path):
    torch.manual_seed(1)
    reference = torchvision.models.get_model(arch).eval()
    path = tmp_path / f"{arch}.pth"
    torch.save(reference.state_dict(), path)
    backbone = build_backbone(f"torchvision/{arch}", checkpoint_path=str(path), image_size=32).eval()
    clip = torch.randn(2, 8, 3, 32, 32)
    with torch.no_grad():
        ours = backbone(clip)[0]
        theirs = _torchvision_reference(arch, reference, clip)
        # The classifier's own path: global average of the last map = our per-frame features' mean.
        if arch == "r2plus1d_18":
            reference.fc = torch.nn.Identity()
            torch.testing.assert_close(ours.mean(dim=1), reference(clip.transpose(1, 2)), rtol=1e-5, atol=1e-5)
    steps = theirs.shape[1]
    assert steps < 8  # the network strides over time; each frame gets the step covering it
    torch.testing.assert_close(ours, theirs[:, torch.arange(8) * steps // 8], rtol=0, atol=0)


def test_a_wrong_checkpoint_is_refused_naming_the_key(tmp_path):
    state = torchvision.models.get_model("r3d_18").state_dict()
    state["layer1.0.conv1.0.weight"] = state["layer1.0.conv1.0.weight"][:, :, :1]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(WeightsMismatchError, match="layer1.0.conv1.0.weight"):
        build_backbone("torchvision/r3d_18", checkpoint_path=str(tmp_path / "bad.pth"), image_size=32)


def test_video_backbone_blocks_for_layer_wise_rates():
    backbone = build_backbone("torchvision/r3d_18", layers=[2], image_size=32)
    blocks = depth_groups(backbone)
    names = {id(p): n for n, p in backbone.model.named_parameters()}
    assert all(names[id(p)].startswith("stem.") for p in blocks[0])
    assert [sorted({names[id(p)].split(".")[0] + "." + names[id(p)].split(".")[1] for p in b}) for b in blocks[1:]] \
        == [["layer1.0"], ["layer1.1"], ["layer2.0"], ["layer2.1"]]
    assert sum(len(b) for b in blocks) == len(list(backbone.parameters()))  # layer3/4 were cut


def test_swin_blocks_put_patch_merging_between_stages():
    backbone = build_backbone("torchvision/swin3d_t", layers=[1], image_size=32)
    names = {id(p): n for n, p in backbone.model.named_parameters()}
    firsts = [names[id(b[0])] for b in depth_groups(backbone)]
    assert firsts[0].startswith("patch_embed.")
    assert [n.rsplit(".", 2)[0] for n in firsts[1:]] == ["features.0.0", "features.0.1", "features.1",
                                                           "features.2.0", "features.2.1"]


def test_pool_grid_keeps_time_and_mvit_refuses_other_clips():
    backbone = build_backbone("torchvision/r3d_18", layers=[1], pool_grid=2, image_size=32)
    assert backbone.feature_dims == [64 * 4]
    assert backbone(torch.randn(1, 4, 3, 32, 32))[0].shape == (1, 4, 256)
    with pytest.raises(ValueError, match="data.image_size: 224"):
        build_backbone("torchvision/mvit_v2_s", image_size=112)


def test_video_backbone_carries_its_normalisation():
    backbone = build_backbone("torchvision/r2plus1d_18", layers=[0], image_size=32)
    weights = torchvision.models.get_model_weights("r2plus1d_18").DEFAULT.transforms()
    assert backbone.mean == tuple(weights.mean) and backbone.std == tuple(weights.std)
    assert (backbone.clip_len, backbone.frame_rate) == (16, 15)
    # The encoder normalises whole clips with it: the backbone sees (x / 255 - mean) / std.
    model = VideoEncoder(backbone, "mean", 4, TargetLayout({"s": {"V1": 1}}))
    seen = []
    backbone.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    video = torch.randint(0, 256, (1, 4, 3, 32, 32), dtype=torch.uint8)
    model.frame_features(video)
    mean, std = torch.tensor(weights.mean).view(3, 1, 1), torch.tensor(weights.std).view(3, 1, 1)
    torch.testing.assert_close(seen[0], (video.float() / 255 - mean) / std)


def test_channels_last_is_refused_for_a_video_backbone():
    backbone = build_backbone("torchvision/r3d_18", layers=[0], image_size=32)
    with pytest.raises(ValueError, match="model.backbone.channels_last: true is for image backbones"):
        VideoEncoder(backbone, "mean", 4, TargetLayout({"s": {"V1": 1}}), channels_last=True)
