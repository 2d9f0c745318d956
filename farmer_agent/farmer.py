"""The farmer's domain facade: drives snapshot + ledger + files on disk + state file, behind plain methods.

The servicer converts messages and calls these; the app wires them and runs the prober and the expiry sweeper.
Disk touches here (checking a landed plot, removing partials) are seams and are time-boxed so a hung drive fails
one call instead of holding a gRPC thread forever.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from farmer_agent.config import RsyncdSection
from farmer_agent.drives import DriveInfo, DriveState, final_size, remove_partials, time_boxed
from farmer_agent.ledger import RECOVERED, Ledger, Reservation, check_id
from farmer_agent.rsyncd import rsync_url
from farmer_agent.state import StateWriter
from plotboss.errors import ConfigError, FailedPrecondition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriveView:
    """A drive as ListDrives shows it: the probe plus the ledger's reservations and the derived state."""

    info: DriveInfo
    state: DriveState
    error: str
    reserved_bytes: int
    writers: int
    rsync_url: str


class Farmer:
    def __init__(
        self,
        rsyncd: RsyncdSection,
        snapshot: Callable[[], tuple[DriveInfo, ...]],
        ledger: Ledger,
        state: StateWriter | None,
        *,
        io_timeout_s: float = 5.0,
        final_size_fn: Callable[[str, str], int | None] = final_size,
        remove_fn: Callable[[str, str], list[str]] = remove_partials,
    ) -> None:
        self.rsyncd = rsyncd
        self.ledger = ledger
        self._snapshot = snapshot
        self._state = state
        self._io_timeout_s = io_timeout_s
        self._final_size = final_size_fn
        self._remove = remove_fn
        self._urls: dict[str, str] = {}

    # --- reads -------------------------------------------------------------------------------------------------

    def url(self, drive: str) -> str:
        """The drive's rsync URL ('' when it lies outside rsyncd.path); cached, drives come and go rarely."""
        url = self._urls.get(drive)
        if url is None:
            try:
                url = rsync_url(drive, self.rsyncd)
            except ConfigError:
                url = ""
            self._urls[drive] = url
        return url

    def drives(self) -> list[DriveView]:
        out = []
        floor = self.ledger.rules.min_free_bytes
        for d in self._snapshot():
            reserved = self.ledger.reserved_bytes(d)
            state, error = d.state, d.error
            # full: less than the floor plus one plot (the largest here; any byte when it holds none) is left
            if state == DriveState.OK and d.free_bytes - reserved - floor < max(d.largest_plot_bytes, 1):
                state, error = DriveState.FULL, "no room for another plot above drives.min_free_bytes"
            out.append(DriveView(d, state, error, reserved, self.ledger.writers(d.path), self.url(d.path)))
        return out

    def reservations(self) -> list[Reservation]:
        return self.ledger.reservations()

    # --- changes -----------------------------------------------------------------------------------------------

    def _save(self) -> None:
        if self._state is None:
            return
        try:
            self._state.save(self.ledger.version)
        except OSError as e:
            log.error("cannot write the state file %s: %s (a restart may forget reservations)", self._state.path, e)

    def reserve(self, plot_name: str, size_bytes: int, requester: str) -> Reservation:
        # The snapshot is taken inside the ledger's lock: decisions are serialized, and each one sees a snapshot at
        # least as new as the last. Taken outside, a call holding an older snapshot could follow one that pruned the
        # landed records that older snapshot still needs, and under-count a just-completed plot (seen once in the
        # 50-client race test: 15 KB over the floor).
        with self.ledger.lock:
            drives = tuple(d for d in self._snapshot() if self.url(d.path))
            r = self.ledger.reserve(plot_name, size_bytes, requester, drives)
        self._save()
        log.info("reserved %s (%d bytes) on %s for %s: %s", plot_name, size_bytes, r.drive, requester, r.id)
        return r

    def renew(self, reservation_id: str) -> Reservation:
        r = self.ledger.renew(reservation_id)
        self._save()
        return r

    def complete(self, reservation_id: str) -> tuple[str, Reservation]:
        """Check the plot landed whole, then end the reservation. Returns the plot's final path."""
        r = self.ledger.get(reservation_id)
        try:
            size = time_boxed(lambda: self._final_size(r.drive, r.plot_name), self._io_timeout_s, f"checking {r.drive}")
        except OSError as e:
            raise FailedPrecondition(f"plot {r.plot_name} on {r.drive}: cannot check it: {e.strerror or e}") from None
        r = self.ledger.complete(reservation_id, size)
        self._save()
        log.info("completed %s on %s (%d bytes) for %s", r.plot_name, r.drive, r.size_bytes, r.requester)
        return os.path.join(r.drive, r.plot_name), r

    def _clean(self, r: Reservation) -> list[str]:
        try:
            removed = time_boxed(lambda: self._remove(r.drive, r.plot_name), self._io_timeout_s, f"cleaning {r.drive}")
        except Exception as e:
            log.warning("could not remove the partial files of %s on %s: %s", r.plot_name, r.drive, e)
            removed = []
        finally:
            self.ledger.cleaned(r.plot_name)
        if removed:
            log.info("removed %s", ", ".join(removed))
        return removed

    def release(self, reservation_id: str) -> list[str]:
        check_id(reservation_id)
        r = self.ledger.release(reservation_id)
        self._save()
        log.info("released %s on %s (%s)", r.plot_name, r.drive, r.id)
        return self._clean(r)

    def sweep(self) -> list[Reservation]:
        """Release every reservation whose lease ran out, removing its partial files."""
        gone = self.ledger.expire()
        if gone:
            self._save()
        for r in gone:
            log.warning("reservation %s of %s on %s expired (no renewal); releasing it", r.id, r.plot_name, r.drive)
            self._clean(r)
        return gone

    def recover(self) -> list[Reservation]:
        """At start: hold space for rsync temp files no restored reservation covers."""
        found = self.ledger.recover(self._snapshot())
        for r in found:
            log.warning(
                "holding %d bytes on %s for an unknown transfer of %s (%s)",
                r.size_bytes,
                r.drive,
                r.plot_name,
                RECOVERED,
            )
        if found:
            self._save()
        return found
