"""A simulated archiver on one plotter: the real pure decisions in the agent's order, the I/O simulated.

Per free transfer slot: ``source.choose_source`` picks the plot, ``farmers.choose_farmer`` ranks the farmers from
their ListDrives answers (with ``record_reachability``'s back-off for those that do not answer), Reserve goes to each
candidate in turn, the push runs on the links, and every outcome (Reserve refused or unreachable, a push that died with
an rsync exit status: ``outcome.classify``, Complete answered or not) goes through ``outcome.next_step``, whose step
is carried out as it says: Complete, Delete the source, Retry (release or keep and resume, avoid a farmer or drive
for a while), RetryComplete, TryNext, Park, GiveUp. A reservation is renewed every ``renew_every_s`` while held.

When no farmer can take a plot now, the archiver waits in the fleet's queue and is woken when a farmer frees a
writer or space (the real one would poll; waking on the change is the same answer without the idle polls), and by a
slow poll (10 min, doubling up to 6 h) as a safety net.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from plotboss.errors import AlreadyExists, Conflict, FailedPrecondition, InsufficientSpace, NotFound, Unavailable
from plotter_agent.archive.farmers import (
    FarmerRules,
    FarmerView,
    Reachability,
    choose_farmer,
    lands_on_avoided,
    record_reachability,
)
from plotter_agent.archive.outcome import (
    Attempt,
    Complete,
    Delete,
    GiveUp,
    Kind,
    Outcome,
    OutcomeRules,
    Park,
    Retry,
    RetryComplete,
    Step,
    classify,
    next_step,
)
from plotter_agent.archive.source import InFlight, SourceJob, SourceRules, choose_source
from plotter_agent.dirs import PlotFile
from plotter_agent.rsync_runner import RsyncResult
from sim.jobmodel import step_at
from sim.links import Transfer

if TYPE_CHECKING:
    from sim.engine import Event
    from sim.fleet import Fleet
    from sim.plotter import SimPlotter

SAFETY_POLL_S = (600.0, 6 * 3600.0)


class SimArchiver:
    def __init__(
        self,
        fleet: Fleet,
        plotter: SimPlotter,
        farmers: tuple[str, ...],
        *,
        max_transfers: int,
        priority: tuple[str, ...] = (),
        source_rules: SourceRules,
        farmer_rules: FarmerRules,
        outcome_rules: OutcomeRules,
        renew_every_s: float,
    ) -> None:
        self.fleet = fleet
        self.plotter = plotter
        self.farmers = farmers
        self.priority = priority
        self.max_transfers = max_transfers
        self.source_rules = source_rules
        self.farmer_rules = farmer_rules
        self.outcome_rules = outcome_rules
        self.renew_every_s = renew_every_s
        self.reset()

    def reset(self) -> None:
        """A fresh agent: nothing in memory (what a restart loses)."""
        self.in_flight: dict[str, Transfer] = {}
        #: pushed plots whose Complete is to be asked again later: they hold no transfer slot and read nothing (the
        #: choice skips them through ``not_before``)
        self.awaiting_complete: set[str] = set()
        self.history: dict[str, list[Attempt]] = {}
        self.not_before: dict[str, float] = {}
        self.reach: dict[str, Reachability] = {}
        self.avoid_farmers: dict[str, float] = {}
        self.avoid_drives: dict[tuple[str, str], float] = {}
        self.held: dict[str, dict[str, str]] = {}
        self.parked: set[str] = set()
        self._tick_ev: Event | None = None
        self._tick_at = math.inf
        self.blocked = False
        self._safety = SAFETY_POLL_S[0]
        self.down = False

    # --- when to look ------------------------------------------------------------------------------------------

    def poke(self, at: float | None = None) -> None:
        if self.down:
            return
        now = self.fleet.engine.now
        t = now if at is None else max(at, now)
        if t < self._tick_at:
            self.fleet.engine.cancel(self._tick_ev)
            self._tick_at = t
            self._tick_ev = self.fleet.engine.at(t, self._tick)

    def plot_ready(self) -> None:
        self.fleet.demand_changed(self.plotter)
        self.poke(self.fleet.engine.now + self.source_rules.settle_s + 0.5)

    def wake(self) -> None:
        """A farmer freed a writer or space."""
        self.blocked = False
        self._safety = SAFETY_POLL_S[0]
        self.poke()

    def _tick(self) -> None:
        self._tick_ev, self._tick_at = None, math.inf
        now = self.fleet.engine.now
        while len(self.in_flight) - len(self.awaiting_complete) < self.max_transfers:
            pl = self.plotter
            jobs = tuple(
                SourceJob(j.pid, j.dst, step_at(j.steps, j.ends, now - j.start), j.plot_id) for j in pl.jobs.values()
            )
            flight = [
                InFlight(t.plot.path, t.plot.path.rsplit("/", 1)[0])
                for name, t in self.in_flight.items()
                if name not in self.awaiting_complete
            ]
            choice = choose_source(
                pl.dst_views(), jobs, flight, now, rules=self.source_rules, not_before=self.not_before
            )
            if choice is None:
                later = [t for t in self.not_before.values() if now < t < math.inf]
                if later:
                    self.poke(min(later))
                return
            what = self._send(choice.plot, now)
            if what == "blocked":
                self.blocked = True
                self.fleet.block(self)
                self.poke(now + self._safety)
                self._safety = min(self._safety * 2, SAFETY_POLL_S[1])
                return

    # --- one plot ------------------------------------------------------------------------------------------------

    def _record(self, plot: PlotFile, outcome: Outcome) -> Step:
        hist = self.history.setdefault(plot.name, [])
        step = next_step(outcome, hist, self.fleet.engine.now, self.outcome_rules)
        hist.append(Attempt(self.fleet.engine.now, outcome))
        if len(hist) > 20:
            del hist[:-20]
        return step

    def _views(self, now: float) -> list[FarmerView]:
        views = []
        for name in self.farmers:
            r = self.reach.get(name)
            if r is not None and r.retry_at > now:
                views.append(FarmerView(name, None, r.last_error))
                continue
            v = self.fleet.farmer[name].view()
            if v.drives is None:
                self.reach[name] = record_reachability(r, False, now, v.error, self.farmer_rules)
            elif r is not None:
                del self.reach[name]
            views.append(v)
        return views

    def _send(self, plot: PlotFile, now: float) -> str:
        # a plot parked because a farmer held it is looked at again once its park is over (choose_source offered it):
        # ask again (the holder's reservation may have ended), rather than keep it from every farmer for good
        self.held.pop(plot.name, None)
        avoid_d = frozenset(k for k, until in self.avoid_drives.items() if until > now)
        choice = choose_farmer(
            self._views(now),
            self.reach,
            self.priority,
            now,
            size_bytes=plot.size_bytes,
            avoid_farmers=self.avoid_farmers,
            avoid_drives=avoid_d,
            held=self.held.get(plot.name),
        )
        for name in choice.candidates:
            farmer = self.fleet.farmer[name]
            try:
                res = farmer.reserve(plot.name, plot.size_bytes, self.plotter.name)
            except (InsufficientSpace, Conflict) as e:
                self._record(plot, Outcome(Kind.RESERVE_REFUSED, name, detail=str(e)[:200]))
                continue
            except Unavailable as e:
                self._record(plot, Outcome(Kind.RESERVE_UNREACHABLE, name, detail=str(e)))
                self.reach[name] = record_reachability(self.reach.get(name), False, now, str(e), self.farmer_rules)
                continue
            except AlreadyExists as e:
                step = self._record(plot, Outcome(Kind.ALREADY_HELD, name, detail=str(e)[:200]))
                self.held.setdefault(plot.name, {})[name] = "archived"
                assert isinstance(step, Park)
                self.not_before[plot.path] = now + step.after_s
                if plot.name not in self.parked:
                    self.parked.add(plot.name)
                    self.fleet.parkings += 1
                    self.fleet.demand_changed(self.plotter)
                return "parked"
            if lands_on_avoided(name, res.drive, avoid_d):
                farmer.release(res.id)
                continue
            self.fleet.reserved(farmer, res)
            if plot.name in self.parked:
                self.parked.discard(plot.name)
                self.fleet.demand_changed(self.plotter)
            tr = Transfer(self.plotter, farmer, farmer.by_path[res.drive], res, plot, now)
            self.in_flight[plot.name] = tr
            self._push(tr)
            self._renew_later(tr)
            return "started"
        return "blocked"

    def _push(self, tr: Transfer) -> None:
        tr.left, tr.fail_left, tr.fault = float(tr.size), -1.0, None
        self.fleet.inject_transfer_fault(tr)
        self.fleet.links.start(tr, self._pushed)
        self.fleet.push_started(tr)
        self.fleet.demand_changed(self.plotter)

    def _renew_later(self, tr: Transfer) -> None:
        tr.renew_ev = self.fleet.engine.after_s(self.renew_every_s, self._renew, tr)

    def _renew(self, tr: Transfer) -> None:
        tr.renew_ev = None
        if self.in_flight.get(tr.plot.name) is not tr:
            return
        try:
            tr.farmer.renew(tr.res.id)
        except NotFound:
            tr.lost = True
            return
        except Unavailable:
            pass
        self._renew_later(tr)

    def _done_with(self, tr: Transfer) -> None:
        self.awaiting_complete.discard(tr.plot.name)
        self.fleet.engine.cancel(tr.renew_ev)
        tr.renew_ev = None
        if self.in_flight.get(tr.plot.name) is tr:
            del self.in_flight[tr.plot.name]
        self.fleet.demand_changed(self.plotter)
        self.poke()

    def _pushed(self, tr: Transfer, ok: bool) -> None:
        now = self.fleet.engine.now
        if self.in_flight.get(tr.plot.name) is not tr:
            return  # the agent restarted meanwhile: nobody is waiting for this push
        if ok:
            self.fleet.landed(tr)
            step = self._record(tr.plot, Outcome(Kind.PUSHED, tr.farmer.name, tr.drive.path))
            assert isinstance(step, Complete)
            self._complete(tr)
            return
        rc, sig, tail = tr.fault or (12, None, ())
        result = RsyncResult(rc, sig, tail, None, now - tr.started, ())
        fault = classify(result)
        detail = f"rsync {'signal ' + str(sig) if sig else 'exit ' + str(rc)}"
        step = self._record(tr.plot, Outcome(Kind.PUSH_FAILED, tr.farmer.name, tr.drive.path, fault, detail))
        self.fleet.transfer_failures += 1
        self._carry_out(tr, step)

    def _carry_out(self, tr: Transfer, step: Step) -> None:
        now = self.fleet.engine.now
        if isinstance(step, Retry):
            if step.avoid_farmer:
                self.avoid_farmers[step.avoid_farmer] = now + step.avoid_for_s
            if step.avoid_drive:
                self.avoid_drives[step.avoid_drive] = now + step.avoid_for_s
            if not step.release and step.resume and not tr.lost and not tr.drive.failed:
                self.fleet.engine.after_s(step.after_s, self._resume, tr)
                return
            if step.release:
                self._release(tr)
            self.not_before[tr.plot.path] = now + step.after_s
            self._done_with(tr)
            self.poke(now + step.after_s)
        elif isinstance(step, RetryComplete):
            self.awaiting_complete.add(tr.plot.name)
            self.not_before[tr.plot.path] = math.inf
            self.fleet.demand_changed(self.plotter)
            self.fleet.engine.after_s(step.after_s, self._complete, tr)
            self.poke()
        elif isinstance(step, GiveUp):
            if step.release:
                self._release(tr)
            self.not_before[tr.plot.path] = math.inf
            self.fleet.given_up += 1
            self._done_with(tr)
        elif isinstance(step, Delete):
            self.not_before.pop(tr.plot.path, None)
            self.fleet.delete_source(self.plotter, tr)
            self._done_with(tr)

    def _release(self, tr: Transfer) -> None:
        # gone already, or the farmer expires it when its lease runs out
        with contextlib.suppress(Unavailable, NotFound):
            tr.farmer.release(tr.res.id)

    def _resume(self, tr: Transfer) -> None:
        if self.in_flight.get(tr.plot.name) is not tr:
            return
        if tr.lost or tr.drive.failed:  # never push under a reservation that is gone
            self.not_before[tr.plot.path] = self.fleet.engine.now
            self._release(tr)
            self._done_with(tr)
            return
        self._push(tr)

    def _complete(self, tr: Transfer) -> None:
        if self.in_flight.get(tr.plot.name) is not tr:
            return
        if tr.plot.name in self.awaiting_complete:
            self.awaiting_complete.discard(tr.plot.name)
            self.not_before.pop(tr.plot.path, None)
        name, drive = tr.farmer.name, tr.drive.path
        try:
            tr.farmer.complete(tr.res.id)
        except Unavailable as e:
            step = self._record(tr.plot, Outcome(Kind.COMPLETE_UNREACHABLE, name, drive, detail=str(e)))
        except NotFound as e:
            step = self._record(tr.plot, Outcome(Kind.COMPLETE_LOST, name, drive, detail=str(e)[:200]))
        except FailedPrecondition as e:
            step = self._record(tr.plot, Outcome(Kind.COMPLETE_REFUSED, name, drive, detail=str(e)[:200]))
        else:
            self.fleet.completed(tr)
            step = self._record(tr.plot, Outcome(Kind.COMPLETED, name, drive))
        self._carry_out(tr, step)

    # --- faults --------------------------------------------------------------------------------------------------

    def restart(self, down_s: float, kill: Callable[[Transfer], None]) -> None:
        """The plotter agent restarts: its pushes die with it, its memory is gone, back after ``down_s``."""
        flights = list(self.in_flight.values())
        self.fleet.engine.cancel(self._tick_ev)
        self.fleet.unblock(self)
        self.reset()
        for tr in flights:
            self.fleet.engine.cancel(tr.renew_ev)
            kill(tr)
        self.down = True
        self.fleet.demand_changed(self.plotter)
        self.fleet.engine.after_s(down_s, self._up)

    def _up(self) -> None:
        self.down = False
        self.poke()
