"""Transfers and the links they share: each plotter's link and each farmer's link has a bandwidth, divided evenly
among the transfers on it, and a transfer goes at the smaller of its two shares (and at most a drive's write speed).
Rates are recomputed only when a transfer starts or ends on one of its links; each transfer's end (or the point where
an injected fault kills it) is an event rescheduled then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sim.engine import Engine, Event

if TYPE_CHECKING:
    from farmer_agent.reservation import Reservation
    from plotter_agent.dirs import PlotFile
    from sim.farmer import SimDrive, SimFarmer
    from sim.plotter import SimPlotter


class Transfer:
    __slots__ = (
        "drive",
        "end_ev",
        "fail_left",
        "farmer",
        "fault",
        "left",
        "lost",
        "on_end",
        "plot",
        "plotter",
        "rate",
        "renew_ev",
        "res",
        "running",
        "size",
        "started",
        "t_last",
    )

    def __init__(
        self, plotter: SimPlotter, farmer: SimFarmer, drive: SimDrive, res: Reservation, plot: PlotFile, now: float
    ) -> None:
        self.plotter, self.farmer, self.drive, self.res, self.plot = plotter, farmer, drive, res, plot
        self.size = plot.size_bytes
        self.left = float(self.size)
        self.rate = 0.0
        self.t_last = now
        self.end_ev: Event | None = None
        self.renew_ev: Event | None = None
        #: bytes left when an injected fault kills the push (-1: it does not fail)
        self.fail_left = -1.0
        #: (returncode, signal, stderr tail) of the injected fault
        self.fault: tuple[int | None, int | None, tuple[str, ...]] | None = None
        self.started = now
        #: the reservation is gone (a renewal answered NOT_FOUND, or the farmer expired it)
        self.lost = False
        #: rsync is running (False between a failed push and its resume)
        self.running = False
        self.on_end: Callable[[Transfer, bool], None] | None = None


class Links:
    def __init__(self, engine: Engine, drive_bps: float) -> None:
        self.engine = engine
        self.drive_bps = drive_bps
        self.on_plotter: dict[str, set[Transfer]] = {}
        self.on_farmer: dict[str, set[Transfer]] = {}
        self.running = 0
        self.bytes_sent = 0.0

    def _settle(self, group: set[Transfer]) -> None:
        now = self.engine.now
        for tr in group:
            tr.left -= tr.rate * (now - tr.t_last)
            tr.t_last = now

    def _rates(self, group: set[Transfer]) -> None:
        eng = self.engine
        for tr in group:
            p, f = self.on_plotter[tr.plotter.name], self.on_farmer[tr.farmer.name]
            tr.rate = min(tr.plotter.link_bps / len(p), tr.farmer.link_bps / len(f), self.drive_bps)
            eng.cancel(tr.end_ev)
            target = max(tr.fail_left, 0.0)
            tr.end_ev = eng.at(eng.now + max(tr.left - target, 0.0) / tr.rate, self._end, tr)

    def _affected(self, tr: Transfer) -> set[Transfer]:
        return self.on_plotter.setdefault(tr.plotter.name, set()) | self.on_farmer.setdefault(tr.farmer.name, set())

    def start(self, tr: Transfer, on_end: Callable[[Transfer, bool], None]) -> None:
        tr.on_end = on_end
        tr.running = True
        tr.t_last = self.engine.now
        group = self._affected(tr)
        self._settle(group)
        self.on_plotter[tr.plotter.name].add(tr)
        self.on_farmer[tr.farmer.name].add(tr)
        self.running += 1
        tr.drive.writing += 1
        self._rates(group | {tr})

    def _detach(self, tr: Transfer) -> None:
        group = self._affected(tr)
        self._settle(group)
        self.bytes_sent += tr.size - max(tr.left, 0.0)
        self.on_plotter[tr.plotter.name].discard(tr)
        self.on_farmer[tr.farmer.name].discard(tr)
        self.engine.cancel(tr.end_ev)
        tr.end_ev = None
        tr.running = False
        self.running -= 1
        tr.drive.writing -= 1
        group.discard(tr)
        self._rates(group)

    def _end(self, tr: Transfer) -> None:
        tr.end_ev = None
        ok = tr.fail_left < 0
        self._detach(tr)
        assert tr.on_end is not None
        tr.on_end(tr, ok)

    def kill(self, tr: Transfer, fault: tuple[int | None, int | None, tuple[str, ...]]) -> None:
        """End a running push now, failed with ``fault`` (its farmer or drive went away)."""
        if not tr.running:
            return
        tr.fault = fault
        tr.fail_left = 1.0
        self._detach(tr)
        assert tr.on_end is not None
        tr.on_end(tr, False)

    def of_farmer(self, farmer: str) -> list[Transfer]:
        return list(self.on_farmer.get(farmer, ()))

    def of_plotter(self, plotter: str) -> list[Transfer]:
        return list(self.on_plotter.get(plotter, ()))
