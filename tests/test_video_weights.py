"""torchvision's video weights without network: fetch_weights.py finds them in a cache laid out by
hand where torchvision keeps them ($TORCH_HOME/hub/checkpoints/<file>), training loads them from
there, and with nothing cached and no network one line names the fetch command."""

import importlib.util
import socket

import pytest
import torch
import torchvision

from lightning_modules.networks.backbones import build_backbone
from lightning_modules.networks.weights_cache import WeightsUnavailableError
from tests.helpers import REPO


def _fetch_weights():
    spec = importlib.util.spec_from_file_location("fetch_weights", REPO / "scripts/fetch_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch hub cache, and no network (any connection attempt fails)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return tmp_path / "torch"


def _lay_out(torch_home, arch):
    """torchvision's weights file for ``arch``, by hand: a random model's state under the URL's name."""
    torch.manual_seed(3)
    state = torchvision.models.get_model(arch).state_dict()
    name = torchvision.models.get_model_weights(arch).DEFAULT.url.rsplit("/", 1)[1]
    path = torch_home / "hub" / "checkpoints" / name
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return path, state


def test_check_finds_a_hand_laid_cache_and_training_loads_it(torch_home, capsys):
    path, state = _lay_out(torch_home, "r2plus1d_18")
    assert path.name == "r2plus1d_18-91a641e6.pth"
    status = _fetch_weights().main(["--check", "torchvision/r2plus1d_18", "torchvision/s3d",
                                    "inflated/tf_efficientnet_lite0"])
    out = capsys.readouterr()
    assert status == 1
    assert f"torchvision/r2plus1d_18: cached at {path}" in out.out
    assert "torchvision/s3d: NOT cached" in out.out
    assert "tf_efficientnet_lite0: ships with pip package" in out.out
    assert "1 of 3 backbones not available: torchvision/s3d" in out.err

    backbone = build_backbone("torchvision/r2plus1d_18", pretrained=True, layers=[-1], image_size=32)
    loaded = backbone.model.state_dict()
    assert loaded and all(torch.equal(v, state[k]) for k, v in loaded.items())


def test_nothing_cached_and_no_network_names_the_command(torch_home, capsys):
    with pytest.raises(WeightsUnavailableError) as err:
        build_backbone("torchvision/s3d", pretrained=True, image_size=32)
    message = str(err.value)
    assert "\n" not in message
    assert "python scripts/fetch_weights.py torchvision/s3d" in message
    assert str(torch_home / "hub" / "checkpoints" / "s3d-d76dad2f.pth") in message
    assert _fetch_weights().main(["torchvision/s3d"]) == 1  # fetching fails per backbone, status 1
    assert "torchvision/s3d: could not fetch: WeightsUnavailableError" in capsys.readouterr().out


def test_fetch_downloads_into_where_training_looks(torch_home, monkeypatch):
    """The download itself (torch hub) stubbed: the file lands where the check and training find it."""
    from lightning_modules.networks import weights_cache

    state = torchvision.models.get_model("r3d_18").state_dict()
    monkeypatch.setattr(weights_cache, "_url_problem", lambda url: None)

    def download(url, **kwargs):
        target = torch_home / "hub" / "checkpoints" / url.rsplit("/", 1)[1]
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, target)

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", download)
    assert _fetch_weights().main(["torchvision/r3d_18"]) == 0
    assert weights_cache.cached_torchvision_file("r3d_18").endswith("hub/checkpoints/r3d_18-b3b3357e.pth")
