"""The process table seam: find plot-job processes and read the facts the agent needs about them.

``ProcessTable`` is what the rest of the agent sees (tests inject fakes); ``SystemProcessTable`` is the production
default. It stays lean per poll: command lines come from ``/proc/PID/cmdline`` and are cached by pid (a process's
command line is re-read when the pid is new, and every ``recheck_every`` polls for all pids in case of pid reuse or
exec); only the few candidates that look like plot jobs are read further: one read of ``/proc/PID/stat`` (state,
times, RSS, iowait ticks) and the ``cwd``, ``fd/1`` and ``fd/2`` links, with psutil as the fallback off that layout.
A process's state is that of its busiest thread (``/proc/PID/task/*/stat``, read only when the main thread waits):
plotters compute in worker threads while the main thread sleeps in a join, and such a job is running.
Processes that vanish or deny access mid-scan are skipped or reported with what could be read.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import psutil

from plotboss.safefile import FileId, regular_id
from plotter_agent.cmdline import is_candidate

log = logging.getLogger(__name__)

PROC = "/proc"


@dataclass(frozen=True)
class ProcFacts:
    """One candidate process as read from the table."""

    pid: int
    ppid: int
    cmdline: tuple[str, ...]
    create_time: float
    #: psutil status string: running, sleeping, disk-sleep, stopped, tracing-stop, zombie, dead, idle, ...
    status: str
    user_s: float
    sys_s: float
    iowait_s: float
    rss_bytes: int
    cwd: str | None
    #: fd number -> link target (paths, or "pipe:[...]" / "socket:[...]" / "/dev/pts/N"); empty when unreadable.
    #: A scan reads only fds 1 and 2 (where a job's log is); ``ProcessTable.open_files`` reads them all.
    fds: tuple[tuple[int, str], ...]
    #: Why fds is empty when it could not be read ("access denied"), else "".
    fds_error: str = ""


class ProcessTable(Protocol):
    """The seam: everything the agent asks of the operating system about processes."""

    def scan(self) -> list[ProcFacts]:
        """Facts about every process whose command line looks like a plot job."""
        ...

    def facts(self, pid: int) -> ProcFacts | None:
        """Fresh facts about one pid (None when it is gone), whatever its command line."""
        ...

    def open_files(self, pid: int) -> tuple[tuple[tuple[int, str], ...], str]:
        """All of a process's open files (fd, target) and why they could not be read ("" when they could)."""
        ...

    def fd_file(self, pid: int, fd: int) -> FileId | None:
        """The regular file a process's fd points to (None when it is not one, or the process is gone): which file
        its log really is, whatever the path shows now."""
        ...

    def signal(self, pid: int, sig: signal.Signals) -> None:
        """Send a signal; ProcessLookupError when the pid is gone."""
        ...


