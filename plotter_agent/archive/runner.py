"""The archiver: the plotter agent's loop that moves finished plots from its dst dirs to the farmers by itself.

Each pass (a ``PeriodicLoop``, woken early when a push ends):

1. **Find its pushes again** (``recovery.find_transfers`` over the rsync processes): one not tracked (the agent
   restarted while it ran) is adopted: watched until it exits, its lease renewed, its outcome read from its log file
   by pid. A push log not marked handled whose rsync is gone (it ended while the agent was down) is acted on the same
   way (``records``: the transfers dir plus the process table are the whole record; the agent keeps no state).
2. **Reap** pushes that ended and act on each outcome through ``outcome.next_step`` (``finish.Finisher``): Complete,
   and only after Complete OK delete the source (still the same file); Release on failure, avoiding the farmer or
   drive at fault; resume on the kept reservation for a push cut short.
3. **Start** pushes while fewer than ``max_concurrent_transfers`` run and the archiver is not paused: the plot by
   ``source.choose_source`` (never two readers on one dst dir), the farmer by ``farmers.choose_farmer`` from the due
   farmers' ListDrives, Reserve in that order (RESOURCE_EXHAUSTED, ABORTED, unreachable: the next), then an rsync in
   its own session (it outlives the agent) and a ``LeaseKeeper`` renewing every lease/3.

A plot some farmer holds already (ConfirmPlot says so once per plot and run, or Reserve answers ALREADY_EXISTS) is
never sent again: confirmed whole, its source is deleted; otherwise it is parked. The decisions are the pure
functions of ``source``, ``farmers`` and ``outcome``; every OS touchpoint is a seam (clock, process list, farmer
clients, rsync launcher, open files of jobs, the snapshot).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterable, Sequence

from plotboss import errors
from plotboss.loop import PeriodicLoop
from plotter_agent.archive.farmers import FarmerRules
from plotter_agent.archive.links import Links, Target, describe
from plotter_agent.archive.records import (
    ProcList,
    load_paused,
    pending_logs,
    read_log,
    remove_old_logs,
    rsync_processes,
    save_paused,
    source_id,
)
from plotter_agent.archive.recovery import find_transfers, outcome_from_log
from plotter_agent.archive.starter import Starter
from plotter_agent.archive.status import ArchiveStatus
from plotter_agent.archive.transfer import Settings, Transfer, find_source, view_of
from plotter_agent.archive.watchdog import observe, proc_io_bytes
from plotter_agent.farmer_client import Reservation
from plotter_agent.rsync_runner import Launcher, RecoveredTransfer, RsyncTransfer, popen_launcher
from plotter_agent.view import Snapshot

log = logging.getLogger(__name__)

Running = dict[str, tuple[int, RecoveredTransfer]]


#: how often farmers are asked for their drives when no push is being started (for the status)
IDLE_REFRESH_S = 30.0
#: how often handled transfer logs past their retention are looked for (a scan of the transfers dir)
LOG_SWEEP_S = 3600.0


def _sigkill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def split_user(url: str) -> tuple[str, str]:
    """(the URL without a user, the user) of a push's target (``rsync://user@host:port/...``)."""
    rest = url.removeprefix("rsync://")
    head, sep, tail = rest.partition("/")
    if "@" in head:
        user, _, host = head.rpartition("@")
        return "rsync://" + host + sep + tail, user
    return url, ""


