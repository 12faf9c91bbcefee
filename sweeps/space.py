"""The search space: which config keys a sweep varies, read from a YAML file.

```yaml
model.optimisation.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
model.temporal.kind: {type: categorical, choices: [mean, weighted, lstm]}
data.num_frames: {type: int, low: 4, high: 16, step: 4}
model.backbone.layers: {type: categorical, choices: [[4], [3, 4], [1, 2, 3, 4]]}
```
Keys are the dotted config keys of ``train.py`` (``model.*``, ``data.*``, ``trainer.*``).
Categorical choices may be lists or dicts (Optuna stores those as their JSON text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

KINDS = ("float", "int", "categorical")


class SearchSpaceError(ValueError):
    """The search-space file is not what a sweep can use."""


@dataclass(frozen=True)
class Dimension:
    """One config key and the values it may take."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None

    def suggest(self, trial) -> Any:
        """Ask an Optuna trial for this key's value (the config value, not Optuna's stored form)."""
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log,
                                     step=int(self.step or 1))
        if all(_is_scalar(c) for c in self.choices):
            return trial.suggest_categorical(self.key, list(self.choices))
        return json.loads(trial.suggest_categorical(self.key, [json.dumps(c) for c in self.choices]))


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def load_space(path: str | Path) -> list[Dimension]:
    """Read and check a search-space YAML; one :class:`Dimension` per key, in file order."""
    path = Path(path)
    if not path.is_file():
        raise SearchSpaceError(f"{path}: search-space file not found")
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict) or not raw:
        raise SearchSpaceError(f"{path}: expected a mapping of config keys to "
                               "{type: float|int|categorical, ...}, got " + type(raw).__name__)
    dims = []
    for key, spec in raw.items():
        where = f"{path}: {key}"
        if not isinstance(key, str) or key.split(".")[0] not in ("model", "data", "trainer"):
            raise SearchSpaceError(f"{where}: keys must be dotted config keys starting with model., data. "
                                   "or trainer. (e.g. model.optimisation.lr)")
        if not isinstance(spec, dict) or spec.get("type") not in KINDS:
            raise SearchSpaceError(f"{where}: expected {{type: one of {list(KINDS)}, ...}}, got {spec!r}")
        kind = spec["type"]
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise SearchSpaceError(f"{where}: a categorical needs a non-empty list 'choices'")
            dims.append(Dimension(key, kind, choices=tuple(choices)))
            continue
        unknown = set(spec) - {"type", "low", "high", "log", "step"}
        if unknown or not all(isinstance(spec.get(b), (int, float)) for b in ("low", "high")):
            raise SearchSpaceError(f"{where}: a {kind} needs numeric 'low' and 'high' (optional 'log', 'step')"
                                   + (f"; unknown keys {sorted(unknown)}" if unknown else ""))
        if not spec["low"] < spec["high"]:
            raise SearchSpaceError(f"{where}: low ({spec['low']}) must be below high ({spec['high']})")
        if spec.get("log") and spec["low"] <= 0:
            raise SearchSpaceError(f"{where}: a log-scale range needs low > 0")
        dims.append(Dimension(key, kind, low=spec["low"], high=spec["high"], log=bool(spec.get("log", False)),
                              step=spec.get("step")))
    return dims


def as_cli_overrides(values: dict[str, Any]) -> list[str]:
    """``{"model.optimisation.lr": 0.001, "model.backbone.layers": [3, 4]}`` -> ``["--model.optimisation.lr", "0.001", "--model.backbone.layers", "[3, 4]"]``."""
    args = []
    for key, value in values.items():
        args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return args
