"""The fleet under simulation: plotters with their archivers, farmers, links; the fault injector; the metrics the
report is made of; and the invariants, checked where they can break (see :mod:`sim.report`).

Invariants (each violation is counted, never raised, so a broken decision shows in the report):

- *floor*: when a plot lands on a drive, the drive keeps at least its ``min_free_bytes`` (and never more than its size);
- *writers*: when a push starts on a drive, no more pushes write to it than ``max_writers_per_drive``;
- *duplicated*: a plot lands on a drive while another live drive already holds it;
- *deleted before Complete*: a source is deleted while its plot is not whole on a drive whose farmer completed it;
- *lost*: at the end, every plot made is in a dst dir or on a drive (drives that failed are counted apart).

They are checked at the events that can break them, which is every event at which they could change.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable

from farmer_agent.drives import allocated
from farmer_agent.reservation import Reservation
from sim.archiver import SimArchiver
from sim.engine import Engine
from sim.farmer import BLOCK, SimDrive, SimFarmer, drive_capacity
from sim.links import Links, Transfer
from sim.plotter import SimPlotter
from sim.report import Report, build_report
from sim.scenario import DAY, Scenario

_TRANSFER_FAULTS: tuple[tuple[int | None, int | None, tuple[str, ...]], ...] = (
    (12, None, ("rsync: connection unexpectedly closed (0 bytes received so far) [sender]",)),
    (23, None, ("rsync error: some files/attrs were not transferred (code 23)",)),
    (30, None, ("rsync error: timeout in data send/receive (code 30)",)),
    (None, 9, ()),
)
_DRIVE_GONE = (11, None, ('rsync: [receiver] write failed on "/farm/x": Input/output error (5)',))
_FARMER_GONE = (12, None, ("rsync: connection unexpectedly closed (0 bytes received so far) [sender]",))


class Fleet:
    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        self.engine = Engine(sc.t0)
        self.rng = random.Random(sc.seed)
        self.source_rules = sc.source_rules
        self.links = Links(self.engine, sc.drive_bps)
        # counters the report reads
        self.plots_started = 0
        self.made: dict[str, str] = {}  # plot name -> plotter
        self.on_drive: dict[str, SimDrive] = {}
        self.completed_names: set[str] = set()
        self.deleted = 0
        self.parkings = 0
        self.given_up = 0
        self.transfer_failures = 0
        self.faults_injected: dict[str, int] = {}
        self.violations: dict[str, int] = dict.fromkeys(
            ("overfills", "writer_violations", "duplicated", "deleted_before_complete", "lost"), 0
        )
        self.lost_with_drives = 0
        self.full_at: float | None = None
        # farmers and drives
        self.farmers: list[SimFarmer] = []
        self.farmer: dict[str, SimFarmer] = {}
        self.capacity = 0
        self.placed = 0
        for fs in sc.farmers:
            sizes = fs.sizes or (fs.drive_bytes,) * fs.drives
            drives = [SimDrive(f"/farm/{fs.name}/d{i:03d}", size, fs.name) for i, size in enumerate(sizes)]
            farmer = SimFarmer(self, fs.name, drives, fs.rules, fs.link_bps, sc.ledger_factory)
            for d in drives:
                d.capacity = drive_capacity(d.total, fs.rules.min_free_bytes, self._plot_bytes())
                self.capacity += d.capacity
            self.farmers.append(farmer)
            self.farmer[fs.name] = farmer
        self.live_cap = self.capacity
        # plotters
        self.plotters: list[SimPlotter] = []
        names = tuple(f.name for f in self.farmers)
        for i, ps in enumerate(sc.plotters):
            pl = SimPlotter(
                self,
                i,
                ps.name,
                ps.sched,
                ps.model,
                dict(ps.dir_bytes),
                poll_s=ps.poll_s,
                jitter=sc.jitter,
                link_bps=ps.link_bps,
                seed=sc.seed * 100_003 + i,
            )
            if self.farmers:
                lease = min(f.rules.lease_s for f in sc.farmers)
                pl.archiver = SimArchiver(
                    self,
                    pl,
                    ps.farmers or names,
                    priority=ps.priority,
                    max_transfers=ps.max_transfers,
                    source_rules=sc.source_rules,
                    farmer_rules=sc.farmer_rules,
                    outcome_rules=sc.outcome_rules,
                    renew_every_s=sc.renew_every_s or lease / 3,
                )
            self.plotters.append(pl)
        # metrics: slot use while plots wait
        self._blocked: deque[SimArchiver] = deque()
        self._demand: dict[str, int] = {}
        self.demand = 0
        self._slots: dict[str, int] = {}
        self.farm_slots = 0
        for f in self.farmers:
            for d in f.drives:
                self._update_slots(d)
        self.slot_used_s = 0.0
        self.slot_possible_s = 0.0
        self.wait_s = 0.0
        self._last = self.engine.now
        self.engine.before = self._integrate

    def _plot_bytes(self) -> int:
        return _plot_size_of(self.sc)

    # --- metrics -------------------------------------------------------------------------------------------------

    def _integrate(self, t: float) -> None:
        dt = t - self._last
        if dt > 0 and self.demand > 0:
            possible = min(self.demand, self.farm_slots)
            self.wait_s += dt
            self.slot_possible_s += possible * dt
            self.slot_used_s += min(self.links.running, possible) * dt
        self._last = t

    def demand_changed(self, pl: SimPlotter) -> None:
        arch = pl.archiver
        d = 0
        if arch is not None and not arch.down:
            d = min(arch.max_transfers, max(0, pl.waiting_plots() - len(arch.parked) - len(arch.awaiting_complete)))
        self.demand += d - self._demand.get(pl.name, 0)
        self._demand[pl.name] = d

    def _update_slots(self, d: SimDrive) -> None:
        f = self.farmer[d.farmer]
        s = 0
        if not d.failed and f.reachable:
            s = max(0, min(f.rules.max_writers_per_drive, d.capacity - len(d.plots)))
        self.farm_slots += s - self._slots.get(d.path, 0)
        self._slots[d.path] = s

    # --- hooks the plotters, archivers and farmers call ----------------------------------------------------------

    def plot_made(self, pl: SimPlotter, name: str) -> None:
        self.made[name] = pl.name
        self.demand_changed(pl)

    def reserved(self, farmer: SimFarmer, res: Reservation) -> None:
        pass

    def push_started(self, tr: Transfer) -> None:
        if tr.drive.writing > tr.farmer.rules.max_writers_per_drive:
            self.violations["writer_violations"] += 1

    def landed(self, tr: Transfer) -> None:
        """A push ended well: the plot is on the drive under its final name."""
        d = tr.drive
        name = tr.plot.name
        other = self.on_drive.get(name)
        if other is not None and other is not d and not other.failed:
            self.violations["duplicated"] += 1
        if name not in d.plots:
            d.plots[name] = tr.size
            d.used += allocated(tr.size, BLOCK)
            self.placed += 1
        self.on_drive[name] = d
        farmer = self.farmer[d.farmer]
        if d.free < farmer.rules.min_free_bytes:
            self.violations["overfills"] += 1
        farmer.touch(d)
        self._update_slots(d)
        if self.full_at is None and self.capacity and self.placed >= 0.995 * self.live_cap:
            self.full_at = self.engine.now

    def live_capacity(self) -> int:
        return self.live_cap

    def completed(self, tr: Transfer) -> None:
        self.completed_names.add(tr.plot.name)

    def delete_source(self, pl: SimPlotter, tr: Transfer) -> None:
        name = tr.plot.name
        d = self.on_drive.get(name)
        if name not in self.completed_names or d is None or d.plots.get(name) != tr.size:
            self.violations["deleted_before_complete"] += 1
        pl.remove_plot(name)
        self.deleted += 1
        self.demand_changed(pl)

    def drive_changed(self, d: SimDrive) -> None:
        """A farmer's Complete, release or removal changed what a drive can take: wake a waiting archiver."""
        self._wake(1)

    def lease_expired(self, farmer: SimFarmer, r: Reservation) -> None:
        """The farmer expired ``r`` and removes its partial file: a push still writing under it dies."""
        for tr in self.links.of_farmer(farmer.name):
            if tr.res.id == r.id:
                tr.lost = True
                self.links.kill(tr, (23, None, ("rsync: [receiver] partial file removed",)))

    def block(self, arch: SimArchiver) -> None:
        if arch not in self._blocked:
            self._blocked.append(arch)

    def unblock(self, arch: SimArchiver) -> None:
        if arch in self._blocked:
            self._blocked.remove(arch)

    def _wake(self, n: int) -> None:
        for _ in range(min(n, len(self._blocked))):
            self._blocked.popleft().wake()

    # --- faults --------------------------------------------------------------------------------------------------

    def inject_transfer_fault(self, tr: Transfer) -> None:
        if self.rng.random() < self.sc.faults.transfer_fail_p:
            tr.fail_left = tr.size * self.rng.uniform(0.05, 0.95)
            tr.fault = self.rng.choice(_TRANSFER_FAULTS)
            self._count("transfer_died")

    def _count(self, what: str) -> None:
        self.faults_injected[what] = self.faults_injected.get(what, 0) + 1

    def _every(self, per_day: float, fn: object) -> None:
        if per_day <= 0:
            return

        def fire() -> None:
            fn()  # type: ignore[operator]
            self.engine.after_s(self.rng.expovariate(per_day / DAY), fire)

        self.engine.after_s(self.rng.expovariate(per_day / DAY), fire)

    def _outage(self) -> None:
        up = [f for f in self.farmers if f.reachable]
        if not up:
            return
        f = self.rng.choice(up)
        f.reachable = False
        self._count("farmer_outage")
        for tr in self.links.of_farmer(f.name):
            self.links.kill(tr, _FARMER_GONE)
        for d in f.drives:
            self._update_slots(d)
        lo, hi = self.sc.faults.outage_hours
        self.engine.after_s(self.rng.uniform(lo, hi) * 3600, self._back, f)

    def _back(self, f: SimFarmer) -> None:
        f.reachable = True
        for d in f.drives:
            self._update_slots(d)
        self._wake(len(self._blocked))

    def _drive_failure(self) -> None:
        f = self.rng.choice(self.farmers)
        live = [d for d in f.drives if not d.failed]
        if not live:
            return
        d = self.rng.choice(live)
        self._count("drive_failed")
        self.lost_with_drives += len(d.plots)
        self.live_cap -= d.capacity
        self.placed -= len(d.plots)
        f.fail_drive(d)
        for tr in self.links.of_farmer(f.name):
            if tr.drive is d:
                self.links.kill(tr, _DRIVE_GONE)
        self._update_slots(d)

    def _plotter_restart(self) -> None:
        pl = self.rng.choice(self.plotters)
        if pl.archiver is None or pl.archiver.down:
            return
        self._count("plotter_restart")
        pl.archiver.restart(self.sc.faults.restart_down_s, lambda tr: self.links.kill(tr, (None, 15, ())))

    def _farmer_restart(self) -> None:
        up = [f for f in self.farmers if f.reachable]
        if not up:
            return
        f = self.rng.choice(up)
        self._count("farmer_restart")
        f.reachable = False

        def start() -> None:
            f.restart()
            f.reachable = True
            self._wake(len(self._blocked))

        self.engine.after_s(self.sc.faults.restart_down_s, start)

    # --- running -------------------------------------------------------------------------------------------------

    def run(self, progress: Callable[[Fleet], None] | None = None) -> Report:
        """Run the scenario; ``progress`` is called once a simulated day."""
        fl = self.sc.faults
        if progress is not None:

            def daily() -> None:
                progress(self)
                self.engine.after_s(DAY, daily)

            self.engine.after_s(DAY, daily)
        self._every(fl.farmer_outages_per_day, self._outage)
        self._every(fl.drive_failures_per_day, self._drive_failure)
        self._every(fl.plotter_restarts_per_day, self._plotter_restart)
        self._every(fl.farmer_restarts_per_day, self._farmer_restart)
        for pl in self.plotters:
            pl.poke()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        self.engine.run(self.sc.t0 + self.sc.days * DAY)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        for pl in self.plotters:
            pl.finish_accounting()
        self._audit()
        return build_report(self, wall, cpu)

    def _audit(self) -> None:
        """Every plot made is in a dst dir or on a drive (or on a drive that failed)."""
        in_dst = {n for pl in self.plotters for plots in pl.dst_plots.values() for n in plots}
        for name in self.made:
            d = self.on_drive.get(name)
            if d is not None and d.failed:
                continue  # lost with its drive: counted apart
            if name not in in_dst and (d is None or name not in d.plots):
                self.violations["lost"] += 1


def _plot_size_of(sc: Scenario) -> int:
    from plotboss.plots import plot_size

    if not sc.plotters:
        return plot_size(32)
    return max(plot_size(p.sched.job.spec.k, p.sched.job.compression) for p in sc.plotters)


def simulate(sc: Scenario, progress: Callable[[Fleet], None] | None = None) -> Report:
    return Fleet(sc).run(progress)
