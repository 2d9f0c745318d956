"""A control state of an agent (the scheduler's running/paused/draining, the archiver's running/paused) kept in a small
JSON file next to its config, so that a pause survives a restart. The file is read without following a symlink or
blocking on a FIFO (a local user may have put either there); one that is not ours is a ConfigError naming it, and the
agent then exits 2 and leaves it in place."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Collection
from pathlib import Path

from plotboss.atomic import write_atomic
from plotboss.errors import ConfigError


def state_path(config_path: Path, what: str) -> Path:
    """``<config dir>/.<config name>.<what>.json``."""
    return config_path.parent / f".{config_path.name}.{what}.json"


def load_word(path: Path, what: str, allowed: Collection[str], default: str) -> str:
    """The saved state (one of ``allowed``); ``default`` when there is no file. ``what`` names the owner in errors."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return default
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the {what} state file: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ValueError("not a regular file")
            data = f.read(4096)
        state = json.loads(data)["state"]
        if state not in allowed:
            raise ValueError(state)
        return str(state)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(
            f"{path}: not a plotboss {what} state file ({type(e).__name__}: {str(e)[:80]}); move it away to start "
            f"with the {what} running"
        ) from None


def save_word(path: Path, state: str, now: float) -> None:
    write_atomic(path, json.dumps({"version": 1, "state": state, "changed_time": now}).encode() + b"\n")
