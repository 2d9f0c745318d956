"""The Job value type and the pure logic around it: grouping processes into jobs, naming, stall detection.

A Job combines what the process table says (pid, state, times, memory), what the command line says (plotter, k,
dirs, threads...) and what the log says (plot id, phase, phase times). Everything here is pure: the view builds jobs
from a scan with an injected clock.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from plotboss.errors import Ambiguous, InvalidArgument, NotFound
from plotboss.safefile import FileId
from plotter_agent.cmdline import JobCommand, parse_cmdline, resolve_path
from plotter_agent.logparse import LogInfo, Plotter
from plotter_agent.proctable import ProcFacts

HEX_RE = re.compile(r"^[0-9a-f]+\Z")
PID_NAME_RE = re.compile(r"^pid:([0-9]{1,10})\Z")
PLOT_ID_IN_NAME_RE = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")


class ProcState(enum.StrEnum):
    RUNNING = "running"
    SLEEPING = "sleeping"
    DISK_WAIT = "disk-wait"
    STOPPED = "stopped"
    ZOMBIE = "zombie"
    UNKNOWN = "unknown"


_STATUS = {
    "running": ProcState.RUNNING,
    "sleeping": ProcState.SLEEPING,
    "idle": ProcState.SLEEPING,
    "waking": ProcState.RUNNING,
    "disk-sleep": ProcState.DISK_WAIT,
    "stopped": ProcState.STOPPED,
    "tracing-stop": ProcState.STOPPED,
    "zombie": ProcState.ZOMBIE,
    "dead": ProcState.ZOMBIE,
}

# When a job's processes disagree, the most telling state wins: a running child makes the job running.
_PRECEDENCE = (
    ProcState.RUNNING,
    ProcState.DISK_WAIT,
    ProcState.SLEEPING,
    ProcState.STOPPED,
    ProcState.ZOMBIE,
    ProcState.UNKNOWN,
)


def proc_state(status: str) -> ProcState:
    return _STATUS.get(status, ProcState.UNKNOWN)


def family_state(states: Iterable[ProcState]) -> ProcState:
    present = set(states)
    for s in _PRECEDENCE:
        if s in present:
            return s
    return ProcState.UNKNOWN


@dataclass(frozen=True)
class Job:
    pid: int
    #: The job's processes: the main one first, then its plot-job descendants (a chia wrapper's plotter child).
    pids: tuple[int, ...]
    create_time: float
    cmdline: tuple[str, ...]
    plotter: Plotter
    k: int | None
    tmp_dir: str | None
    tmp2_dir: str | None
    dst_dir: str | None
    threads: int | None
    buckets: int | None
    buffer_mib: int | None
    state: ProcState
    wall_s: float
    user_s: float
    sys_s: float
    iowait_s: float
    rss_bytes: int
    plot_id: str | None = None
    plot_name: str | None = None
    logfile: str | None = None
    #: The file the job's output fd points to (``logfile`` is read only when it is this file).
    log_id: FileId | None = None
    #: None when unknown (see phase_unknown_reason); (0, 0) before the first phase starts.
    phase: tuple[int, int] | None = None
    phase_unknown_reason: str = ""
    progress: float = 0.0
    eta_s: float | None = None
    phase_times: tuple[tuple[int, float], ...] = ()
    start_time: float | None = None
    tmp_bytes: int = 0
    stalled: bool = False
    log_age_s: float | None = None
    #: Which plot of a multi-plot job (`-n N`) the job is on, from 1, and how many it makes (0: endless or unknown).
    plot_index: int = 1
    plot_count: int = 1
    #: The plot ids of the job's earlier plots (multi-plot jobs), from the log: madMAx and bladebit may still copy or
    #: write plot N-1 in the background while plot N runs, so their temp files are the job's, not orphans.
    earlier_plot_ids: tuple[str, ...] = ()
    #: bladebit's plotting mode (``ram``/``disk``/``cuda``): what the log's header says, else the command line's.
    mode: str | None = None

    @property
    def name(self) -> str:
        """How users name the job: its plot id, or ``pid:N`` until the id is known."""
        return self.plot_id or f"pid:{self.pid}"

    @property
    def plot_ids(self) -> tuple[str, ...]:
        """Every plot id whose temp files are this job's: the current plot's (when known) and the earlier plots'."""
        return (*((self.plot_id,) if self.plot_id else ()), *self.earlier_plot_ids)

    @property
    def dirs(self) -> tuple[str, ...]:
        seen: list[str] = []
        for d in (self.tmp_dir, self.tmp2_dir, self.dst_dir):
            if d and d not in seen:
                seen.append(d)
        return tuple(seen)


