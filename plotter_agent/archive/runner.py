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
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from plotboss import errors
from plotboss.loop import PeriodicLoop
from plotter_agent.archive.farmers import FarmerRules, FarmerView, choose_farmer, lands_on_avoided
from plotter_agent.archive.finish import Finisher
from plotter_agent.archive.lease import LeaseKeeper
from plotter_agent.archive.links import Links, Target, describe
from plotter_agent.archive.outcome import Kind, Outcome, Park, next_step
from plotter_agent.archive.records import (
    ProcList,
    SourceId,
    load_paused,
    pending_logs,
    read_log,
    rsync_processes,
    save_paused,
    source_id,
)
from plotter_agent.archive.recovery import find_transfers, outcome_from_log
from plotter_agent.archive.source import Choice, DirScore, InFlight, score_dirs, source_jobs
from plotter_agent.archive.status import ArchiveStatus, DirWaiting
from plotter_agent.archive.transfer import Settings, Transfer, find_source, view_of
from plotter_agent.dirs import DirView, PlotFile
from plotter_agent.farmer_client import FarmerUnavailable, PlotAlreadyThere, Reservation
from plotter_agent.rsync_runner import Launcher, RecoveredTransfer, RsyncTransfer, TransferSpec, popen_launcher
from plotter_agent.view import Snapshot

log = logging.getLogger(__name__)

Running = dict[str, tuple[int, RecoveredTransfer]]


def split_user(url: str) -> tuple[str, str]:
    """(the URL without a user, the user) of a push's target (``rsync://user@host:port/...``)."""
    rest = url.removeprefix("rsync://")
    head, sep, tail = rest.partition("/")
    if "@" in head:
        user, _, host = head.rpartition("@")
        return "rsync://" + host + sep + tail, user
    return url, ""


_RID_RE = re.compile(r"reservation ([0-9a-f]{32})")


