"""Configs and command lines written before the model settings were grouped stop with a
message naming each key's new place, instead of jsonargparse's "Unable to load config"."""

from __future__ import annotations

from pathlib import Path

import yaml

from lightning_modules.settings import FLAT_KEYS, GROUPS, SettingsError, check_config_keys


def check_flat_model_keys(args: list[str]) -> None:
    """Raise :class:`SettingsError` if a ``--config`` file's ``model:`` section or a
    ``--model.<key>`` flag uses a flat (pre-groups) key such as ``model.lr`` or ``model.ridge_pca``."""
    for i, arg in enumerate(args):
        path = None
        if arg in ("--config", "-c") and i + 1 < len(args):
            path = args[i + 1]
        elif arg.startswith("--config="):
            path = arg.split("=", 1)[1]
        if path is not None and Path(path).is_file():
            _check_config_file(Path(path))
        flag, _, inline = arg.partition("=")
        if flag.startswith("--model."):
            key = flag[len("--model."):]
            value = inline or (args[i + 1] if i + 1 < len(args) else "")
            # A group's own flag takes a whole group, as a dict or a YAML file: that is today's form.
            group_value = key in GROUPS and (value.startswith("{") or Path(value).is_file())
            if key in FLAT_KEYS and not group_value:
                raise SettingsError(f"{flag}: the model settings are now grouped (backbone, temporal, optimisation, "
                                    f"ridge); use --model.{'.'.join(FLAT_KEYS[key])}")


def _check_config_file(path: Path) -> None:
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return  # jsonargparse reports unreadable files itself
    if not isinstance(config, dict):
        return
    for section in (config, *(v for v in config.values() if isinstance(v, dict))):  # top level or under "fit:"
        model = section.get("model") if isinstance(section, dict) else None
        if isinstance(model, dict):
            check_config_keys(model, str(path))
