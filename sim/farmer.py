"""A simulated farmer: drives that hold plot files, and the real reservation ``Ledger`` deciding on them with the
simulation's clock.

The drives are bookkeeping (plots by name and size); the farmer's probe is a ``DriveInfo`` per drive, rebuilt only
for a drive that changed, and only once the clock has moved past the change (a real probe that began after a landing,
a Complete or a removal): the ledger orders probes and completions by ``probe_mono``, and a probe stamped at the very
moment of a change would not count as having seen it. The archivers see each drive as ListDrives shows it
(``FarmerDrive``: free, reserved, writers, state ok/full), also rebuilt per changed drive only.

What the farmer's service does around the ledger (``farmer_agent/farmer.py``) is done here the same way: Complete
checks the plot's size on its drive; a reservation that ends without one (release, expiry) has its partial files
removed, a whole plot kept (``removal_done(kept=...)``); a restart rebuilds the ledger from what the state file holds
(``export``), gives every reservation a lease (``extend_all``) and runs ``recover``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from farmer_agent.drives import DriveInfo, DriveState, allocated
from farmer_agent.ledger import Ledger
from farmer_agent.reservation import Reservation, Rules
from plotboss.errors import FailedPrecondition, Unavailable
from plotter_agent.archive.farmers import FarmerView
from plotter_agent.farmer_client import DriveStateName, FarmerDrive

if TYPE_CHECKING:
    from sim.engine import Event
    from sim.fleet import Fleet

LedgerFactory = Callable[..., Ledger]
BLOCK = 4096


@dataclass(eq=False)
class SimDrive:
    path: str
    total: int
    farmer: str
    plots: dict[str, int] = field(default_factory=dict)
    used: int = 0
    failed: bool = False
    info: DriveInfo | None = None
    view: FarmerDrive | None = None
    #: a change the last probe has not seen, at this time (None: the probe is current)
    changed_at: float | None = 0.0
    #: transfers writing to this drive now (the simulation's own count, for the writers invariant)
    writing: int = 0
    #: plots it can hold above the floor (its capacity in the report)
    capacity: int = 0

    @property
    def free(self) -> int:
        return self.total - self.used


class SimFarmer:
    def __init__(
        self,
        fleet: Fleet,
        name: str,
        drives: list[SimDrive],
        rules: Rules,
        link_bps: float,
        ledger_factory: LedgerFactory = Ledger,
    ) -> None:
        self.fleet = fleet
        self.name = name
        self.rules = rules
        self.link_bps = link_bps
        self.drives = drives
        self.by_path = {d.path: d for d in drives}
        self._factory = ledger_factory
        clock = fleet.engine.clock
        self.ledger = ledger_factory(rules, clock, new_id=self._new_id, monotonic=clock)
        self.reachable = True
        self._ids = 0
        self._views: tuple[FarmerDrive, ...] | None = None
        self._view: FarmerView | None = None
        #: drives changed since their last probe
        self._changed: set[SimDrive] = set()
        self._expiry: Event | None = None
        self._expiry_at = float("inf")

    def _new_id(self) -> str:
        self._ids += 1
        return f"{zlib.crc32(self.name.encode()):08x}{self._ids:024x}"

    # --- probes and views ----------------------------------------------------------------------------------------

    def touch(self, d: SimDrive) -> None:
        d.changed_at = self.fleet.engine.now
        d.view = None
        self._views = None
        self._changed.add(d)

    def _info(self, d: SimDrive) -> DriveInfo:
        now = self.fleet.engine.now
        if d.info is None or (d.changed_at is not None and now > d.changed_at):
            if d.failed:
                d.info = DriveInfo(d.path, DriveState.MISSING, "no such directory", probe_time=now, probe_mono=now)
            else:
                sizes = dict(d.plots)
                d.info = DriveInfo(
                    path=d.path,
                    state=DriveState.OK,
                    total_bytes=d.total,
                    free_bytes=d.free,
                    plot_count=len(sizes),
                    plot_bytes=sum(sizes.values()),
                    largest_plot_bytes=max(sizes.values(), default=0),
                    plots=frozenset(sizes),
                    plot_sizes=sizes,
                    written=sizes,
                    probe_time=now,
                    probe_mono=now,
                    block_size=BLOCK,
                )
            d.changed_at = None
            d.view = None
            self._changed.discard(d)
        return d.info

    def infos(self) -> tuple[DriveInfo, ...]:
        return tuple(self._info(d) for d in self.drives)

    def _drive_view(self, d: SimDrive) -> FarmerDrive:
        if d.view is None:
            info = self._info(d)
            reserved = self.ledger.reserved_bytes(info)
            if d.failed:
                state = "missing"
            else:
                room = info.free_bytes - reserved - self.rules.min_free_bytes
                state = "full" if room < max(info.allocated(info.largest_plot_bytes), 1) else "ok"
            name: DriveStateName = state  # type: ignore[assignment]
            d.view = FarmerDrive(
                d.path,
                d.total,
                info.free_bytes,
                reserved,
                info.plot_count,
                info.plot_bytes,
                name,
                "",
                self.ledger.writers(d.path),
                "",
                info.probe_time,
            )
        return d.view

    def view(self) -> FarmerView:
        """ListDrives as an archiver sees it (None drives when the farmer cannot be reached)."""
        if not self.reachable:
            return FarmerView(self.name, None, "connection refused")
        now = self.fleet.engine.now
        for d in self._changed:
            if d.changed_at is not None and now > d.changed_at and d.view is not None:
                d.view, self._views = None, None
        if self._views is None or self._view is None:
            self._views = tuple(self._drive_view(d) for d in self.drives)
            self._view = FarmerView(self.name, self._views)
        return self._view

    # --- the RPCs ------------------------------------------------------------------------------------------------

    def _up(self, what: str) -> None:
        if not self.reachable:
            raise Unavailable(f"{self.name}: {what}: connection refused")

    def reserve(self, plot_name: str, size: int, requester: str) -> Reservation:
        self._up("Reserve")
        r = self.ledger.reserve(plot_name, size, requester, self.infos())
        d = self.by_path[r.drive]
        self.touch(d)
        self._arm_expiry(r.expire_time)
        return r

    def renew(self, rid: str) -> Reservation:
        self._up("Renew")
        r = self.ledger.renew(rid)
        self._arm_expiry(r.expire_time)
        return r

    def complete(self, rid: str) -> Reservation:
        self._up("Complete")
        r = self.ledger.get(rid)
        d = self.by_path[r.drive]
        if d.failed:
            raise FailedPrecondition(f"plot {r.plot_name} on {r.drive}: cannot check it: drive missing")
        r = self.ledger.complete(rid, d.plots.get(r.plot_name), self.infos())
        self.touch(d)
        self.fleet.drive_changed(d)
        return r

    def release(self, rid: str) -> Reservation:
        self._up("Release")
        r = self.ledger.release(rid)
        self._remove(r)
        return r

    def _remove(self, r: Reservation) -> None:
        """The farmer's removal of an ended reservation's files: a whole plot stays (and counts as landed)."""
        d = self.by_path.get(r.drive)
        if d is None:
            return
        kept = d.plots.get(r.plot_name) == r.size_bytes
        self.ledger.removal_done(r.plot_name, r.drive, kept=kept)
        self.touch(d)
        self.fleet.drive_changed(d)

    # --- the sweeper ---------------------------------------------------------------------------------------------

    def _arm_expiry(self, t: float) -> None:
        if t < self._expiry_at:
            self.fleet.engine.cancel(self._expiry)
            self._expiry_at = t
            self._expiry = self.fleet.engine.at(t, self._sweep)

    def _sweep(self) -> None:
        self._expiry, self._expiry_at = None, float("inf")
        for r in self.ledger.expire():
            self.fleet.lease_expired(self, r)
            self._remove(r)
        left = self.ledger.reservations()
        if left:
            self._arm_expiry(min(r.expire_time for r in left))

    # --- faults --------------------------------------------------------------------------------------------------

    def restart(self) -> None:
        """The farmer agent restarts: a new ledger from what its state file holds, then its start-up steps."""
        _version, saved = self.ledger.export()
        clock = self.fleet.engine.clock
        self.ledger = self._factory(self.rules, clock, new_id=self._new_id, reservations=saved, monotonic=clock)
        self.ledger.extend_all()
        for d in self.drives:
            d.info, d.changed_at, d.view = None, None, None
        self._views = None
        self._changed.clear()
        rec = self.ledger.recover(self.infos())
        for rm in rec.stale:
            self.ledger.removal_done(rm.plot_name, rm.drive, kept=True)
        left = self.ledger.reservations()
        self._expiry_at = float("inf")
        if left:
            self._arm_expiry(min(r.expire_time for r in left))

    def fail_drive(self, d: SimDrive) -> None:
        d.failed = True
        self.touch(d)


def drive_capacity(total: int, floor: int, plot_bytes: int) -> int:
    """Plots a drive of ``total`` bytes holds above its floor."""
    return max(0, (total - floor) // allocated(plot_bytes, BLOCK))