class Archiver(Finisher):
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
    ) -> None:
        super().__init__(settings, Links(targets, farmer_rules), clock)
        self._snapshot = snapshot
        self._procs = procs
        self._open_files = open_files
        self._launcher = launcher
        self._paused = load_paused(settings.state_path) if settings.state_path is not None else False
        self._reason = "starting"
        self._dirs: tuple[DirWaiting, ...] = ()
        self._pass_time: float | None = None
        #: plots no farmer held when asked (ConfirmPlot), this run: not asked again
        self._cleared: set[str] = set()
        self._wake = threading.Event()
        self.loop = PeriodicLoop("archiver", self.run_pass, settings.polling_time_s, waiter=self._wait)

    # --- control ----------------------------------------------------------------------------------------------------

    def _wait(self, timeout: float) -> bool:
        self._wake.wait(timeout)
        self._wake.clear()
        return self.loop.stop_event.is_set()

    def wake(self) -> None:
        self._wake.set()

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
        if self.settings.state_path is not None:
            save_paused(self.settings.state_path, paused, self.clock())  # OSError -> the RPC fails, nothing changed
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
            active = tuple(view_of(t, self.links.display(t.farmer)) for t in self.active.values())
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
        self._pass_time = now

    def _adopt(self, running: Running, now: float) -> None:
        for rid, (pid, found) in running.items():
            if rid in self.active:
                continue
            farmer, res, _ = self.links.find_reservation(rid, now)
            t = self._recovered(found.plot_name, found.source, rid, found.log_file, farmer, res, now)
            t.pid = pid
            t.extra.update(zip(("url", "user"), split_user(found.url), strict=True))
            t.note = "found again after a restart; watched until it ends"
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

    def _keep_lease(self, t: Transfer, r: Reservation) -> None:
        every = max(1.0, (r.expire_time - r.create_time) / 3)
        t.keeper = LeaseKeeper(self.links.renewer(t.farmer), r.id, every).start()

    def _reap(self, running: Running, now: float) -> None:
        for t in list(self.active.values()):
            if t.phase == "pushing":
                if t.run is not None:
                    result = t.run.poll()
                    if result is not None:
                        t.pid = t.run.pid
                        self.finish_push(t, result.returncode, result.signal, result.stderr_tail, now)
                elif running.get(t.reservation_id, (None,))[0] != t.pid:
                    lo = outcome_from_log(read_log(t.log_file), t.pid)
                    rc, sig = (lo.returncode, None) if lo.finished else (None, 9)
                    self.finish_push(t, rc, sig, lo.tail, now)
            elif t.phase == "complete" and now >= t.wait_until:
                self.complete(t, now)
            elif t.phase == "resume" and now >= t.wait_until:
                self._resume(t, now)

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
        try:
            t.run.start()
        except errors.PlotbossError as e:
            t.run = None
            self.release_and_forget(t, now, describe(e))
            return
        t.phase, t.resumes, t.note = "pushing", t.resumes + 1, f"resumed on the same drive (attempt {t.resumes + 2})"

    # --- starting -----------------------------------------------------------------------------------------------------

    def _spec(self, source: str, url: str, rid: str, user: str) -> TransferSpec:
        s = self.settings
        return TransferSpec(
            source,
            url,
            rid,
            s.log_dir,
            user=user,
            password=s.password,
            bwlimit_kbps=s.bwlimit_kbps,
            io_timeout_s=s.io_timeout_s,
            connect_timeout_s=s.connect_timeout_s,
        )

    def _start_new(self, snap: Snapshot, now: float) -> str:
        # only the configured dst dirs: the view also shows the dst dirs of every job on the machine (a job started
        # by hand, or by another tool, into a dir that is not this agent's to empty)
        mine = {os.path.normpath(d) for d in self.settings.dst_dirs}
        dst_views = [d for d in snap.dirs if d.role == "dst" and os.path.normpath(d.path) in mine]
        opened = {pid: list(self._open_files(pid)) for j in snap.jobs for pid in j.pids}
        jobs = source_jobs(snap.jobs, {j.pid: [p for pid in j.pids for p in opened.get(pid, [])] for j in snap.jobs})
        self.not_before = {p: t for p, t in self.not_before.items() if t > now}
        skip = dict(self.not_before)
        reason = ""
        farmer_views: list[FarmerView] | None = None
        while True:
            # a push waiting for its Complete reads nothing: its plot is skipped, its dir not counted as read
            in_flight = [
                InFlight(t.source, t.dst_dir) for t in self.active.values() if t.source and t.phase != "complete"
            ]
            skip.update((t.source, float("inf")) for t in self.active.values() if t.source and t.phase == "complete")
            rows = score_dirs(dst_views, jobs, in_flight, now, rules=self.settings.source_rules, not_before=skip)
            self._dirs = self._dir_status(rows)
            if self._paused:
                return "paused"
            busy = sum(1 for t in self.active.values() if t.phase != "complete")
            if busy >= self.settings.max_concurrent:
                return f"{busy} transfer(s) running (max_concurrent_transfers)"
            pick = next(((r, plots) for r, plots in rows if not r.skipped), None)
            if pick is None:
                return reason or self._idle_reason(dst_views, now)
            row, plots = pick
            choice = Choice(row.path, plots[0], row.score)
            if farmer_views is None:
                farmer_views = self.links.refresh(now)
            started, why = self._try_start(choice, farmer_views, now)
            if not started:
                skip[choice.plot.path] = float("inf")
                reason = why or reason

    def _idle_reason(self, dst_views: Sequence[DirView], now: float) -> str:
        waits = [self.not_before[p.path] for v in dst_views for p in v.plots if p.path in self.not_before]
        if waits:
            return f"{len(waits)} plot(s) waiting to retry after a failure (the next in {min(waits) - now:.0f} s)"
        return "no complete plot ready to send in the dst dirs"

    @staticmethod
    def _dir_status(rows: Sequence[tuple[DirScore, Sequence[PlotFile]]]) -> tuple[DirWaiting, ...]:
        return tuple(
            DirWaiting(row.path, row.waiting, sum(p.size_bytes for p in plots), row.score, row.readers, row.skipped)
            for row, plots in rows
        )

    def _try_start(self, choice: Choice, views: list[FarmerView], now: float) -> tuple[bool, str]:
        plot = choice.plot
        sid = source_id(plot.path)
        if sid is None or sid.size != plot.size_bytes:
            return False, ""  # changed or gone since the dir was scanned: the next scan shows it as it is
        avoid_f = {f: t for f, t in self.avoid_farmers.items() if t > now}
        avoid_d = frozenset(k for k, t in self.avoid_drives.items() if t > now)
        fc = choose_farmer(
            views,
            self.links.reachability(),
            self.settings.priority,
            now,
            size_bytes=plot.size_bytes,
            avoid_farmers=avoid_f,
            avoid_drives=avoid_d,
        )
        if not fc.candidates:
            why = "; ".join(f"{self.links.display(f)}: {w}" for f, w in fc.skipped) or "no farmers"
            return False, f"no farmer can take {plot.name} now ({why})"
        if plot.name not in self._cleared:
            farmer, done, all_answered, refused = self.links.confirm_anywhere(plot.name, plot.size_bytes, now)
            if done is not None:
                self.delete_held(plot.path, plot.name, choice.dst_dir, farmer, done.size_bytes, sid, now)
                return False, ""
            if refused:
                self.park(plot.path, plot.name, farmer, refused, now)
                return False, f"{plot.name}: a farmer has a file under its name that is not it whole"
            if all_answered:
                self._cleared.add(plot.name)
        reasons = []
        for f in fc.candidates:
            client = self.links.client(f)
            avoid_here = tuple(d for ff, d in avoid_d if ff == f)
            try:
                r = client.reserve(plot.name, plot.size_bytes, self.settings.requester, avoid_here)
            except PlotAlreadyThere as e:
                return self._held(choice, f, e, sid, now)
            except (errors.InsufficientSpace, errors.Conflict) as e:
                reasons.append(f"{self.links.display(f)}: {describe(e)}")
                continue
            except (FarmerUnavailable, errors.Unauthenticated, errors.PermissionDenied) as e:
                self.links.failed(f, now, describe(e), e)
                reasons.append(f"{self.links.display(f)}: {describe(e)}")
                continue
            except errors.PlotbossError as e:
                reasons.append(f"{self.links.display(f)}: {describe(e)}")
                continue
            if lands_on_avoided(f, r.drive_path, avoid_d):
                self.release_quietly(f, r.id)
                reasons.append(f"{self.links.display(f)}: placed it on {r.drive_path}, which failed before")
                continue
            return self._launch(choice, f, r, sid, now)
        return False, "every farmer refused: " + "; ".join(reasons)

    def _launch(self, choice: Choice, farmer: str, r: Reservation, sid: SourceId, now: float) -> tuple[bool, str]:
        plot = choice.plot
        t = Transfer(
            plot_name=plot.name,
            source=plot.path,
            dst_dir=choice.dst_dir,
            farmer=farmer,
            drive=r.drive_path,
            reservation_id=r.id,
            size_bytes=plot.size_bytes,
            start_time=now,
            log_file="",
            ident=sid,
            extra={"url": r.rsync_url, "user": r.rsync_user},
        )
        try:
            spec = self._spec(plot.path, r.rsync_url, r.id, r.rsync_user)
            t.log_file = spec.log_file
            t.run = RsyncTransfer(spec, launcher=self._launcher, rsync=self.settings.rsync).start()
        except errors.PlotbossError as e:
            self.release_quietly(farmer, r.id)
            out = Outcome(Kind.PUSH_FAILED, farmer, r.drive_path, None, f"cannot start rsync: {describe(e)}")
            self.fail(t, out, now, released=True)
            return False, describe(e)
        t.pid = t.run.pid
        t.note = f"pushing to {self.links.display(farmer)}:{r.drive_path}"
        self._keep_lease(t, r)
        self._watch(t.run)
        with self.lock:
            self.active[r.id] = t
        return True, ""

    def _watch(self, run: RsyncTransfer) -> None:
        """Wake the loop when the push ends (its outcome is acted on at once, not a poll later)."""

        def wait() -> None:
            try:
                run.wait()
            except Exception:  # the pass reaps it anyway
                return
            self.wake()

        threading.Thread(target=wait, name=f"rsync-wait-{run.pid}", daemon=True).start()

    def _held(self, choice: Choice, farmer: str, e: PlotAlreadyThere, sid: SourceId, now: float) -> tuple[bool, str]:
        """Reserve said the farmer has the plot: delete the source once ConfirmPlot says it is whole there; release a
        reservation of ours nobody works on (a crash between Reserve and the push); else park the plot."""
        plot = choice.plot
        if e.kind == "reserved":
            m = _RID_RE.search(str(e))
            rows = self.links.reservations_of(farmer, now) or ()
            mine = [
                r
                for r in rows
                if r.plot_name == plot.name and r.requester == self.settings.requester and r.id not in self.active
            ]
            if m is not None and mine and mine[0].id == m[1]:
                self.release_quietly(farmer, mine[0].id)
                log.warning("released %s of %s: ours, and no push works on it", mine[0].id, plot.name)
                self.not_before[plot.path] = now + 1.0
                return False, f"{plot.name}: released an abandoned reservation of ours"
            out = Outcome(Kind.ALREADY_HELD, farmer, e.drive, None, describe(e))
            step = next_step(out, self.history.get(plot.name, []), now, self.settings.outcome_rules)
            after = min(step.after_s if isinstance(step, Park) else 60.0, 3 * self.settings.outcome_rules.base_s)
            self.not_before[plot.path] = now + after
            return False, f"{plot.name}: being sent by someone else ({describe(e)})"
        _, done, _, refused = self.links.confirm_anywhere(plot.name, plot.size_bytes, now, only=[farmer])
        if done is not None:
            self.delete_held(plot.path, plot.name, choice.dst_dir, farmer, done.size_bytes, sid, now)
            return False, ""
        self.park(plot.path, plot.name, farmer, refused or describe(e), now)
        return False, f"{plot.name}: {describe(e)}"
