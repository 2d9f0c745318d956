"""The scheduler's state (running, paused, draining), kept in a small JSON file so that it survives a restart."""

from __future__ import annotations

import enum
import json
import os
import stat
from pathlib import Path

from plotboss.atomic import write_atomic
from plotboss.errors import ConfigError


class SchedState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    #: no new jobs; becomes PAUSED once no job is left
    DRAINING = "draining"
    #: no plotting section: the agent only watches
    DISABLED = "disabled"


_STORED = (SchedState.RUNNING, SchedState.PAUSED, SchedState.DRAINING)


def default_state_path(config_path: Path) -> Path:
    """``<config dir>/.<config name>.scheduler.json``."""
    return config_path.parent / f".{config_path.name}.scheduler.json"


def load_state(path: Path) -> SchedState:
    """The saved state; RUNNING when there is no file. ConfigError naming the file when it is not one of ours (the
    agent then exits 2 and leaves it in place)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return SchedState.RUNNING
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the scheduler state file: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ValueError("not a regular file")
            data = f.read(4096)
        state = json.loads(data)["state"]
        if state not in _STORED:
            raise ValueError(state)
        return SchedState(state)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(
            f"{path}: not a plotboss scheduler state file ({type(e).__name__}: {str(e)[:80]}); move it away to start "
            "with the scheduler running"
        ) from None


def save_state(path: Path, state: SchedState, now: float) -> None:
    write_atomic(path, json.dumps({"version": 1, "state": state.value, "changed_time": now}).encode() + b"\n")
