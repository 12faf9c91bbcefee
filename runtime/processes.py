"""Whether a process of this machine is still running: stale partial files, staging folders and
sweep trials are cleaned up only when the process that wrote them is gone."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists on this machine (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, we may not signal it
        return True
    return True
