"""Job control: kill (SIGTERM, SIGKILL after a grace period, then remove that job's temp files, those of the earlier
plots of a multi-plot job included), suspend, resume.

Only jobs in the view can be named, and before any signal each of the job's pids is re-read from the process table:
it must be the same process (same start time) and still a plot job, so a recycled pid is never signalled.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from plotboss.errors import FailedPrecondition
from plotter_agent.cmdline import parse_cmdline
from plotter_agent.dirs import TempFile, remove_files, temp_files_of
from plotter_agent.jobs import Job, ProcState, find_job
from plotter_agent.proctable import ProcessTable
from plotter_agent.view import View

log = logging.getLogger(__name__)

_GONE_STATUSES = ("zombie", "dead")
FIRST_SNAPSHOT_WAIT_S = 10.0


@dataclass(frozen=True)
class KillResult:
    job: Job
    removed_files: tuple[str, ...]
    removed_bytes: int


class Controller:
    def __init__(
        self,
        view: View,
        table: ProcessTable,
        *,
        kill_grace_s: float,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        list_temps: Callable[[Iterable[str], Iterable[str]], list[TempFile]] = temp_files_of,
        remove: Callable[[Iterable[TempFile]], tuple[list[str], int]] = remove_files,
    ) -> None:
        self.view = view
        self.table = table
        self.kill_grace_s = kill_grace_s
        self._sleep = sleep
        self._monotonic = monotonic
        #: the file-system seams: a fresh listing of a job's temp files, and their removal (re-checked by name)
        self._list_temps = list_temps
        self._remove = remove
        #: set when the agent stops: a kill waiting out its grace period gives up waiting (the job has had its SIGTERM)
        #: instead of keeping the stopping agent alive for up to kill_grace_s
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def find(self, name: str) -> Job:
        return find_job(self.view.first(FIRST_SNAPSHOT_WAIT_S).jobs, name)

    def _verified_pids(self, job: Job) -> list[int]:
        """The job's pids that are still the same plot-job processes; FailedPrecondition when the main one is not."""
        alive: list[int] = []
        for pid in job.pids:
            facts = self.table.facts(pid)
            if facts is None or facts.status in _GONE_STATUSES:
                if pid == job.pid:
                    raise FailedPrecondition(f"job {job.name}: process {pid} has exited")
                continue
            same = abs(facts.create_time - job.create_time) < 1.0 if pid == job.pid else True
            if not same or parse_cmdline(facts.cmdline, facts.cwd) is None:
                if pid == job.pid:
                    raise FailedPrecondition(f"job {job.name}: pid {pid} is no longer that plot job; nothing done")
                continue
            alive.append(pid)
        return alive

    def _signal_all(self, pids: list[int], sig: signal.Signals) -> None:
        for pid in pids:
            try:
                self.table.signal(pid, sig)
            except ProcessLookupError:
                continue
            except PermissionError as e:
                raise FailedPrecondition(f"not permitted to signal pid {pid}: {e.strerror or e}") from None

    def _alive(self, pids: list[int]) -> list[int]:
        out = []
        for pid in pids:
            facts = self.table.facts(pid)
            if facts is not None and facts.status not in _GONE_STATUSES:
                out.append(pid)
        return out

    def _wait_gone(self, pids: list[int], timeout_s: float) -> list[int]:
        deadline = self._monotonic() + timeout_s
        left = self._alive(pids)
        while left and self._monotonic() < deadline and not self._stopping.is_set():
            self._sleep(0.1)
            left = self._alive(left)
        return left

    def _refreshed(self, job: Job) -> Job:
        snap = self.view.poll()
        for j in snap.jobs:
            if j.pid == job.pid and j.create_time == job.create_time:
                return j
        return job

    def kill(self, name: str, grace_s: float | None = None) -> KillResult:
        job = self.find(name)
        pids = self._verified_pids(job)
        grace = self.kill_grace_s if grace_s is None or grace_s <= 0 else grace_s
        log.info("killing job %s (pids %s)", job.name, pids)
        # a stopped process only acts on SIGTERM once continued
        self._signal_all(pids, signal.SIGTERM)
        self._signal_all(pids, signal.SIGCONT)
        left = self._wait_gone(pids, grace)
        if left and self._stopping.is_set():
            raise FailedPrecondition(
                f"job {job.name}: the agent is stopping; the job had SIGTERM but has not exited yet (no SIGKILL, "
                "temp files left in place)"
            )
        if left:
            log.info("job %s did not exit within %.1f s of SIGTERM; SIGKILL to %s", job.name, grace, left)
            self._signal_all(left, signal.SIGKILL)
            left = self._wait_gone(left, 10.0)
            if left:
                raise FailedPrecondition(f"job {job.name}: pids {left} survived SIGKILL; temp files left in place")
        removed: list[str] = []
        removed_bytes = 0
        if job.plot_ids:
            # the earlier plots' too: a multi-plot job may have been copying plot N-1 when it died, and nothing will
            # finish that copy now (only temp files are removed, never a finished .plot)
            removed, removed_bytes = self._remove(self._list_temps(job.plot_ids, job.dirs))
            log.info("job %s: removed %d temp files (%d bytes)", job.name, len(removed), removed_bytes)
        self.view.poll(fresh=True)
        return KillResult(job=job, removed_files=tuple(removed), removed_bytes=removed_bytes)

    def suspend(self, name: str) -> Job:
        job = self.find(name)
        pids = self._verified_pids(job)
        # children first, so that a parent never sees a child stop under it while it is still running
        self._signal_all(list(reversed(pids)), signal.SIGSTOP)
        return self._settled(job, ProcState.STOPPED)

    def resume(self, name: str) -> Job:
        job = self.find(name)
        pids = self._verified_pids(job)
        self._signal_all(pids, signal.SIGCONT)
        return self._settled(job, None)

    def _settled(self, job: Job, want: ProcState | None) -> Job:
        """Refresh the view until the job shows the wanted state (the kernel applies signals asynchronously)."""
        deadline = self._monotonic() + 2.0
        fresh = self._refreshed(job)
        while self._monotonic() < deadline:
            done = fresh.state == want if want is not None else fresh.state != ProcState.STOPPED
            if done:
                break
            self._sleep(0.05)
            fresh = self._refreshed(job)
        return fresh

    def clean_orphans(self, expected_bytes: int | None) -> tuple[list[str], int]:
        """Remove the orphan temp files of a fresh view; FailedPrecondition (nothing removed) when their total is not
        ``expected_bytes`` (the set changed since the caller looked)."""
        snap = self.view.poll(fresh=True)
        seen: dict[str, TempFile] = {}
        for d in snap.dirs:
            for f in d.orphans:
                seen.setdefault(f.path, f)
        total = sum(f.size_bytes for f in seen.values())
        if expected_bytes is not None and total != expected_bytes:
            raise FailedPrecondition(
                f"the orphan temp files now take {total} bytes, not the {expected_bytes} confirmed; nothing removed"
            )
        removed, removed_bytes = self._remove(seen.values())
        log.info("removed %d orphan temp files (%d bytes)", len(removed), removed_bytes)
        self.view.poll(fresh=True)
        return removed, removed_bytes
