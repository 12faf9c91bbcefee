"""The GPU input path's switches, checked on the CPU: each gives the same numbers with and without.

uint8 clips reach the model and are normalised there; channels-last memory order; torch.compile of
the backbone; bf16 autocast that leaves the correlation loss in float32; Lightning's non-blocking
copies to a GPU.
"""

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

import lightning_modules.system as system
from lightning_modules.networks.backbones import build_backbone
from lightning_modules.networks.encoder import VideoEncoder
from lightning_modules.settings import BackboneSettings, OptimisationSettings, RidgeSettings
from scoring.layout import TargetLayout

LAYOUT = TargetLayout({"sub01": {"V1": 3, "FFA": 2}, "sub02": {"V1": 4}})
VOXELS = {"sub01": {"V1": 3, "FFA": 2}, "sub02": {"V1": 4}}


def make(**switches) -> VideoEncoder:
    torch.manual_seed(0)
    backbone = build_backbone("test_resnet", layers=[2, 4], image_size=32)  # timm's tiny ResNet: fast to trace
    return VideoEncoder(backbone, "mean", 3, LAYOUT, freeze_batchnorm=True, **switches)


def video(batch=2):
    return torch.randint(0, 256, (batch, 3, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


def outputs_and_grads(enc: VideoEncoder, v: torch.Tensor):
    enc.train()
    enc.zero_grad()
    out = enc(v)
    out.square().sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in enc.named_parameters() if p.grad is not None}


def assert_same_numbers(reference: VideoEncoder, other: VideoEncoder, rtol=1e-4, atol=1e-5):
    v = video()
    out_a, grads_a = outputs_and_grads(reference, v)
    out_b, grads_b = outputs_and_grads(other, v)
    torch.testing.assert_close(out_b, out_a, rtol=rtol, atol=atol)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 10
    for name in grads_a:
        scale = grads_a[name].abs().max().clamp(min=1e-6)
        torch.testing.assert_close(grads_b[name] / scale, grads_a[name] / scale, rtol=rtol, atol=atol, msg=name)


def test_channels_last_same_numbers_and_layout():
    plain = make()
    nhwc = make(channels_last=True)
    nhwc.load_state_dict(plain.state_dict())
    seen = []
    nhwc.backbone.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    assert_same_numbers(plain, nhwc)
    assert seen[0].is_contiguous(memory_format=torch.channels_last) and seen[0].dtype == torch.float32
    conv = next(m for m in nhwc.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    plain_conv = next(m for m in make().backbone.modules() if isinstance(m, torch.nn.Conv2d))
    assert not plain_conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_compile_same_numbers_and_state_dict_keys():
    """Graph capture and AOT autograd (the ``aot_eager`` backend: no C++ compile, so it is fast);
    the inductor backend itself is in the slow test below."""
    plain = make()
    compiled = make(compile_backend="aot_eager")
    assert compiled.state_dict().keys() == plain.state_dict().keys()
    compiled.load_state_dict(plain.state_dict())
    torch._dynamo.reset()
    assert_same_numbers(plain, compiled)


@pytest.mark.slow
def test_inductor_compile_same_numbers():
    plain = make()
    compiled = make(compile_backend="inductor")
    compiled.load_state_dict(plain.state_dict())
    torch._dynamo.reset()
    assert_same_numbers(plain, compiled, rtol=1e-3, atol=1e-4)


def test_settings_reach_the_encoder():
    model = system.EncodingModel(VOXELS, backbone=BackboneSettings("resnet18", channels_last=True, compile=True),
                                 num_frames=3, image_size=32)
    assert model.model.channels_last
    assert model.model.backbone._compiled_call_impl is not None  # compiled lazily, at the first call
    default = system.EncodingModel(VOXELS, num_frames=3, image_size=32)
    assert not default.model.channels_last and default.model.backbone._compiled_call_impl is None
    assert "backbone.model.conv1.weight" in {k.removeprefix("model.") for k in model.state_dict()}


class Clips(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return {"video": torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8, generator=g),
                "targets": torch.randn(LAYOUT.n_voxels, generator=g), "index": torch.tensor(i)}


def test_bf16_mixed_runs_the_backbone_in_bf16_and_the_loss_in_float32(monkeypatch, tmp_path):
    seen = {}
    loss_fn = system.correlation_loss

    def recording_loss(pred, target, **kw):
        loss = loss_fn(pred, target, **kw)
        seen.setdefault("loss", []).append((pred.dtype, target.dtype, loss.dtype))
        return loss

    monkeypatch.setattr(system, "correlation_loss", recording_loss)
    model = system.EncodingModel(VOXELS, backbone=BackboneSettings("resnet18", layers=[2, 4]), num_frames=3,
                                 image_size=32, ridge=RidgeSettings(fit=False),
                                 optimisation=OptimisationSettings(freeze_backbone_epochs=0))
    model.register_forward_pre_hook(lambda _m, args: seen.setdefault("video", args[0].dtype) and None)
    model.model.backbone.register_forward_hook(lambda _m, _a, out: seen.setdefault("features", out[0].dtype) and None)
    trainer = pl.Trainer(accelerator="cpu", devices=1, precision="bf16-mixed", max_steps=2, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, default_root_dir=tmp_path, limit_val_batches=0)
    trainer.fit(model, DataLoader(Clips(), batch_size=4))
    assert seen["video"] == torch.uint8  # the clip travels as bytes; normalised inside the model
    assert seen["features"] == torch.bfloat16  # autocast is on in the backbone
    assert seen["loss"] and all(d == (torch.float32, torch.float32, torch.float32) for d in seen["loss"])


def test_loss_under_autocast_equals_the_loss_without():
    """The correlation loss keeps float32 under bf16 autocast: no op inside is cast down."""
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(16, 50, generator=g), torch.randn(16, 50, generator=g)
    plain = system.correlation_loss(pred, target, mse_weight=0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = system.correlation_loss(pred, target, mse_weight=0.1)
    assert under.dtype == torch.float32
    torch.testing.assert_close(under, plain, rtol=1e-6, atol=1e-7)


def test_lightning_copies_batches_to_a_gpu_without_blocking(monkeypatch):
    """Pinned batches only overlap the copy with compute if ``.to`` is non-blocking: Lightning's
    transfer (what ``EncodingModel`` uses, it does not override it) asks for that on CUDA devices."""
    from lightning_fabric.utilities.apply_func import move_data_to_device

    calls = []

    def fake_to(self, *args, **kwargs):
        calls.append(kwargs.get("non_blocking", False))
        return self

    monkeypatch.setattr(torch.Tensor, "to", fake_to)
    move_data_to_device({"video": torch.zeros(2, dtype=torch.uint8), "targets": torch.zeros(2)},
                        torch.device("cuda", 0))
    assert calls == [True, True]
    assert "transfer_batch_to_device" not in vars(system.EncodingModel)


class Loaders:
    """The data module's loader half with a trainer stub: where the trainer runs decides pinning."""

    def __init__(self, pin_memory, device_type):
        from types import SimpleNamespace

        from pytorch_lightning.utilities import AttributeDict

        self.hparams = AttributeDict(seed=0, batch_size=2, num_workers=0, pin_memory=pin_memory)
        self.trainer = None if device_type is None else SimpleNamespace(
            strategy=SimpleNamespace(root_device=torch.device(device_type)), world_size=1, global_rank=0)


@pytest.mark.parametrize("setting, device_type, pinned", [
    (None, "cuda", True), (None, "cpu", False), (True, "cpu", True), (False, "cuda", False), (None, None, False)])
def test_pin_memory_follows_the_setting_else_the_trainer_device(setting, device_type, pinned):
    from datamodules.loaders import EpochOrderLoaders

    loaders = type("Stub", (EpochOrderLoaders,), {"__init__": Loaders.__init__})(setting, device_type)
    loader = loaders._loader(Clips(), shuffle=False)
    assert loader.pin_memory is pinned  # (None, None): this test machine has no GPU


def test_pin_memory_is_a_data_setting_defaulting_to_the_device():
    import inspect

    from datamodules.algonauts import AlgonautsDataModule

    assert inspect.signature(AlgonautsDataModule).parameters["pin_memory"].default is None
    assert "pin_memory : bool or None" in AlgonautsDataModule.__doc__
