"""Fetch backbones' pretrained weights (timm's, torchvision's) into the local cache, for training without network.

Run it where there is network (a cluster's login node), with the cache on a filesystem the
compute nodes share, or copy the cache folder over; training there then finds the weights
with no network (``lightning_modules/networks/weights_cache.py``):

    python scripts/fetch_weights.py resnet50 vit_base_patch16_224
    python scripts/fetch_weights.py --config configs/resnet50_lstm.yaml      # the config's backbone
    HF_HOME=/shared/hf python scripts/fetch_weights.py resnet50              # a shared cache
    python scripts/fetch_weights.py --cache-dir /shared/hf resnet50          # the same
    python scripts/fetch_weights.py --check resnet50                         # on the compute node
    python scripts/fetch_weights.py torchvision/r2plus1d_18 torchvision/s3d  # torchvision's video weights

and train with the same ``HF_HOME`` (``export HF_HOME=/shared/hf``). torchvision's weights
(``torchvision/<arch>``: the video models' Kinetics-400 weights, AlexNet/VGG's ImageNet ones) go
where torchvision itself keeps them, ``$TORCH_HOME/hub/checkpoints/<file of the weights' URL>``
(default ``~/.cache/torch``): train with the same ``TORCH_HOME``. ``inflated/<name>`` fetches
image network ``<name>``'s weights. Backbones whose weights
ship with a pip package (``tf_efficientnet_lite0/1/2``) need no fetching: the command says
which package. Exit status 1 if any backbone's weights could not be fetched (or, with
``--check``, are not cached).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _backbones_of(config: Path) -> list[str]:
    import yaml

    backbone = ((yaml.safe_load(config.read_text()) or {}).get("model") or {}).get("backbone")
    if isinstance(backbone, str):  # a config from before the settings groups
        return [backbone]
    if not isinstance(backbone, dict) or "name" not in backbone:
        raise SystemExit(f"error: {config} sets no model.backbone.name")
    return [backbone["name"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="backbone names (model.backbone.name), e.g. resnet50, "
                        "torchvision/r2plus1d_18, inflated/resnet18")
    parser.add_argument("--config", type=Path, action="append", default=[],
                        help="a train.py YAML config whose model.backbone.name to fetch (repeatable)")
    parser.add_argument("--cache-dir", type=Path,
                        help="the cache root to fill (sets HF_HOME and TORCH_HOME); train with the same HF_HOME")
    parser.add_argument("--check", action="store_true",
                        help="download nothing: report whether each backbone's weights are cached here")
    args = parser.parse_args(argv)
    if args.cache_dir is not None:  # before huggingface_hub or torch read them
        os.environ["HF_HOME"] = str(args.cache_dir)
        os.environ["TORCH_HOME"] = str(args.cache_dir / "torch")
    names = [*args.names, *(n for c in args.config for n in _backbones_of(c))]
    if not names:
        parser.error("name at least one backbone, or --config")

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from lightning_modules.networks.package_weights import PACKAGE_WEIGHTS, package_weights_file
    from lightning_modules.networks.weights_cache import (
        cache_locations,
        cached_torchvision_file,
        cached_weights_file,
        fetch,
        torchvision_weights,
    )

    print(f"cache: {cache_locations()}")
    failed = []
    for given in names:
        # An inflated backbone (inflated/<timm name>) is built from its image network's weights.
        name = given.removeprefix("inflated/")
        if name.startswith("torchvision/"):
            arch = name.removeprefix("torchvision/")
            try:
                found = cached_torchvision_file(arch) if args.check else torchvision_weights(arch)
            except Exception as e:  # noqa: BLE001 -- reported per backbone, the exit status says it failed
                print(f"{name}: could not fetch: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                failed.append(name)
                continue
            print(f"{name}: cached at {found}" if found else f"{name}: NOT cached")
            if not found:
                failed.append(name)
        elif name in PACKAGE_WEIGHTS:
            entry = PACKAGE_WEIGHTS[name]
            try:
                print(f"{name}: ships with pip package {entry.package}, nothing to fetch "
                      f"(installed: {package_weights_file(entry)})")
            except (ImportError, OSError, ValueError) as e:
                print(f"{name}: ships with pip package {entry.package}, not usable here: {e}")
                failed.append(name)
        elif args.check:
            found = cached_weights_file(name)
            print(f"{name}: cached at {found}" if found else f"{name}: NOT cached")
            if not found:
                failed.append(name)
        else:
            try:
                print(f"{name}: cached at {fetch(name)}")
            except Exception as e:  # noqa: BLE001 -- reported per backbone, the exit status says it failed
                print(f"{name}: could not fetch: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                failed.append(name)
    if failed:
        print(f"error: {len(failed)} of {len(names)} backbones not available: {' '.join(failed)}", file=sys.stderr)
        return 1
    if not args.check:
        print("train on a node without network with the same HF_HOME (and TORCH_HOME) as this run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
