"""Starting a plot job: the OS seam (argv and log path in, pid out) and its production default.

A started job is detached from the agent so that stopping, killing or restarting the agent never stops it: its own
session (no signal sent to the agent's process group or terminal reaches it), stdin from /dev/null, stdout and stderr
to a new log file in ``logging.plots``, created exclusively (``O_EXCL``, never through a symlink) under a name that
carries the time, the agent's pid and random bits, so two agents racing in one log dir never share a log. The job
runs at a lower priority (``plotting.nice``). Under systemd the unit needs ``KillMode=process`` (see contrib/).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Launch(Protocol):
    """Start ``argv`` with stdout+stderr to ``log_path`` (which the launcher creates exclusively) at ``nice``;
    return its pid. OSError when it cannot start (the log file it created is then removed)."""

    def __call__(self, argv: Sequence[str], log_path: Path, nice: int) -> int: ...


def new_log_path(log_dir: Path, now: float) -> Path:
    """A log file name no other agent can pick: local time (sortable, as plotman names logs), pid, random bits."""
    stamp = dt.datetime.fromtimestamp(now).strftime("%Y-%m-%dT%H_%M_%S")
    return log_dir / f"{stamp}-{os.getpid()}-{secrets.token_hex(4)}.plot.log"


class PopenLauncher:
    """The production launcher: ``subprocess.Popen``, detached. Keeps its children to reap them (``reap``), so a
    finished job does not linger as a zombie of the agent; a restarted agent is no job's parent."""

    def __init__(self) -> None:
        self._children: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    def __call__(self, argv: Sequence[str], log_path: Path, nice: int) -> int:
        fd = os.open(log_path, _LOG_FLAGS, 0o644)
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                cwd=str(log_path.parent),
            )
        except OSError:
            os.close(fd)
            log_path.unlink(missing_ok=True)
            raise
        os.close(fd)
        if nice:
            try:  # the job has just been forked; a plotter forks its workers later, and they inherit this
                os.setpriority(os.PRIO_PROCESS, proc.pid, min(19, os.getpriority(os.PRIO_PROCESS, proc.pid) + nice))
            except OSError as e:
                log.warning("cannot lower the priority of job pid %d: %s", proc.pid, e.strerror or e)
        with self._lock:
            self._children.append(proc)
        return proc.pid

    def reap(self) -> None:
        """Collect the exit status of started jobs that have ended."""
        with self._lock:
            self._children = [p for p in self._children if p.poll() is None]