@dataclass(frozen=True)
class Family:
    """The processes of one job: the outermost plot-job process and its plot-job descendants."""

    main: ProcFacts
    command: JobCommand
    members: tuple[ProcFacts, ...]


def group_families(procs: Sequence[ProcFacts]) -> list[Family]:
    """Parse each candidate's command line and fold parent/child plot-job processes into one job.

    A process whose ancestor (among the candidates) is a plot job belongs to that ancestor's job: chia 2.x's
    ``chia plotters madmax`` spawning ``chia_plot``, or a plotter re-executing itself. Wrappers that are not plot jobs
    (``sh -c``, ``nohup``) are not candidates, so their plot-job child stands alone.
    """
    parsed: dict[int, tuple[ProcFacts, JobCommand]] = {}
    for p in procs:
        cmd = parse_cmdline(p.cmdline, p.cwd)
        if cmd is not None:
            parsed[p.pid] = (p, cmd)
    root_of: dict[int, int] = {}

    def root(pid: int) -> int:
        path = [pid]
        while True:
            parent = parsed[path[-1]][0].ppid
            if parent not in parsed:
                return path[-1]
            if parent in path:  # a cycle (only a racy or fake table has one): settle on its lowest pid
                return min(path[path.index(parent) :])
            path.append(parent)

    for pid in parsed:
        root_of[pid] = root(pid)
    members: dict[int, list[ProcFacts]] = {}
    for pid in sorted(parsed):
        members.setdefault(root_of[pid], []).append(parsed[pid][0])
    out: list[Family] = []
    for rpid, ms in members.items():
        main, main_cmd = parsed[rpid]
        command = main_cmd
        # a wrapper's child has the real plotter's view of the dirs; prefer it when the wrapper's parse is thinner
        for m in ms:
            if m.pid != rpid and main_cmd.wrapper:
                command = parsed[m.pid][1]
        ordered = (main, *[m for m in ms if m.pid != rpid])
        out.append(Family(main=main, command=command, members=ordered))
    out.sort(key=lambda f: (f.main.create_time, f.main.pid))
    return out


class LogRef(NamedTuple):
    """Where a job's log is: its path, and the process and fd that write it (the fd says which file it really is)."""

    path: str
    pid: int
    fd: int


def find_log(family: Family, log_dir: str) -> tuple[str | None, str]:
    """The family's log: where stdout/stderr point inside ``log_dir``; else (None, why not)."""
    ref, reason = find_log_ref(family, log_dir)
    return (ref.path if ref is not None else None), reason


def find_log_ref(family: Family, log_dir: str) -> tuple[LogRef | None, str]:
    """Like :func:`find_log`, with the pid and fd whose target it is."""
    prefix = log_dir.rstrip("/") + "/"
    errors: list[str] = []
    seen_out: list[str] = []
    for m in family.members:
        if m.fds_error:
            errors.append(m.fds_error)
        fds = dict(m.fds)
        for fd in (1, 2):
            target = fds.get(fd)
            if target is None:
                continue
            target = target.removesuffix(" (deleted)")
            if target.startswith(prefix):
                return LogRef(target, m.pid, fd), ""
            seen_out.append(target)
        for fd, target in m.fds:
            if target.startswith(prefix) and not target.endswith(" (deleted)"):
                return LogRef(target, m.pid, fd), ""
    if seen_out:
        return None, f"its output goes to {seen_out[0]}, not to a file in the log dir {log_dir}"
    if errors:
        return None, f"log unknown: {errors[0]}"
    return None, f"its output does not go to a file in the log dir {log_dir}"


def plot_id_from_files(family: Family) -> str | None:
    """A plot id from the names of the family's open files (temp files are named for it), or None."""
    for m in family.members:
        for _fd, target in m.fds:
            base = os.path.basename(target)
            hit = PLOT_ID_IN_NAME_RE.search(base)
            if hit is not None and ".plot" in base:
                return hit.group(1)
    return None


def is_stalled(state: ProcState, log_age_s: float | None, stall_after_s: float) -> bool:
    """The log has not grown for ``stall_after_s`` while the process is not running.

    A suspended (STOPPED) job is not stalled: someone stopped it on purpose, and its state says so.
    """
    if log_age_s is None:
        return False
    if state in (ProcState.RUNNING, ProcState.STOPPED):
        return False
    return log_age_s >= stall_after_s


