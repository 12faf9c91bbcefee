"""I3D inflation of an image network: on a clip of identical frames the inflated network gives the
2-D network's features at every time step (float32 rounding); a moving clip gives others; the
inflated kernels are the 2-D ones spread over time; the network trains and keeps timm's blocks."""

import pytest
import torch
from torch import nn

from lightning_modules.networks.backbone_depth import depth_groups
from lightning_modules.networks.backbones import build_backbone
from lightning_modules.networks.encoder import VideoEncoder
from lightning_modules.networks.inflate import InflatedConv3d, inflate_
from scoring.layout import TargetLayout

LAYERS = [0, 1, 2, 3, 4]


@pytest.fixture(scope="module")
def lite0_pair():
    image = build_backbone("tf_efficientnet_lite0", pretrained=True, layers=LAYERS, image_size=64).eval()
    video = build_backbone("inflated/tf_efficientnet_lite0", pretrained=True, layers=LAYERS, image_size=64).eval()
    return image, video


def test_static_clip_gives_the_image_networks_features(lite0_pair):
    image, video = lite0_pair
    torch.manual_seed(0)
    frames = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference = image(frames)
        ours = video(frames.unsqueeze(1).expand(-1, 7, -1, -1, -1))
    assert video.feature_dims == image.feature_dims == [16, 24, 40, 112, 320]
    for ref, out in zip(reference, ours, strict=True):
        assert out.shape == (2, 7, ref.shape[1])
        # Every time step, edges included (time is padded by repeating the end frames).
        torch.testing.assert_close(out, ref.unsqueeze(1).expand_as(out), rtol=1e-5, atol=1e-5)


def test_moving_clip_gives_other_features_than_frame_by_frame(lite0_pair):
    image, video = lite0_pair
    torch.manual_seed(1)
    clip = torch.randn(2, 6, 3, 64, 64)
    with torch.no_grad():
        ours = video(clip)
        framewise = [f.unflatten(0, (2, 6)) for f in image(clip.flatten(0, 1))]
    for out, ref in zip(ours, framewise, strict=True):
        assert (out - ref).abs().max() > 1e-2 * ref.abs().max()
    # Reordered frames: a frame-wise net's features would just be reordered; the inflated net's change.
    order = torch.tensor([2, 0, 1, 3, 4, 5])
    with torch.no_grad():
        shuffled = video(clip[:, order])
    assert (shuffled[-1] - ours[-1][:, order]).abs().max() > 1e-2 * ours[-1].abs().max()


def test_kernels_are_the_2d_kernels_repeated_over_time_and_divided():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=True)
    inflated = InflatedConv3d(conv, 3)
    assert inflated.weight.shape == (6, 4, 3, 3, 3)
    for t in range(3):
        torch.testing.assert_close(inflated.weight[:, :, t] * 3, conv.weight.detach())
    assert InflatedConv3d(nn.Conv2d(4, 6, 1), 3).weight.shape == (6, 4, 1, 1, 1)  # 1x1 stays 1 frame deep
    # Independent reference: numpy-style sum over the time taps of the 2-D conv on shifted frames.
    x = torch.randn(1, 4, 5, 9, 9)
    padded = torch.cat([x[:, :, :1], x, x[:, :, -1:]], dim=2)
    expect = torch.stack([sum(nn.functional.conv2d(padded[:, :, t + j], inflated.weight[:, :, j], None, 2, 1)
                              for j in range(3)) + conv.bias.view(1, -1, 1, 1) for t in range(5)], dim=2)
    torch.testing.assert_close(inflated(x), expect, rtol=1e-5, atol=1e-5)


def test_resnet_inflation_identity_and_unknown_modules_refused():
    torch.manual_seed(0)
    image = build_backbone("resnet18", layers=[0, 2, 4], image_size=32).eval()
    video = build_backbone("inflated/resnet18", layers=[0, 2, 4], image_size=32).eval()
    video.load_state_dict(_inflated_state(image.state_dict(), video.state_dict()))
    frames = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        for ref, out in zip(image(frames), video(frames.unsqueeze(1).expand(-1, 4, -1, -1, -1)), strict=True):
            torch.testing.assert_close(out, ref.unsqueeze(1).expand_as(out), rtol=1e-5, atol=1e-5)

    class Odd(nn.Module):
        def forward(self, x):
            return x.mean((2, 3), keepdim=True)

    root = nn.Sequential()
    root.add_module("block", nn.Sequential(nn.Conv2d(3, 3, 3), Odd()))
    with pytest.raises(ValueError, match="block.1 is a Odd, which inflation does not know"):
        inflate_(root, 3)


def _inflated_state(image_state, video_state):
    """The 2-D weights with the same random init, inflated by hand (kernel / k over k frames)."""
    out = {}
    for key, value in video_state.items():
        source = image_state["model." + key.split("model.", 1)[1].replace(".module.", ".")]
        if value.ndim == 5:
            k = value.shape[2]
            source = source.unsqueeze(2).repeat(1, 1, k, 1, 1) / k
        out[key] = source
    return out


@pytest.mark.slow
def test_inflated_lite0_trains_and_keeps_timms_blocks(lite0_pair):
    _, video = lite0_pair
    blocks = depth_groups(video)
    names = {id(p): n for n, p in video.model.named_parameters()}
    assert names[id(blocks[0][0])] == "conv_stem.weight" and len(blocks) == 17  # stem + 16 blocks
    layout = TargetLayout({"sub01": {"V1": 3}})
    model = VideoEncoder(video, "mean", 4, layout).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    stem = video.model.conv_stem.weight.detach().clone()
    loss = model(torch.randint(0, 256, (2, 4, 3, 64, 64), dtype=torch.uint8)).pow(2).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    opt.step()
    moved = video.model.conv_stem.weight.detach()
    assert not torch.equal(moved, stem)
    # The time taps of a kernel now differ: the network can tell frames apart.
    assert not torch.allclose(moved[:, :, 0], moved[:, :, 1])
