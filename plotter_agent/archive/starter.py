"""Starting pushes: the archiver's half that picks a plot (``source.choose_source``) and a farmer
(``farmers.choose_farmer``), asks whether a farmer holds the plot already (ConfirmPlot, once per plot and run),
reserves in order and launches rsync with a lease keeper; and what a Reserve answered ALREADY_EXISTS leads to."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence

from plotboss import errors
from plotter_agent.archive.farmers import FarmerView, choose_farmer, lands_on_avoided
from plotter_agent.archive.finish import Finisher
from plotter_agent.archive.lease import LeaseKeeper
from plotter_agent.archive.links import Links, describe
from plotter_agent.archive.outcome import Kind, Outcome, Park, next_step
from plotter_agent.archive.records import SourceId, source_id
from plotter_agent.archive.source import Choice, DirScore, InFlight, SourceJob, score_dirs, source_jobs
from plotter_agent.archive.status import DirWaiting
from plotter_agent.archive.transfer import Settings, Transfer
from plotter_agent.dirs import DirView, PlotFile
from plotter_agent.farmer_client import FarmerUnavailable, PlotAlreadyThere, Reservation
from plotter_agent.rsync_runner import Launcher, RsyncTransfer, TransferSpec
from plotter_agent.view import Snapshot

log = logging.getLogger(__name__)

_RID_RE = re.compile(r"reservation ([0-9a-f]{32})")


class Starter(Finisher):
    def __init__(
        self,
        settings: Settings,
        links: Links,
        clock: Callable[[], float],
        launcher: Launcher,
        open_files: Callable[[int], Iterable[str]],
    ) -> None:
        super().__init__(settings, links, clock)
        self._launcher = launcher
        self._open_files = open_files
        self._paused = False
        self._dirs: tuple[DirWaiting, ...] = ()
        #: plots no farmer held when asked (ConfirmPlot), this run: not asked again
        self._cleared: set[str] = set()
        self._wake = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def _keep_lease(self, t: Transfer, r: Reservation) -> None:
        every = max(1.0, (r.expire_time - r.create_time) / 3)
        t.keeper = LeaseKeeper(self.links.renewer(t.farmer), r.id, every).start()

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
        try:
            return self._start_loop(dst_views, jobs, now)
        finally:
            # the status shows the plots waiting as the next pass will see them (not this pass's tried ones)
            skip = dict(self.not_before)
            skip.update((t.source, float("inf")) for t in self.active.values() if t.phase == "complete")
            rows = score_dirs(dst_views, jobs, self._reading(), now, rules=self.settings.source_rules, not_before=skip)
            self._dirs = self._dir_status(rows)

    def _reading(self) -> list[InFlight]:
        """The pushes reading a dst dir now (one waiting for its Complete reads nothing)."""
        return [InFlight(t.source, t.dst_dir) for t in self.active.values() if t.source and t.phase != "complete"]

    def _start_loop(self, dst_views: Sequence[DirView], jobs: Sequence[SourceJob], now: float) -> str:
        skip = dict(self.not_before)
        reason = ""
        farmer_views: list[FarmerView] | None = None
        while True:
            skip.update((t.source, float("inf")) for t in self.active.values() if t.source and t.phase == "complete")
            rows = score_dirs(dst_views, jobs, self._reading(), now, rules=self.settings.source_rules, not_before=skip)
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
