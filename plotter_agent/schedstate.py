"""The scheduler's state (running, paused, draining), kept in a small JSON file so that it survives a restart."""

from __future__ import annotations

import enum
from pathlib import Path

from plotboss.statefile import load_word, save_word, state_path


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
    return state_path(config_path, "scheduler")


def load_state(path: Path) -> SchedState:
    """The saved state; RUNNING when there is no file (see ``plotboss.statefile``)."""
    return SchedState(load_word(path, "scheduler", _STORED, SchedState.RUNNING))


def save_state(path: Path, state: SchedState, now: float) -> None:
    save_word(path, state.value, now)
