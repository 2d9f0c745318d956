"""The farmer's domain facade: drives snapshot + ledger + files on disk + state file, behind plain methods.

The servicer converts messages and calls these; the app wires them and runs the prober and the expiry sweeper.
Disk touches here (checking a landed plot, removing partials) are seams and are time-boxed so a hung drive fails
one call instead of holding a gRPC thread forever.

Removing a plot's files on a drive: the ledger notes the removal (that plot is then not placed on that drive), the
farmer runs it in a thread and waits for it at most ``io_timeout_s``. The thread itself reports to the ledger when
the removal has really ended, also after the caller stopped waiting: done (the plot may go on that drive again, or,
when the removal found the plot whole under its final name and kept it, it is archived there) or failed (it stays off
that drive; the expiry sweeper retries it until it succeeds). Whether a whole plot stays is decided by that thread,
from the drive as it is then (see removals.py), never from an earlier probe; a file under the final name that was
there before the reservation began is never removed (plotfiles.remove_partials).

State on disk before an answer: every change an RPC makes (Reserve, Renew, Complete, Release; the sweeper's expiry
too) is saved before the call returns; when the state file cannot be written the ledger's change is reverted (see
``reservation.Undo``) and the call fails with ``Unavailable``: nothing changed, in memory or on the drives.

Reserve looks at the drive it grants itself (time-boxed) before answering: a file under a final plot name with the
same plot id that landed since the last probe refuses the grant (ALREADY_EXISTS), and a drive that cannot be looked
at refuses it too (UNAVAILABLE). Complete checks what landed is a plot (plotfiles.landed_size).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from farmer_agent.config import RsyncdSection
from farmer_agent.drives import DriveInfo, DriveState
from farmer_agent.ledger import Ledger, Recovery
from farmer_agent.plotfiles import (
    Cleanup,
    TimedOut,
    find_plot_id,
    landed_size,
    remove_partials,
    remove_temps,
    time_boxed,
)
from farmer_agent.reservation import RECOVERED, Reservation, Undo, check_id, check_request
from farmer_agent.rsyncd import rsync_url
from farmer_agent.state import StateWriter
from plotboss.errors import AlreadyExists, ConfigError, FailedPrecondition, NotFound, Unavailable
from plotboss.plots import parse_plot_name

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
        final_size_fn: Callable[[str, str], int | None] = landed_size,
        remove_fn: Callable[[str, str, int, float], Cleanup] = remove_partials,
        remove_temps_fn: Callable[[str, str], list[str]] = remove_temps,
        find_fn: Callable[[str, str], list[str]] = find_plot_id,
    ) -> None:
        self.rsyncd = rsyncd
        self.ledger = ledger
        self._snapshot = snapshot
        self._state = state
        self._io_timeout_s = io_timeout_s
        self._final_size = final_size_fn
        self._remove = remove_fn
        self._remove_temps = remove_temps_fn
        self._find = find_fn
        #: the sweeper's last expiry could not be saved (logged once until one can)
        self._expiry_blocked = False
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
            if state == DriveState.OK and d.free_bytes - reserved - floor < max(d.allocated(d.largest_plot_bytes), 1):
                state, error = DriveState.FULL, "no room for another plot above drives.min_free_bytes"
            out.append(DriveView(d, state, error, reserved, self.ledger.writers(d.path), self.url(d.path)))
        return out

    def reservations(self) -> list[Reservation]:
        return self.ledger.reservations()

    # --- changes -----------------------------------------------------------------------------------------------

    def _save(self, undo: Undo, what: str, *, quiet: bool = False) -> None:
        """Put the ledger's state (with the change ``undo`` reverts) on disk; Unavailable, the change reverted, when
        the state file cannot be written (logged unless ``quiet``)."""
        if self._state is None:
            return
        try:
            self._state.save(self.ledger.version, undo)
        except OSError as e:
            why = e.strerror or str(e)
            if not quiet:
                log.error(
                    "cannot write the state file %s: %s; %s refused, nothing changed", self._state.path, why, what
                )
            raise Unavailable(
                f"{what}: cannot write the state file {self._state.path}: {why}; nothing was changed (try again once "
                "the farmer can write it)"
            ) from None

    @staticmethod
    def _revert(undo: Undo) -> None:
        for fn in reversed(undo):
            fn()

    def reserve(self, plot_name: str, size_bytes: int, requester: str, avoid_drives: Sequence[str] = ()) -> Reservation:
        """Reserve room for the plot on a drive by policy, never on one of ``avoid_drives`` (the caller's earlier
        attempt failed there; RESOURCE_EXHAUSTED names them when no other drive can take it)."""
        # The snapshot is taken inside the ledger's lock: decisions are serialized, and each one sees a snapshot at
        # least as new as the last. Taken outside, a call holding an older snapshot could follow one that pruned the
        # landed records that older snapshot still needs, and under-count a just-completed plot (seen once in the
        # 50-client race test: 15 KB over the floor).
        undo: Undo = []
        with self.ledger.lock:
            drives = tuple(d for d in self._snapshot() if self.url(d.path))
            avoid = frozenset(avoid_drives)
            r = self.ledger.reserve(
                plot_name, size_bytes, requester, drives, undo=undo, unconfirmed=True, avoid_drives=avoid
            )
        try:
            self._look(r)
        except BaseException:
            self._revert(undo)
            raise
        self.ledger.confirm(r.id)
        self._save(undo, f"reserving {plot_name}")
        log.info("reserved %s (%d bytes) on %s for %s: %s", plot_name, size_bytes, r.drive, requester, r.id)
        return r

    def _look(self, r: Reservation) -> None:
        """The granted drive itself, not its last probe: AlreadyExists when a file under a final plot name with this
        plot id is there (landed since that probe); Unavailable when the drive cannot be looked at in time."""
        plot_id = parse_plot_name(r.plot_name).plot_id
        try:
            found = time_boxed(lambda: self._find(r.drive, plot_id), self._io_timeout_s, f"looking at {r.drive}")
        except TimedOut as e:
            raise Unavailable(f"reserving {r.plot_name}: {e}") from None
        except OSError as e:
            raise Unavailable(f"reserving {r.plot_name}: cannot look at {r.drive}: {e.strerror or e}") from None
        if r.plot_name in found:
            raise AlreadyExists(f"plot {r.plot_name}: already on {r.drive}")
        if found:
            raise AlreadyExists(f"plot {r.plot_name}: its plot id is already on {r.drive} as {found[0]}")

    def confirm_plot(self, plot_name: str, size_bytes: int) -> str:
        """The path of ``plot_name`` held whole (exactly ``size_bytes``, Complete's checks) on one of the drives.

        Drives whose last probe lists the name are looked at first, then every other drive, each time-boxed (a drive
        whose probe failed is not touched: it counts as not looked at).
        NotFound when no drive has a file under that name; FailedPrecondition (naming it) when one has but it is not
        that plot whole; Unavailable when none was found but a drive could not be looked at."""
        check_request(plot_name, size_bytes, "confirm")
        snap = [d for d in self._snapshot() if d.state != DriveState.MISSING]
        snap.sort(key=lambda d: plot_name not in d.plots)
        wrong: list[str] = []
        unlooked: list[str] = []
        for d in snap:
            if d.state == DriveState.ERROR:  # its probe hung or failed: not touched again here
                unlooked.append(f"{d.path}: {d.error or 'error'}")
                continue
            try:
                size = time_boxed(
                    partial(self._final_size, d.path, plot_name), self._io_timeout_s, f"looking at {d.path}"
                )
            except FailedPrecondition as e:
                if isinstance(e, TimedOut):
                    unlooked.append(f"{d.path}: {e}")
                else:
                    wrong.append(str(e))
                continue
            except OSError as e:
                unlooked.append(f"{d.path}: {e.strerror or e}")
                continue
            if size == size_bytes:
                return os.path.join(d.path, plot_name)
            if size is not None:
                wrong.append(f"{os.path.join(d.path, plot_name)}: {size} bytes, not {size_bytes}")
        if wrong:
            raise FailedPrecondition(f"plot {plot_name}: not held whole: {'; '.join(wrong)}")
        if unlooked:
            raise Unavailable(
                f"plot {plot_name}: not found, and some drives could not be looked at: " + "; ".join(unlooked)
            )
        raise NotFound(f"plot {plot_name}: not on any drive of this farmer")

    def renew(self, reservation_id: str) -> Reservation:
        undo: Undo = []
        r = self.ledger.renew(reservation_id, undo=undo)
        self._save(undo, f"renewing {reservation_id}")
        return r

    def complete(self, reservation_id: str) -> tuple[str, Reservation]:
        """Check the plot landed whole, then end the reservation and remove the plot's remaining rsync temp files on
        that drive when the last probe saw any (never the plot). Returns the plot's final path."""
        r = self.ledger.get(reservation_id)
        try:
            size = time_boxed(lambda: self._final_size(r.drive, r.plot_name), self._io_timeout_s, f"checking {r.drive}")
        except OSError as e:
            raise FailedPrecondition(f"plot {r.plot_name} on {r.drive}: cannot check it: {e.strerror or e}") from None
        undo: Undo = []
        r = self.ledger.complete(reservation_id, size, self._snapshot(), undo=undo)
        self._save(undo, f"completing {r.plot_name}")
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
                    done = self._remove(drive, plot_name, rm.size_bytes, rm.since)
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
            # a final file left because it was there before the reservation counts as kept (not removed) too
            self.ledger.removal_done(plot_name, drive, kept=done.kept or done.foreign)
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
            if done.foreign:
                log.warning(
                    "%s on %s was there before its reservation began (not written under it): left in place",
                    plot_name,
                    drive,
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
        undo: Undo = []
        r = self.ledger.release(reservation_id, undo=undo)
        self._save(undo, f"releasing {reservation_id}")
        log.info("released %s on %s (%s)", r.plot_name, r.drive, r.id)
        return self._run_removal(r.plot_name, r.drive)

    def sweep(self) -> list[Reservation]:
        """Release every reservation whose lease ran out, removing its partial files; retry failed removals."""
        undo: Undo = []
        gone = self.ledger.expire(undo=undo)
        if gone:
            try:
                self._save(undo, "expiring reservations", quiet=True)
                if self._expiry_blocked:
                    log.info("the state file can be written again: expiring the reservations whose lease ran out")
                self._expiry_blocked = False
            except Unavailable as e:
                if not self._expiry_blocked:  # once, not at every sweep while the disk stays full
                    log.error("%s; retried at every sweep until it can be written", e)
                self._expiry_blocked = True
                gone = []  # reverted: their leases stay run out, and they are expired again at the next sweep
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
            with contextlib.suppress(Unavailable):  # logged; held again from their temp files at the next start
                self._save([], "holding space for unknown transfers")
        for rm in rec.stale:
            log.warning(
                "%s is archived on %s and no reservation covers its rsync temp files there: removing those (stale "
                "leftovers of an earlier transfer), keeping the plot",
                rm.plot_name,
                rm.drive,
            )
            self._run_removal(rm.plot_name, rm.drive)
        return rec
