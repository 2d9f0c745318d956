"""The agent's in-memory view: a background thread polls every ``poll_s`` and publishes an immutable Snapshot.

One poll: scan the process table (candidates only), group processes into jobs, feed each job's log the bytes added
since the last poll (LogLibrary), scan the dirs once each, build Jobs and DirViews, publish. RPCs read the latest
snapshot; WatchJobs waits on a condition for the next version. Nothing here scans per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from plotboss.errors import FailedPrecondition
from plotboss.safefile import FileId
from plotter_agent.dirs import DirScan, DirView, build_dirs, dir_mtime_ns, job_dirs, job_temp_bytes, scan_dir
from plotter_agent.jobs import Family, Job, LogRef, build_job, find_log_ref, group_families
from plotter_agent.loglib import LogLibrary
from plotter_agent.proctable import ProcessTable

log = logging.getLogger(__name__)

Clock = Callable[[], float]

#: How many polls a full read of a job's open files is reused (only jobs whose log or plot id is not known need it).
FDS_REUSE_POLLS = 12

#: Job fields that change on every poll by the passage of time alone; a change in them is not news for WatchJobs.
_VOLATILE = ("wall_s", "user_s", "sys_s", "iowait_s", "rss_bytes", "eta_s", "log_age_s", "progress")


@dataclass(frozen=True)
class Snapshot:
    time: float
    version: int
    jobs: tuple[Job, ...]
    dirs: tuple[DirView, ...]
    #: CPU seconds the polling thread spent on the poll that made this snapshot (thread time: RPC threads excluded).
    poll_cpu_s: float = 0.0


def _news_key(jobs: Sequence[Job]) -> tuple[object, ...]:
    keys = []
    for j in jobs:
        d = {k: v for k, v in vars(j).items() if k not in _VOLATILE}
        keys.append((tuple(sorted((k, repr(v)) for k, v in d.items())), round(j.progress, 3)))
    return tuple(keys)


class View:
    def __init__(
        self,
        *,
        log_dir: Path,
        dirs: Sequence[tuple[str, str]],
        table: ProcessTable,
        library: LogLibrary,
        stall_after_s: float,
        poll_s: float,
        clock: Clock = time.time,
        scan: Callable[[str], DirScan] = scan_dir,
        dir_mtime: Callable[[str], int | None] = dir_mtime_ns,
        dir_rescan_s: float = 15.0,
    ) -> None:
        self.log_dir = log_dir
        self.dirs = list(dirs)
        self.table = table
        self.library = library
        self.stall_after_s = stall_after_s
        self.poll_s = poll_s
        self.clock = clock
        self._scan = scan
        self._dir_mtime = dir_mtime
        self.dir_rescan_s = dir_rescan_s
        self._dir_cache: dict[str, tuple[int | None, float, DirScan]] = {}
        self._fds_cache: dict[tuple[int, float], tuple[int, tuple[tuple[int, str], ...], str]] = {}
        self._fds_next: dict[tuple[int, float], tuple[int, tuple[tuple[int, str], ...], str]] = {}
        #: each job's log (path and file) as last found, by (pid, create time): kept for the poll after its process
        #: lost its fds
        self._log_of: dict[tuple[int, float], tuple[str, FileId]] = {}
        self._polls = 0
        self._poll_lock = threading.Lock()
        #: guards the LogLibrary, which the poll thread and AnalyzeLogs/TailLog both use
        self.library_lock = threading.Lock()
        self._cond = threading.Condition()
        self._snapshot = Snapshot(time=0.0, version=0, jobs=(), dirs=())
        self._news: tuple[object, ...] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.closed = False

    @property
    def snapshot(self) -> Snapshot:
        with self._cond:
            return self._snapshot

    def poll(self, fresh: bool = False) -> Snapshot:
        """Refresh the view once (the poll thread calls this; control too, with ``fresh`` after changing files).

        A dir is listed again when its mtime changed (files created, removed, renamed), when ``fresh``, or when its
        listing is older than ``dir_rescan_s`` (temp files grow without touching the dir's mtime).
        """
        with self._poll_lock:
            cpu0 = time.thread_time()
            now = self.clock()
            self._polls += 1
            self._fds_next = {}
            families = group_families(self.table.scan())
            located: list[tuple[Family, str | None, str, FileId | None]] = []
            logs_next: dict[tuple[int, float], tuple[str, FileId]] = {}
            for fam in families:
                ref, reason = find_log_ref(fam, str(self.log_dir))
                if ref is None:  # the scan read fds 1 and 2 only; the log may be open on another fd
                    fam = self._with_all_fds(fam)
                    ref, reason = find_log_ref(fam, str(self.log_dir))
                path, log_id, reason = self._log_file(ref, reason)
                key = (fam.main.pid, fam.main.create_time)
                if path is None and key in self._log_of:
                    # a job that just exited (a zombie until its parent reaps it) has no fds left: its log is where
                    # it was a poll ago, so its id and final phase stay in view rather than turning into "?"
                    (path, log_id), reason = self._log_of[key], ""
                if path is not None and log_id is not None:
                    logs_next[key] = (path, log_id)
                located.append((fam, path, reason, log_id))
            self._log_of = logs_next
            ids = {Path(p): i for _f, p, _r, i in located if p is not None and i is not None}
            with self.library_lock:
                self.library.refresh(list(ids), ids)
                model = self.library.eta_model()
                logs = {}
                for _f, p, _r, _i in located:
                    if p is not None:
                        fol = self.library.follower(Path(p))
                        logs[p] = (fol.info.copy(), fol.last_growth or None)
            pre = []
            for fam, path, reason, log_id in located:
                info, growth = logs.get(path, (None, None)) if path is not None else (None, None)
                if info is None or not info.plot_id or info.completed:  # ids show in the names of open temp files
                    fam = self._with_all_fds(fam)
                # a log that does not state its start (bladebit's) started with its process
                started = fam.main.create_time if info is not None and info.plot_index == 1 else None
                progress = model.progress(info, now, started) if info is not None else 0.0
                eta = model.eta_s(info, now, started) if info is not None else None
                pre.append(
                    build_job(
                        fam,
                        now=now,
                        logfile=path,
                        log_reason=reason,
                        log_id=log_id,
                        info=info,
                        last_growth=growth,
                        progress=progress,
                        eta_s=eta,
                        tmp_bytes=0,
                        stall_after_s=self.stall_after_s,
                    )
                )
            wanted: list[str] = [p for p, _r in self.dirs]
            for j in pre:
                wanted.extend(d for d, _r in job_dirs(j))
            scans = self._scan_dirs(wanted, now, fresh)
            self._fds_cache = self._fds_next
            jobs = tuple(_with_tmp_bytes(j, job_temp_bytes(j, scans)) for j in pre)
            dirs = build_dirs(self.dirs, scans, jobs)
            cpu = time.thread_time() - cpu0
            return self._publish(now, jobs, dirs, cpu)

    def _log_file(self, ref: LogRef | None, reason: str) -> tuple[str | None, FileId | None, str]:
        """The log's path and the file the job's fd points to; no log when that is not a regular file (a FIFO in the
        log dir: reading it could block the poll)."""
        if ref is None:
            return None, None, reason
        log_id = self.table.fd_file(ref.pid, ref.fd)
        if log_id is None:
            return None, None, f"its output goes to {ref.path}, which is not a regular file"
        return ref.path, log_id, ""

    def _with_all_fds(self, fam: Family) -> Family:
        """The family with all its open files read (cached per process for ``FDS_REUSE_POLLS`` polls: a job's output
        does not move, and the temp files that name its plot id stay open for long)."""
        members = []
        for m in fam.members:
            key = (m.pid, m.create_time)
            hit = self._fds_cache.get(key)
            if hit is None or self._polls - hit[0] >= FDS_REUSE_POLLS:
                fds, err = self.table.open_files(m.pid)
                hit = (self._polls, fds, err)
            self._fds_next[key] = hit
            members.append(replace(m, fds=hit[1] or m.fds, fds_error=hit[2]))
        return replace(fam, main=members[0], members=tuple(members))

    def _scan_dirs(self, wanted: Sequence[str], now: float, fresh: bool) -> dict[str, DirScan]:
        scans: dict[str, DirScan] = {}
        cache: dict[str, tuple[int | None, float, DirScan]] = {}
        for d in wanted:
            if d in scans:
                continue
            mtime = self._dir_mtime(d)
            hit = self._dir_cache.get(d)
            if (
                not fresh
                and hit is not None
                and mtime is not None
                and hit[0] == mtime
                and now - hit[1] < self.dir_rescan_s
            ):
                scans[d] = hit[2]
                cache[d] = hit
            else:
                scans[d] = self._scan(d)
                cache[d] = (mtime, now, scans[d])
        self._dir_cache = cache
        return scans

    def _publish(self, now: float, jobs: tuple[Job, ...], dirs: tuple[DirView, ...], cpu: float) -> Snapshot:
        news = (_news_key(jobs), tuple((d.path, d.role, d.jobs, d.plots, d.suspects, d.orphans) for d in dirs))
        with self._cond:
            version = self._snapshot.version
            if news != self._news or version == 0:
                version += 1
                self._news = news
            self._snapshot = Snapshot(time=now, version=version, jobs=jobs, dirs=dirs, poll_cpu_s=cpu)
            self._cond.notify_all()
            return self._snapshot

    def first(self, timeout_s: float) -> Snapshot:
        """The latest snapshot once there is one (a fresh agent's first look takes a moment: it parses the old logs).

        FailedPrecondition when none came within ``timeout_s``; an empty job list is never answered for "not yet".
        """
        snap = self.wait_newer(0, timeout_s) if self.snapshot.version == 0 else self.snapshot
        if snap is None:
            raise FailedPrecondition("the agent is still taking its first look at the machine; try again in a moment")
        return snap

    def wait_newer(self, version: int, timeout_s: float) -> Snapshot | None:
        """The first snapshot with a version above ``version``; None on timeout or when the view is closed."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._snapshot.version <= version and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            if self._snapshot.version <= version:
                return None
            return self._snapshot

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:
                log.exception("poll failed; the view keeps its last snapshot")
            self._stop.wait(self.poll_s)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="plotter-view", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def _with_tmp_bytes(job: Job, n: int) -> Job:
    return replace(job, tmp_bytes=n)