def _read_cmdline(pid: int) -> tuple[str, ...] | None:
    try:
        with open(f"{PROC}/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    if not raw:
        return ()
    return tuple(raw.rstrip(b"\0").decode("utf-8", errors="replace").split("\0"))


def read_fds(pid: int, only: Sequence[int] | None = None) -> tuple[tuple[tuple[int, str], ...], str]:
    """(fd, link target) of a process's open files (just ``only`` when given), and why they could not be read."""
    base = f"{PROC}/{pid}/fd"
    if only is not None:
        names = [str(n) for n in only]
    else:
        try:
            names = os.listdir(base)
        except PermissionError:
            return (), "access denied reading its open files"
        except OSError:
            return (), "its open files could not be read"
    out: list[tuple[int, str]] = []
    denied = False
    for n in names:
        try:
            out.append((int(n), os.readlink(f"{base}/{n}")))
        except PermissionError:
            denied = True
        except (OSError, ValueError):
            continue
    out.sort()
    if denied and not out:
        return (), "access denied reading its open files"
    return tuple(out), ""


#: /proc/PID/stat state letters -> psutil's status words
_STATES = {
    "R": "running",
    "S": "sleeping",
    "D": "disk-sleep",
    "T": "stopped",
    "t": "tracing-stop",
    "Z": "zombie",
    "X": "dead",
    "I": "idle",
    "W": "waking",
}
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_BOOT_TIME: float | None = None


def _boot_time() -> float:
    global _BOOT_TIME
    if _BOOT_TIME is None:
        _BOOT_TIME = psutil.boot_time()
    return _BOOT_TIME


_LETTERS = {word: letter for letter, word in _STATES.items()}
#: Main-thread states in which the other threads may still be at work (a plotter's main thread waits on its workers).
_WAITING = frozenset("SDI")
#: Thread states by how busy they tell the process is: a running thread makes the process running, then disk wait.
_BUSY_ORDER = "RDSI"


def _busiest_thread(pid: int, main_state: str) -> str:
    """The busiest state among the process's threads (``/proc/PID/task/*/stat``): a job is running when any of its
    threads is, though its main thread sleeps in a join. ``main_state`` when the threads cannot be read."""
    best = main_state
    try:
        tids = os.listdir(f"{PROC}/{pid}/task")
    except OSError:
        return best
    for tid in tids:
        try:
            with open(f"{PROC}/{pid}/task/{tid}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue  # the thread ended meanwhile
        after = raw[raw.rfind(b")") + 2 :]
        st = after[:1].decode(errors="replace")
        if st in _BUSY_ORDER and _BUSY_ORDER.index(st) < _BUSY_ORDER.index(best):
            best = st
            if best == "R":
                break
    return best


def _read_stat(pid: int, cmd: tuple[str, ...], fds_only: Sequence[int] | None) -> ProcFacts | None:
    """Linux fast path: one read of /proc/PID/stat plus two readlinks; None when the process is gone."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # fields after the ")" that closes the command name: state ppid ... (see proc(5))
    rest = raw[raw.rfind(b")") + 2 :].split()
    if len(rest) < 40:
        raise ValueError(f"/proc/{pid}/stat: unexpected format")
    try:
        cwd: str | None = os.readlink(f"{PROC}/{pid}/cwd")
    except OSError:
        cwd = None
    fds, fds_error = read_fds(pid, fds_only)
    state = rest[0].decode()
    if state in _WAITING:
        state = _busiest_thread(pid, state)
    return ProcFacts(
        pid=pid,
        ppid=int(rest[1]),
        cmdline=cmd,
        create_time=_boot_time() + int(rest[19]) / _TICKS,
        status=_STATES.get(state, "unknown"),
        user_s=int(rest[11]) / _TICKS,
        sys_s=int(rest[12]) / _TICKS,
        iowait_s=int(rest[39]) / _TICKS,  # delayacct_blkio_ticks, what psutil reports as iowait
        rss_bytes=int(rest[21]) * _PAGE,
        cwd=cwd,
        fds=fds,
        fds_error=fds_error,
    )


def read_facts(
    pid: int, cmdline: Sequence[str] | None = None, fds_only: Sequence[int] | None = None
) -> ProcFacts | None:
    """Everything about one process, or None when it vanished. AccessDenied on parts leaves those parts empty.

    ``fds_only`` limits the open files read to those fds (the scan reads 1 and 2, where a job's log is).
    """
    if cmdline is not None and os.path.isdir(PROC):
        try:
            return _read_stat(pid, tuple(cmdline), fds_only)
        except (ValueError, IndexError):
            pass  # not the Linux layout we know: psutil below
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            cmd = tuple(cmdline) if cmdline is not None else tuple(p.cmdline())
            create_time = p.create_time()
            status: str = p.status()
            ppid = p.ppid()
            try:
                t = p.cpu_times()
                user_s, sys_s = t.user, t.system
                iowait_s = float(getattr(t, "iowait", 0.0))
            except psutil.AccessDenied:
                user_s = sys_s = iowait_s = 0.0
            try:
                rss = int(p.memory_info().rss)
            except psutil.AccessDenied:
                rss = 0
            try:
                cwd = p.cwd()
            except psutil.AccessDenied:
                cwd = None
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return None
    letter = _LETTERS.get(status)
    if letter in _WAITING and os.path.isdir(PROC):
        status = _STATES[_busiest_thread(pid, letter)]
    fds, fds_error = read_fds(pid, fds_only)
    return ProcFacts(
        pid=pid,
        ppid=ppid,
        cmdline=cmd,
        create_time=create_time,
        status=status,
        user_s=user_s,
        sys_s=sys_s,
        iowait_s=iowait_s,
        rss_bytes=rss,
        cwd=cwd,
        fds=fds,
        fds_error=fds_error,
    )


class SystemProcessTable:
    """The production process table (Linux /proc + psutil)."""

    def __init__(self, recheck_every: int = 12, candidate: Callable[[Sequence[str]], bool] = is_candidate) -> None:
        self._cmdlines: dict[int, tuple[tuple[str, ...], bool]] = {}
        self._recheck_every = max(1, recheck_every)
        self._polls = 0
        self._candidate = candidate

    def candidates(self) -> list[tuple[int, tuple[str, ...]]]:
        """Pids whose command line looks like a plot job (command lines and verdicts cached by pid)."""
        self._polls += 1
        recheck = self._polls % self._recheck_every == 0
        try:
            pids = [int(d) for d in os.listdir(PROC) if d.isdigit()]
        except OSError:
            pids = psutil.pids()
        fresh: dict[int, tuple[tuple[str, ...], bool]] = {}
        out: list[tuple[int, tuple[str, ...]]] = []
        for pid in pids:
            hit = None if recheck else self._cmdlines.get(pid)
            if hit is None:
                cmd = _read_cmdline(pid)
                if cmd is None:
                    continue
                hit = (cmd, bool(cmd) and self._candidate(cmd))
            fresh[pid] = hit
            if hit[1]:
                out.append((pid, hit[0]))
        self._cmdlines = fresh
        return out

    def scan(self) -> list[ProcFacts]:
        out: list[ProcFacts] = []
        for pid, cmd in self.candidates():
            facts = read_facts(pid, cmd, fds_only=(1, 2))
            if facts is not None:
                out.append(facts)
        return out

    def facts(self, pid: int) -> ProcFacts | None:
        return read_facts(pid, fds_only=(1, 2))

    def open_files(self, pid: int) -> tuple[tuple[tuple[int, str], ...], str]:
        return read_fds(pid)

    def fd_file(self, pid: int, fd: int) -> FileId | None:
        return regular_id(f"{PROC}/{pid}/fd/{fd}")  # a stat through the fd's magic link: never opens, never blocks

    def signal(self, pid: int, sig: signal.Signals) -> None:
        os.kill(pid, sig)
