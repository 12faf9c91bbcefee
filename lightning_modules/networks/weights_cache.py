"""timm's pretrained weights from the local cache, fetched beforehand where there is network.

A compute node without network finds a backbone's weights in the caches timm downloads to
(the Hugging Face hub cache, ``$HF_HOME/hub``, and torch hub's ``$TORCH_HOME/hub/checkpoints``)
once ``scripts/fetch_weights.py`` has filled them on a machine with network (a login node,
sharing the filesystem or copying the folder). A cached file is loaded directly, without
asking the network first; with nothing cached and no network, building the model stops with
one line naming the fetch command instead of a minute of retried connection errors.
"""

from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import timm
import torch
from torch import nn

FETCH_SCRIPT = "scripts/fetch_weights.py"
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither cached here nor downloadable (the message is one line)."""


def _hub():
    import huggingface_hub  # timm's own dependency; imported late so HF_HOME set by a caller counts

    return huggingface_hub


def _hub_files(cfg) -> tuple[str, str | None, list[str]]:
    """``(repo_id, revision, candidate filenames)`` of a timm pretrained config on the HF hub."""
    repo_id, _, revision = cfg.hf_hub_id.partition("@")
    names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
    return repo_id, revision or None, names


def cached_weights_file(name: str) -> str | None:
    """The local file holding timm model ``name``'s pretrained weights, or None if not cached."""
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        repo_id, revision, names = _hub_files(cfg)
        for filename in names:
            hit = _hub().try_to_load_from_cache(repo_id, filename, revision=revision)
            if isinstance(hit, str) and os.path.isfile(hit):
                return hit
    if cfg.url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(cfg.url).path)
        if path.is_file():
            return str(path)
    return None


def cache_locations() -> str:
    """Where this process looks for downloaded weights (for messages)."""
    return f"HF hub cache {_hub().constants.HF_HUB_CACHE}, torch hub {Path(torch.hub.get_dir()) / 'checkpoints'}"


def _download_source(name: str) -> str | None:
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return None
    return _hub().constants.ENDPOINT if cfg.hf_hub_id else (cfg.url or None)


def network_problem(name: str, timeout: float = 3.0) -> str | None:
    """Why ``name``'s weights cannot be downloaded from here, or None if that may work.

    Offline mode (``HF_HUB_OFFLINE=1``) is one reason; otherwise one TCP connection to the
    download host is tried, unless a proxy is configured (the host may then be reachable only
    through it).
    """
    if _hub().constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    source = _download_source(name)
    return None if source is None else _url_problem(source, timeout)


def unavailable_message(name: str, reason: str) -> str:
    """One line: what is missing, where it was looked for, and the command that fetches it."""
    from lightning_modules.networks.package_weights import PACKAGE_WEIGHTS

    return (f"model.backbone.name: {name} with model.backbone.pretrained: true: its pretrained weights are not in the "
            f"local cache ({cache_locations()}) and cannot be downloaded here ({reason}). "
            f"On a machine with network run `python {FETCH_SCRIPT} {name}` with the same HF_HOME, "
            f"or set model.backbone.checkpoint_path to a weights file, or use a backbone whose weights ship "
            f"with a pip package: {', '.join(PACKAGE_WEIGHTS)}.")


@contextmanager
def _quiet_hub():
    """Silence the hub's per-retry warnings (the failure is reported once, by us)."""
    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def create_pretrained(name: str, **kwargs) -> nn.Module:
    """``timm.create_model(name, pretrained=True, **kwargs)``, from the cache when it is there.

    A cached file is handed to timm as a local file (so timm's own adaptations, e.g. resampling
    a ViT's position embeddings to ``img_size``, still apply). Otherwise it is downloaded when
    there is network; when there is none, ``WeightsUnavailableError`` says how to fetch it.
    """
    cached = cached_weights_file(name)
    if cached is not None:
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": cached}, **kwargs)
    reason = network_problem(name)
    if reason is not None:
        raise WeightsUnavailableError(unavailable_message(name, reason))
    try:
        with _quiet_hub():
            return timm.create_model(name, pretrained=True, **kwargs)
    except OSError as e:  # connection, HTTP and cache-miss errors of the hub and of torch hub
        raise WeightsUnavailableError(
            unavailable_message(name, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        ) from None


def fetch(name: str) -> str:
    """Download ``name``'s pretrained weights into the local cache; returns the cached file."""
    timm.create_model(name, pretrained=True)
    cached = cached_weights_file(name)
    if cached is None:
        raise RuntimeError(f"{name}: timm loaded its weights but they are not where training looks "
                           f"({cache_locations()})")
    return cached


# ------------------------------------------------------------------ torchvision's weights
# torchvision downloads a model's DEFAULT weights with torch.hub to
# $TORCH_HOME/hub/checkpoints/<the URL's file name> (e.g. r2plus1d_18-91a641e6.pth) and reads
# them from there when present, for image and video models alike.

TORCHVISION_PREFIX = "torchvision/"


def torchvision_weights_url(arch: str) -> str:
    """The URL of torchvision model ``arch``'s DEFAULT weights (a ValueError for an unknown arch)."""
    import torchvision

    try:
        return torchvision.models.get_model_weights(arch).DEFAULT.url
    except (ValueError, KeyError, AttributeError) as e:
        raise ValueError(f"{TORCHVISION_PREFIX}{arch}: torchvision has no model with pretrained weights "
                         f"of that name ({e})") from None


def torchvision_cache_file(arch: str) -> Path:
    """Where torch hub keeps (or would keep) ``arch``'s DEFAULT weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(torchvision_weights_url(arch)).path)


def cached_torchvision_file(arch: str) -> str | None:
    """The cached file of torchvision model ``arch``'s DEFAULT weights, or None."""
    path = torchvision_cache_file(arch)
    return str(path) if path.is_file() else None


def _url_problem(url: str, timeout: float = 3.0) -> str | None:
    if any(os.environ.get(v) for v in _PROXY_VARS):
        return None
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    except OSError as e:
        return f"{parsed.hostname}:{port} unreachable: {e}"
    return None


def torchvision_weights(arch: str) -> str:
    """The local file of ``arch``'s DEFAULT weights: the cached one, else downloaded into the cache.

    With nothing cached and no network, ``WeightsUnavailableError`` names the fetch command.
    """
    cached = cached_torchvision_file(arch)
    if cached is not None:
        return cached
    url = torchvision_weights_url(arch)
    name = f"{TORCHVISION_PREFIX}{arch}"
    reason = _url_problem(url)
    if reason is None:
        try:
            torch.hub.load_state_dict_from_url(url, progress=False, check_hash=True, map_location="cpu",
                                               weights_only=True)
        except OSError as e:
            reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    if reason is not None or cached_torchvision_file(arch) is None:
        raise WeightsUnavailableError(
            f"model.backbone.name: {name} with model.backbone.pretrained: true: its weights are not in the local "
            f"cache ({torchvision_cache_file(arch)}) and cannot be downloaded here ({reason or 'not saved'}). "
            f"On a machine with network run `python {FETCH_SCRIPT} {name}` with the same TORCH_HOME, "
            f"or set model.backbone.checkpoint_path to a weights file in torchvision's key names.")
    return str(torchvision_cache_file(arch))
