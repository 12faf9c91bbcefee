"""SIGTERM ends a command with exit status 143 (128 + 15, as shells report it), never 0.

Schedulers, container stops and ``&&`` chains send SIGTERM and read the exit status. Lightning
turns SIGTERM into ``SIGTERMException``, a ``SystemExit`` without a code, so a stopped ``fit``
exited 0; ``trainer.predict`` only notes the signal and goes on. Here:

- :func:`install` (the ``__main__`` of ``train.py``, ``kfold.py``, ``predict.py``) makes SIGTERM
  raise :class:`Terminated` wherever the process is, outside a Lightning fit;
- inside a fit, Lightning's own handler runs first and the fit stops at the next batch end (the
  weights consistent), with ``SIGTERMException``; :func:`terminated_from` turns that into
  :class:`Terminated`, with what was kept and how to resume;
- :func:`exit_status` prints the one ``error:`` line and gives 143.
"""

from __future__ import annotations

import contextlib
import signal
import sys

from pytorch_lightning.utilities.exceptions import SIGTERMException

#: The exit status of a command stopped by SIGTERM (128 + 15).
SIGTERM_EXIT = 128 + signal.SIGTERM

_fit_running = False


class Terminated(BaseException):
    """The process got SIGTERM. A ``BaseException`` (as ``KeyboardInterrupt``), so that no
    ``except Exception`` on the way takes it for an error to recover from."""


def _on_sigterm(signum, frame) -> None:
    # Called directly: raise here. Called by Lightning's handler (which chains the one it found)
    # during a fit: Lightning stops the fit at the next batch end, where the state can be saved.
    if _fit_running and signal.getsignal(signal.SIGTERM) is not _on_sigterm:
        return
    raise Terminated("stopped by SIGTERM")


def install() -> None:
    """SIGTERM raises :class:`Terminated` in this (main) thread."""
    signal.signal(signal.SIGTERM, _on_sigterm)


@contextlib.contextmanager
def lightning_fit():
    """Within: a SIGTERM handled by Lightning's fit loop is left to it (it raises
    ``SIGTERMException`` at the next batch end); outside Lightning's handler it still raises."""
    global _fit_running
    before, _fit_running = _fit_running, True
    try:
        yield
    finally:
        _fit_running = before


@contextlib.contextmanager
def terminated_from(explain):
    """Turn ``SIGTERMException`` or :class:`Terminated` into ``Terminated(explain())``: the message
    says what was kept and how to resume (``explain`` is called only then)."""
    try:
        yield
    except (SIGTERMException, Terminated) as err:
        raise Terminated(f"stopped by SIGTERM: {explain()}") from err


def exit_status(err: Terminated) -> int:
    """Print ``error: <message>`` to stderr; return :data:`SIGTERM_EXIT` for ``sys.exit``."""
    print(f"error: {err}", file=sys.stderr, flush=True)
    return SIGTERM_EXIT
