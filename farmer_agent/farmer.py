"""The farmer's domain facade: drives snapshot + ledger + files on disk + state file, behind plain methods.

The servicer converts messages and calls these; the app wires them and runs the prober and the expiry sweeper.
Disk touches here (checking a landed plot, removing partials) are seams and are time-boxed so a hung drive fails
one call instead of holding a gRPC thread forever.

Removing a plot's files on a drive: the ledger notes the removal (that plot is then not placed on that drive), the
farmer runs it in a thread and waits for it at most ``io_timeout_s``. The thread itself reports to the ledger when
the removal has really ended, also after the caller stopped waiting: done (the plot may go on that drive again, or,
when the removal found the plot whole under its final name and kept it, it is archived there) or failed (it stays off
that drive; the expiry sweeper retries it until it succeeds). Whether a whole plot stays is decided by that thread,
from the drive as it is then (see removals.py), never from an earlier probe.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from farmer_agent.config import RsyncdSection
from farmer_agent.drives import (
    Cleanup,
    DriveInfo,
    DriveState,
    TimedOut,
    final_size,
    remove_partials,
    remove_temps,
    time_boxed,
)
from farmer_agent.ledger import RECOVERED, Ledger, Recovery, Reservation, check_id
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
        remove_fn: Callable[[str, str, int], Cleanup] = remove_partials,
        remove_temps_fn: Callable[[str, str], list[str]] = remove_temps,
    ) -> None:
        self.rsyncd = rsyncd
        self.ledger = ledger
        self._snapshot = snapshot
        self._state = state
        self._io_timeout_s = io_timeout_s
        self._final_size = final_size_fn
        self._remove = remove_fn
        self._remove_temps = remove_temps_fn
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
        """Check the plot landed whole, then end the reservation and remove the plot's remaining rsync temp files on
        that drive when the last probe saw any (never the plot). Returns the plot's final path."""
        r = self.ledger.get(reservation_id)
        try:
            size = time_boxed(lambda: self._final_size(r.drive, r.plot_name), self._io_timeout_s, f"checking {r.drive}")
        except OSError as e:
            raise FailedPrecondition(f"plot {r.plot_name} on {r.drive}: cannot check it: {e.strerror or e}") from None
        r = self.ledger.complete(reservation_id, size, self._snapshot())
        self._save()
        log.info("completed %s on %s (%d bytes) for %s", r.plot_name, r.drive, r.size_bytes, r.requester)
        self._run_removal(r.plot_name, r.drive)
        return os.path.join(r.drive, r.plot_name), r

    def _run_removal(self, plot_name: str, drive: str) -> list[str]:
        """Remove what the ledger has down for ``plot_name`` on ``drive``; the removed paths, [] when it failed or
        is still running after ``io_timeout_s`` (see the module doc)."""
        rm = self.ledger.removal(plot_name, drive)
        if rm is None:
            return []
        what = "rsync temp files" if rm.keep_final else "partial files"

        def work() -> list[str]:
            try:
                if rm.keep_final:
                    done = Cleanup(self._remove_temps(drive, plot_name))
                else:  # the plot's files, but a whole plot stays (see removals.py)
                    done = self._remove(drive, plot_name, rm.size_bytes)
            except Exception as e:
                failed = self.ledger.removal_failed(plot_name, drive)
                log.warning(
                    "could not remove the %s of %s on %s (attempt %d): %s; retried later, and the plot is not placed "
                    "on that drive until they are gone",
                    what,
                    plot_name,
                    drive,
                    failed.failures if failed else 1,
                    e.strerror or e if isinstance(e, OSError) else e,
                )
                raise
            self.ledger.removal_done(plot_name, drive, kept=done.kept)
            if done.removed:
                log.info("removed %s", ", ".join(done.removed))
            if done.kept:
                log.warning(
                    "%s on %s is whole (exactly the %d bytes reserved) though its reservation ended without a "
                    "Complete: kept as an archived plot",
                    plot_name,
                    drive,
                    rm.size_bytes,
                )
            return done.removed

        try:
            return time_boxed(work, self._io_timeout_s, f"cleaning {drive}")
        except TimedOut:
            log.warning(
                "removing the %s of %s on %s takes longer than %g s; it goes on in the background (the plot is not "
                "placed on that drive until it is done)",
                what,
                plot_name,
                drive,
                self._io_timeout_s,
            )
        except Exception:
            pass  # logged by work(), which also scheduled the retry
        return []

    def release(self, reservation_id: str) -> list[str]:
        check_id(reservation_id)
        r = self.ledger.release(reservation_id)
        self._save()
        log.info("released %s on %s (%s)", r.plot_name, r.drive, r.id)
        return self._run_removal(r.plot_name, r.drive)

    def sweep(self) -> list[Reservation]:
        """Release every reservation whose lease ran out, removing its partial files; retry failed removals."""
        gone = self.ledger.expire()
        if gone:
            self._save()
        for r in gone:
            log.warning("reservation %s of %s on %s expired (no renewal); releasing it", r.id, r.plot_name, r.drive)
            self._run_removal(r.plot_name, r.drive)
        for rm in self.ledger.removals_due():
            log.info(
                "retrying the removal of the files of %s on %s (attempt %d)", rm.plot_name, rm.drive, rm.failures + 1
            )
            self._run_removal(rm.plot_name, rm.drive)
        return gone

    def recover(self) -> Recovery:
        """At start: hold space for rsync temp files no restored reservation covers, remove stale temp files next to
        archived plots (never the plots), and protect plots already whole under a restored reservation."""
        rec = self.ledger.recover(self._snapshot())
        for r in rec.held:
            log.warning(
                "holding %d bytes on %s for an unknown transfer of %s (%s)",
                r.size_bytes,
                r.drive,
                r.plot_name,
                RECOVERED,
            )
        for r in rec.whole:
            log.warning(
                "reservation %s: %s is already whole on %s; it waits for its Complete, and if the reservation ends "
                "without one the plot is kept there (as any whole plot: only its temp files are removed)",
                r.id,
                r.plot_name,
                r.drive,
            )
        if rec.held:
            self._save()
        for rm in rec.stale:
            log.warning(
                "%s is archived on %s and no reservation covers its rsync temp files there: removing those (stale "
                "leftovers of an earlier transfer), keeping the plot",
                rm.plot_name,
                rm.drive,
            )
            self._run_removal(rm.plot_name, rm.drive)
        return rec
