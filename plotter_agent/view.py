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

from plotter_agent.dirs import DirScan, DirView, build_dirs, job_dirs, job_temp_bytes, scan_dir
from plotter_agent.jobs import Job, build_job, find_log, group_families
from plotter_agent.loglib import LogLibrary
from plotter_agent.proctable import ProcessTable

log = logging.getLogger(__name__)

Clock = Callable[[], float]

#: Job fields that change on every poll by the passage of time alone; a change in them is not news for WatchJobs.
_VOLATILE = ("wall_s", "user_s", "sys_s", "iowait_s", "rss_bytes", "eta_s", "log_age_s", "progress")


@dataclass(frozen=True)
class Snapshot:
    time: float
    version: int
    jobs: tuple[Job, ...]
    dirs: tuple[DirView, ...]
    #: CPU seconds (process time) the poll that made this snapshot took.
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
    ) -> None:
        self.log_dir = log_dir
        self.dirs = list(dirs)
        self.table = table
        self.library = library
        self.stall_after_s = stall_after_s
        self.poll_s = poll_s
        self.clock = clock
        self._scan = scan
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

    def poll(self) -> Snapshot:
        """Refresh the view once (the poll thread calls this; so does control after changing a job)."""
        with self._poll_lock:
            cpu0 = time.process_time()
            now = self.clock()
            families = group_families(self.table.scan())
            located = [(f, *find_log(f, str(self.log_dir))) for f in families]
            active = [Path(p) for _f, p, _r in located if p is not None]
            with self.library_lock:
                self.library.refresh(active)
                model = self.library.eta_model()
                logs = {}
                for _f, p, _r in located:
                    if p is not None:
                        fol = self.library.follower(Path(p))
                        logs[p] = (fol.info.copy(), fol.last_growth or None)
            pre = []
            for fam, path, reason in located:
                info, growth = logs.get(path, (None, None)) if path is not None else (None, None)
                progress = model.progress(info, now) if info is not None else 0.0
                eta = model.eta_s(info, now) if info is not None else None
                pre.append(
                    build_job(
                        fam,
                        now=now,
                        logfile=path,
                        log_reason=reason,
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
            scans: dict[str, DirScan] = {}
            for d in wanted:
                if d not in scans:
                    scans[d] = self._scan(d)
            jobs = tuple(_with_tmp_bytes(j, job_temp_bytes(j, scans)) for j in pre)
            dirs = build_dirs(self.dirs, scans, jobs)
            cpu = time.process_time() - cpu0
            return self._publish(now, jobs, dirs, cpu)

    def _publish(self, now: float, jobs: tuple[Job, ...], dirs: tuple[DirView, ...], cpu: float) -> Snapshot:
        news = (_news_key(jobs), tuple((d.path, d.role, d.jobs, d.plot_count, d.orphans) for d in dirs))
        with self._cond:
            version = self._snapshot.version
            if news != self._news or version == 0:
                version += 1
                self._news = news
            self._snapshot = Snapshot(time=now, version=version, jobs=jobs, dirs=dirs, poll_cpu_s=cpu)
            self._cond.notify_all()
            return self._snapshot

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