def _pick(a: str | None, b: str | None) -> str | None:
    return a if a else b


def _stated(from_log: int | None, from_cmdline: int | None) -> int | None:
    return from_log if from_log is not None else from_cmdline


def build_job(
    family: Family,
    *,
    now: float,
    logfile: str | None,
    log_reason: str,
    log_id: FileId | None = None,
    info: LogInfo | None,
    last_growth: float | None,
    progress: float,
    eta_s: float | None,
    tmp_bytes: int,
    stall_after_s: float,
) -> Job:
    """Combine process, command line and log facts into a Job (pure)."""
    cmd = family.command
    main = family.main
    state = family_state(proc_state(m.status) for m in family.members)
    plot_id = info.plot_id if info is not None and info.plot_id else plot_id_from_files(family)
    phase: tuple[int, int] | None = None
    reason = log_reason
    if info is not None:
        phase = info.phase
        reason = ""
    log_age = None if last_growth is None else max(0.0, now - last_growth)
    return Job(
        pid=main.pid,
        pids=tuple(m.pid for m in family.members),
        create_time=main.create_time,
        cmdline=main.cmdline,
        plotter=info.plotter if info is not None and info.plotter is not None else cmd.plotter,
        k=info.k if info is not None and info.k else cmd.k,
        # a log names dirs as the plotter got them (relative ones too): they resolve against the job's cwd
        tmp_dir=_pick(cmd.tmp_dir, resolve_path(info.tmp_dir, main.cwd) if info else None),
        tmp2_dir=_pick(cmd.tmp2_dir, resolve_path(info.tmp2_dir, main.cwd) if info else None),
        dst_dir=_pick(cmd.dst_dir, resolve_path(info.dst_dir, main.cwd) if info else None),
        # what the log states is what the plotter uses: it wins over the command line (and its command's defaults)
        threads=_stated(info.threads if info else None, cmd.threads),
        buckets=_stated(info.buckets if info else None, cmd.buckets),
        buffer_mib=_stated(info.buffer_mib if info else None, cmd.buffer_mib),
        state=state,
        wall_s=max(0.0, now - main.create_time),
        user_s=sum(m.user_s for m in family.members),
        sys_s=sum(m.sys_s for m in family.members),
        iowait_s=sum(m.iowait_s for m in family.members),
        rss_bytes=sum(m.rss_bytes for m in family.members),
        plot_id=plot_id,
        plot_name=info.plot_name if info is not None else None,
        logfile=logfile,
        log_id=log_id if logfile is not None else None,
        phase=phase,
        phase_unknown_reason=reason,
        progress=min(1.0, max(0.0, progress)),
        eta_s=eta_s,
        phase_times=tuple(sorted(info.phase_times.items())) if info is not None else (),
        start_time=info.start_time if info is not None and info.start_time else main.create_time,
        tmp_bytes=tmp_bytes,
        stalled=is_stalled(state, log_age, stall_after_s),
        log_age_s=log_age,
        plot_index=info.plot_index if info is not None else 1,
        plot_count=max(cmd.count, 0),
        earlier_plot_ids=tuple(i for i in info.earlier_plots if i != plot_id) if info is not None else (),
        mode=info.mode if info is not None and info.mode else cmd.mode,
    )


def find_job(jobs: Sequence[Job], name: str) -> Job:
    """The job named by a unique plot-id prefix or ``pid:N``.

    InvalidArgument for an empty or non-hex name; NotFound when nothing matches; Ambiguous (listing the matches)
    when a prefix matches more than one job.
    """
    text = name.strip()
    if not text:
        raise InvalidArgument("job name is empty: give a plot-id prefix (hex) or pid:N")
    m = PID_NAME_RE.match(text)
    if m is not None:
        pid = int(m.group(1))
        for j in jobs:
            if pid in j.pids:
                return j
        raise NotFound(f"no plot job with pid {pid}")
    prefix = text.lower()
    if not HEX_RE.match(prefix) or len(prefix) > 64:
        raise InvalidArgument(f"job name {name[:80]!r}: expected a plot-id prefix (up to 64 hex digits) or pid:N")
    matches = [j for j in jobs if j.plot_id and j.plot_id.startswith(prefix)]
    if not matches:
        raise NotFound(f"no plot job with a plot id starting {prefix[:80]!r}")
    if len(matches) > 1:
        listed = ", ".join(f"{j.plot_id} (pid {j.pid})" for j in matches)
        raise Ambiguous(f"job prefix {prefix!r} matches {len(matches)} jobs: {listed}")
    return matches[0]