class Archiver(Starter):
    def __init__(
        self,
        settings: Settings,
        targets: Sequence[Target],
        snapshot: Callable[[], Snapshot | None],
        *,
        clock: Callable[[], float] = time.time,
        procs: Callable[[], ProcList] = rsync_processes,
        open_files: Callable[[int], Iterable[str]] = lambda pid: (),
        launcher: Launcher = popen_launcher,
        farmer_rules: FarmerRules | None = None,
        io_bytes: Callable[[int], int | None] = proc_io_bytes,
        kill_pid: Callable[[int], None] = _sigkill,
    ) -> None:
        super().__init__(settings, Links(targets, farmer_rules), clock, launcher, open_files)
        self._snapshot = snapshot
        self._procs = procs
        self._io_bytes = io_bytes
        self._kill_pid = kill_pid
        self._next_sweep = 0.0
        self._paused = load_paused(settings.state_path) if settings.state_path is not None else False
        self._reason = "starting"
        self._pass_time: float | None = None
        self.loop = PeriodicLoop("archiver", self.run_pass, settings.polling_time_s, waiter=self._wait)

    # --- control ----------------------------------------------------------------------------------------------------

    def _wait(self, timeout: float) -> bool:
        self._wake.wait(timeout)
        self._wake.clear()
        return self.loop.stop_event.is_set()

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        """Stop the loop and the lease keepers. Running pushes go on (their own session); a restarted agent adopts
        them."""
        self.loop.stop_event.set()
        self._wake.set()
        self.loop.stop()
        with self.lock:
            for t in self.active.values():
                if t.keeper is not None:
                    t.keeper.stop()
        self.links.close()

    def _set_paused(self, paused: bool) -> ArchiveStatus:
        path = self.settings.state_path
        if path is not None:
            try:
                save_paused(path, paused, self.clock())
            except OSError as e:
                raise errors.Unavailable(
                    f"cannot write the archiver state file {path}: {e.strerror or e}; nothing was changed"
                ) from None
        self._paused = paused
        log.info("archiver %s", "paused (running transfers finish)" if paused else "resumed")
        self.wake()
        return self.status()

    def pause(self) -> ArchiveStatus:
        return self._set_paused(True)

    def resume(self) -> ArchiveStatus:
        return self._set_paused(False)

    @property
    def paused(self) -> bool:
        return self._paused

    def status(self) -> ArchiveStatus:
        with self.lock:
            active = tuple(view_of(t, self.farmer_name(t)) for t in self.active.values())
            recent = tuple(self.recent)
        reason = "paused" if self._paused else self._reason
        return ArchiveStatus(
            state="paused" if self._paused else "running",
            reason=reason,
            active=active,
            recent=recent,
            dirs=self._dirs,
            farmers=self.links.status(),
            max_concurrent_transfers=self.settings.max_concurrent,
            archived_plots=self.archived_plots,
            archived_bytes=self.archived_bytes,
            pass_time=self._pass_time,
        )

    # --- one pass ---------------------------------------------------------------------------------------------------

    def run_pass(self) -> None:
        now = self.clock()
        self.links.begin_pass()
        running = {t.reservation_id: (pid, t) for pid, t in find_transfers(self._procs(), self.settings.log_dir)}
        self._adopt(running, now)
        self._reap(running, now)
        self._recover_logs(running, now)
        snap = self._snapshot()
        if snap is None:
            self._reason = "waiting for the agent's first look at the dst dirs"
        else:
            self._reason = self._start_new(snap, now)
        # the farmers' reachability and room stay current in the status while there is nothing to send
        self.links.refresh(now, max_age_s=IDLE_REFRESH_S)
        self._sweep_logs(now)
        self._pass_time = now

    def _sweep_logs(self, now: float) -> None:
        """Remove handled logs past their retention, once an hour (not a scan of the dir every pass)."""
        keep = self.settings.log_retention_s
        if keep is None or now < self._next_sweep:
            return
        self._next_sweep = now + LOG_SWEEP_S
        n = remove_old_logs(self.settings.log_dir, now - keep)
        if n:
            log.info("removed %d handled transfer log(s) older than %.0f days", n, keep / 86400)

    def _adopt(self, running: Running, now: float) -> None:
        for rid, (pid, found) in running.items():
            if rid in self.active:
                continue
            farmer, res, _ = self.links.find_reservation(rid, now)
            t = self._recovered(found.plot_name, found.source, rid, found.log_file, farmer, res, now)
            t.pid = pid
            t.extra.update(zip(("url", "user"), split_user(found.url), strict=True))
            # its progress went to the agent that started it (ListReservations does not say how much the farmer has)
            t.note = "found again after a restart; watched until it ends (bytes sent not known)"
            log.info("adopted the running push of %s (pid %d, reservation %s)", t.plot_name, pid, rid)
            with self.lock:
                self.active[rid] = t

    def _recovered(
        self, plot: str, source: str, rid: str, log_file: str, farmer: str, res: Reservation | None, now: float
    ) -> Transfer:
        sid = source_id(source) if source else None
        t = Transfer(
            plot_name=plot,
            source=source,
            dst_dir=source.rsplit("/", 1)[0] if source else "",
            farmer=farmer,
            drive=res.drive_path if res is not None else "",
            reservation_id=rid,
            size_bytes=res.size_bytes if res is not None else (sid.size if sid is not None else 0),
            start_time=res.create_time if res is not None else now,
            log_file=log_file,
            recovered=True,
        )
        if res is not None:
            self._keep_lease(t, res)
        return t

    def _reap(self, running: Running, now: float) -> None:
        for t in list(self.active.values()):
            if t.phase == "pushing":
                if t.run is not None:
                    result = t.run.poll()
                    if result is not None:
                        t.pid = t.run.pid
                        self.finish_push(t, result.returncode, result.signal, result.stderr_tail, now)
                    else:
                        self._watchdog(t, now)
                elif running.get(t.reservation_id, (None,))[0] == t.pid:
                    self._watchdog(t, now)
                    if not t.farmer:  # adopted while its farmer did not answer: find its reservation, keep it
                        farmer, res, _ = self.links.find_reservation(t.reservation_id, now)
                        if res is not None:
                            t.farmer, t.drive, t.size_bytes = farmer, res.drive_path, res.size_bytes
                            self._keep_lease(t, res)
                else:
                    lo = outcome_from_log(read_log(t.log_file), t.pid)
                    rc, sig = (lo.returncode, None) if lo.finished else (None, 9)
                    self.finish_push(t, rc, sig, lo.tail, now)
            elif t.phase == "complete" and now >= t.wait_until:
                self.complete(t, now)
            elif t.phase == "resume" and now >= t.wait_until:
                self._resume(t, now)

    def _watchdog(self, t: Transfer, now: float) -> None:
        """Kill a running push whose progress has not moved for the stall time (``watchdog``); its end is then
        reaped as a stall (resumed on the same reservation first)."""
        pid = t.run.pid if t.run is not None else t.pid
        if t.stalled or pid is None:
            return
        io = self._io_bytes(pid)
        p = t.run.progress if t.run is not None else None
        # a push we started has its progress stream (0 until its first line); an adopted one only its I/O counters
        counter = None if io is None and t.run is None else (io or 0) + (p.bytes if p is not None else 0)
        rules = self.settings.stall_rules
        t.stall_mark, stalled = observe(t.stall_mark, counter, now, rules)
        if not stalled or t.stall_mark is None:
            return
        t.stalled = f"no progress for {now - t.stall_mark.since:.0f} s: killed by the archiver (stall_timeout_s)"
        log.warning("push of %s (pid %d) stalled: %s", t.plot_name, pid, t.stalled)
        t.note = "stalled: killed; resumed on the same drive"
        try:
            if t.run is not None:
                t.run.kill()
            else:
                self._kill_pid(pid)
        except OSError as e:  # gone meanwhile: reaped as it ended
            log.info("killing the stalled push %d: %s", pid, e.strerror or e)

    def _recover_logs(self, running: Running, now: float) -> None:
        """Push logs not marked handled whose rsync is gone and which this run does not track: the outcome of a push
        that ended while the agent was down."""
        for ln in pending_logs(self.settings.log_dir):
            if ln.reservation_id in self.active or ln.reservation_id in running:
                continue
            farmer, res, _ = self.links.find_reservation(ln.reservation_id, now)
            lo = outcome_from_log(read_log(ln.path))
            source = find_source(self.settings.dst_dirs, ln.plot_name)
            t = self._recovered(ln.plot_name, source, ln.reservation_id, ln.path, farmer, res, now)
            t.pid = lo.pid
            log.info(
                "a push of %s ended while the agent was down (%s); acting on it",
                ln.plot_name,
                f"rsync exit {lo.returncode}" if lo.finished else "no final line: killed",
            )
            with self.lock:
                self.active[ln.reservation_id] = t
            rc, sig = (lo.returncode, None) if lo.finished else (None, 9)
            self.finish_push(t, rc, sig, lo.tail, now)

    def _resume(self, t: Transfer, now: float) -> None:
        """Push again to the kept reservation (rsync resumes from the drive's partial dir)."""
        if t.lost:
            self.abandon_lost(t, now)
            return
        if self._paused:
            t.note = "paused: the kept reservation is released"
            self.release_and_forget(t, now, "paused before the push could resume")
            return
        url = t.extra.get("url", "")
        if not url:
            self.release_and_forget(t, now, "no URL to resume to")
            return
        spec = self._spec(t.source, url, t.reservation_id, t.extra.get("user", ""))
        t.run = RsyncTransfer(spec, launcher=self._launcher, rsync=self.settings.rsync)
        t.stalled, t.stall_mark = "", None
        try:
            t.run.start()
        except errors.PlotbossError as e:
            t.run = None
            self.release_and_forget(t, now, describe(e))
            return
        t.phase, t.resumes, t.note = "pushing", t.resumes + 1, f"resumed on the same drive (attempt {t.resumes + 2})"
