"""After a restart: the agent's transfers found again in the process table, and a transfer's outcome read from the
rsync log file its command line names (a restarted agent is not rsync's parent and cannot learn its exit status).

Every push runs with ``--log-file=<transfers dir>/<plot>.<reservation id>.rsync.log`` (``rsync_runner``). rsync
appends to that file, one ``[pid]`` per run, and ends a run with one of (real lines, rsync 3.5)::

    2026/12/01 20:40:43 [12877] sent 4195499 bytes  received 44 bytes  total size 4194304
    2026/12/01 20:40:43 [12884] rsync error: error starting client-server protocol (code 5) at main.c(1954) ...

A run that shows neither was killed (or is still running). Pure: the caller reads the process table and the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from plotter_agent.rsync_runner import RecoveredTransfer, parse_argv

_LINE_RE = re.compile(r"^\S+ \S+ \[(?P<pid>[0-9]+)\] (?P<msg>.*)$")
_ERROR_RE = re.compile(r"^rsync error: .*\(code (?P<code>[0-9]+)\)")
_SENT_RE = re.compile(r"^sent [0-9,]+ bytes\s+received [0-9,]+ bytes\s+total size [0-9,]+")
TAIL_LINES = 20


def find_transfers(procs: Iterable[tuple[int, Sequence[str]]], log_dir: str) -> list[tuple[int, RecoveredTransfer]]:
    """(pid, transfer) for each process whose command line is one of our pushes (see ``rsync_runner.parse_argv``).

    rsync runs as two processes locally only for local copies; a push to a daemon is one process, so each
    transfer appears once. Sorted by pid."""
    found = []
    for pid, argv in procs:
        t = parse_argv(argv, log_dir)
        if t is not None:
            found.append((pid, t))
    return sorted(found, key=lambda x: x[0])


@dataclass(frozen=True)
class LogOutcome:
    pid: int | None
    #: the run ended by itself (with a final "sent" or "rsync error" line)
    finished: bool
    #: 0 for a run that ended with "sent ... total size" and no error; the code of its "rsync error" line
    returncode: int | None
    #: that run's last lines (without the date and pid), for the record of the outcome
    tail: tuple[str, ...]


def outcome_from_log(text: str, pid: int | None = None) -> LogOutcome:
    """The outcome of the run ``pid`` (None: the last run in the file) of an rsync log."""
    runs: dict[int, list[str]] = {}
    order: list[int] = []
    for line in text.splitlines():
        m = _LINE_RE.match(line)
        if m is None:
            continue
        p = int(m["pid"])
        if p not in runs:
            runs[p] = []
            order.append(p)
        runs[p].append(m["msg"])
    if pid is None:
        pid = order[-1] if order else None
    lines = runs.get(pid, []) if pid is not None else []
    tail = tuple(lines[-TAIL_LINES:])
    for msg in reversed(lines):
        e = _ERROR_RE.match(msg)
        if e is not None:
            return LogOutcome(pid, True, int(e["code"]), tail)
    if any(_SENT_RE.match(msg) for msg in lines):
        return LogOutcome(pid, True, 0, tail)
    return LogOutcome(pid, False, None, tail)
