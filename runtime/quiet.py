"""Library messages that tell a user of this tool nothing, silenced by the entry points.

Each is silenced by its exact text, so a different message from the same place still shows.
Called from ``main()`` of ``train.py``, ``predict.py`` and ``sweep.py`` (never at import).
"""

from __future__ import annotations

import logging
import re
import warnings

#: Lightning's INFO advertisement for its cloud logger, at every start.
_LIGHTNING_TIPS = ("💡 Tip: For seamless cloud logging",)
#: torch deprecates ``LeafSpec``, which Lightning's own ``_pytree`` helper still uses.
_PYTREE_DEPRECATION = r".*isinstance\(treespec, LeafSpec\)` is deprecated"


class _DropMessages(logging.Filter):
    """Drops log records whose message starts with one of ``prefixes``."""

    def __init__(self, prefixes: tuple[str, ...]):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


def silence_library_noise() -> None:
    """Silence the messages every command used to print: Lightning's litlogger tip and torch's
    ``LeafSpec`` deprecation raised inside Lightning."""
    warnings.filterwarnings("ignore", message=_PYTREE_DEPRECATION)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in logger.filters):
            logger.addFilter(_DropMessages(_LIGHTNING_TIPS))


def ignore_warning(message: str, *, regex: bool = False) -> None:
    """Ignore warnings whose message starts with ``message`` (taken literally unless ``regex``)."""
    warnings.filterwarnings("ignore", message=message if regex else re.escape(message))
