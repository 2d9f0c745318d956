"""A fake process table (the plotter agent's ``ProcessTable`` seam) and builders of the facts and jobs it holds."""

from __future__ import annotations

import signal
from dataclasses import replace

from plotboss.safefile import FileId, regular_id
from plotter_agent.jobs import Job, ProcState
from plotter_agent.logparse import Plotter
from plotter_agent.proctable import ProcFacts

#: the command line of a k32 `chia plots create` job, as psutil shows it
CHIA_CMDLINE = ("python3", "/venv/bin/chia", "plots", "create", "-k", "32", "-t", "/t", "-d", "/d")


def proc(
    pid: int,
    cmdline: tuple[str, ...] = CHIA_CMDLINE,
    *,
    ppid: int = 1,
    status: str = "running",
    fds: tuple[tuple[int, str], ...] = (),
    fds_error: str = "",
    create_time: float = 1000.0,
) -> ProcFacts:
    """One process as the table reports it (CPU times, RSS and cwd fixed)."""
    return ProcFacts(
        pid=pid,
        ppid=ppid,
        cmdline=cmdline,
        create_time=create_time,
        status=status,
        user_s=1.0,
        sys_s=0.5,
        iowait_s=0.25,
        rss_bytes=100,
        cwd="/home",
        fds=fds,
        fds_error=fds_error,
    )


def job(pid: int, plot_id: str | None, *, state: ProcState = ProcState.RUNNING) -> Job:
    """A k32 chia job of one process with tmp /t and dst /d."""
    return Job(
        pid=pid,
        pids=(pid,),
        create_time=1000.0,
        cmdline=CHIA_CMDLINE,
        plotter=Plotter.CHIA,
        k=32,
        tmp_dir="/t",
        tmp2_dir=None,
        dst_dir="/d",
        threads=2,
        buckets=128,
        buffer_mib=3389,
        state=state,
        wall_s=1.0,
        user_s=0.0,
        sys_s=0.0,
        iowait_s=0.0,
        rss_bytes=0,
        plot_id=plot_id,
    )


class FakeTable:
    """A process table whose processes change state on signals, as the kernel would do it."""

    def __init__(self, procs: list[ProcFacts]) -> None:
        self.procs = {p.pid: p for p in procs}
        self.signals: list[tuple[int, signal.Signals]] = []
        self.ignore_term = False

    def scan(self) -> list[ProcFacts]:
        return list(self.procs.values())

    def facts(self, pid: int) -> ProcFacts | None:
        return self.procs.get(pid)

    def open_files(self, pid: int) -> tuple[tuple[tuple[int, str], ...], str]:
        p = self.procs.get(pid)
        return (p.fds, "") if p is not None else ((), "gone")

    def fd_file(self, pid: int, fd: int) -> FileId | None:
        p = self.procs.get(pid)
        target = dict(p.fds).get(fd) if p is not None else None
        return regular_id(target.removesuffix(" (deleted)")) if target is not None else None

    def signal(self, pid: int, sig: signal.Signals) -> None:
        if pid not in self.procs:
            raise ProcessLookupError(pid)
        self.signals.append((pid, sig))
        p = self.procs[pid]
        if sig is signal.SIGSTOP:
            self.procs[pid] = replace(p, status="stopped")
        elif sig is signal.SIGCONT:
            self.procs[pid] = replace(p, status="running")
        elif sig is signal.SIGKILL or (sig is signal.SIGTERM and not self.ignore_term):
            del self.procs[pid]
