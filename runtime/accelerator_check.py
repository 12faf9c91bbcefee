"""``--accelerator gpu`` on a machine without a usable GPU: one line naming the setting.

Lightning says only "No supported gpu backend found!" (a ``MisconfigurationException`` with a
traceback) when the trainer is built; :func:`check_accelerator` runs first and names the setting,
what torch sees, and what to use instead.
"""

from __future__ import annotations

import os

import torch

_NEEDS = {"gpu": "CUDA GPU", "cuda": "CUDA GPU", "mps": "Apple GPU (MPS)"}


class AcceleratorUnavailableError(ValueError):
    """The accelerator asked for is not on this machine."""


def _available(accelerator: str) -> bool:
    if accelerator == "mps":
        return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return torch.cuda.is_available()


def check_accelerator(accelerator, setting: str) -> None:
    """Raise :class:`AcceleratorUnavailableError` when ``accelerator`` (a name) needs a device this
    machine lacks; ``setting`` is how the user set it (``--trainer.accelerator``)."""
    name = accelerator.lower() if isinstance(accelerator, str) else None
    if name not in _NEEDS or _available(name):
        return
    seen = f"CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']!r}, " if "CUDA_VISIBLE_DEVICES" in os.environ else ""
    raise AcceleratorUnavailableError(
        f"{setting} {accelerator}: this machine has no {_NEEDS[name]} that torch can use ({seen}torch "
        f"{torch.__version__}, built for CUDA {torch.version.cuda}); use {setting} cpu, or auto to take one when present")
