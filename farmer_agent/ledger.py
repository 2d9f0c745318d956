"""The reservation ledger: pure decisions over a drives snapshot, with injected clocks. No I/O.

Space accounting, per drive (all from one probe, see drives.py):

    reserved = sum over the reservations on the drive of (size - bytes of that plot already written there)
    available = free - reserved - min_free_bytes

every size counted in the drive's allocation blocks (rounded up to ``DriveInfo.block_size``, what a file of that
size really takes of ``free``), and a reservation granted only when ``available`` holds its size so rounded.

``free`` already went down by what a transfer has written into its rsync temp file, so a reservation counts only
what is still to come: free + reserved is never double counted, and the figure shown as *reserved* shrinks as the
transfer proceeds. When a reservation completes, the plot's remaining bytes keep counting (as a *landed* record)
until a probe that started after the completion has seen them in ``free``: one that really listed the drive (ok,
full, read-only); a failed or missing probe has seen nothing and neither prunes a landed record nor counts as the
newest probe of its drive. Released or expired reservations stop
counting at once: their partial files are removed, which only ever makes a stale ``free`` too low, never too high.

Two clocks: leases (create/expire times, which clients see as timestamps) run on the wall clock; whether a probe is
newer than another one or than a completion is decided on the monotonic clock (``DriveInfo.probe_mono`` and the
landed records), so a wall-clock step (NTP) never makes fresh probes look stale nor a landed plot look seen.

Removals: a released or expired reservation leaves its plot's partial files on its drive to be removed (by the
farmer, which does the I/O and reports back) except a final file of exactly the reservation's size, a whole plot,
which stays (and then counts as landed); a completed one leaves the temp files of an earlier, dead transfer of that
plot there, and ``recover`` finds stale temp files next to archived plots (those two never remove the plot). A temp
file is rsync's ``.NAME.XXXXXX`` or the archiver's partial-dir file ``.plotboss-partial/NAME`` (drives.py). The
bookkeeping (which drive is refused for which plot until when, what stays, retries) is in removals.py.

Plot ids: a plot id (the 64 hex digits of a name) is held once on a farmer, whatever the rest of the name (date, k,
``-cNN``): Reserve refuses an id that a reservation, a landed record or a plot on any drive (as probed) already has.

Undo: the state-changing methods take an ``undo`` list and append to it what reverts their change (reserve, renew,
complete, release, expire). The farmer runs it when the change could not be saved (state file) or when its own look
at the drive refuses a grant: then nothing changed. A revert puts back only what is still as the change left it. A
grant under that look is *unconfirmed*: it counts in every decision but no state file holds it until ``confirm``, so
a crash during the look never brings back a reservation that was refused.

One re-entrant lock guards every decision; the gRPC threads call in concurrently.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from farmer_agent.drives import DriveInfo, temp_plot
from farmer_agent.removals import Removal, Removals
from farmer_agent.reservation import RECOVERED, Reservation, Rules, Undo, check_id, check_request
from plotboss.errors import AlreadyExists, FailedPrecondition, InsufficientSpace, InvalidArgument, NotFound
from plotboss.plots import expected_plot_size, max_plot_size, parse_plot_name


@dataclass(frozen=True)
class _Landed:
    drive: str
    plot_name: str
    size_bytes: int
    #: monotonic time of the completion, compared with ``DriveInfo.probe_mono``
    at: float


@dataclass(frozen=True)
class Recovery:
    """What ``Ledger.recover`` found on the drives at start."""

    #: new reservations by ``recovered`` for rsync temp files of transfers no reservation covers
    held: list[Reservation]
    #: rsync temp files next to their plot's final file, no reservation covering them: stale leftovers to remove
    #: (the temp files only, never the final file: an archived plot)
    stale: list[Removal]
    #: restored reservations whose plot the first probe saw whole on their drive (for the log: whether the plot is kept
    #: if one ends without a Complete is decided by its removal, when it runs, whatever this first probe saw)
    whole: list[Reservation]


def _has_temp(info: DriveInfo, plot_name: str) -> bool:
    return any(temp_plot(temp) == plot_name for temp in info.temp_files)


def _plot_id(plot_name: str) -> str:
    return parse_plot_name(plot_name).plot_id


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


class Ledger:
    def __init__(
        self,
        rules: Rules,
        clock: Callable[[], float],
        new_id: Callable[[], str] = lambda: secrets.token_hex(16),
        reservations: Iterable[Reservation] = (),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock``: wall-clock seconds, for leases (clients see them as timestamps). ``monotonic``: the clock the
        drive prober stamps ``probe_mono`` with, for ordering probes and completions."""
        self.rules = rules
        self._clock = clock
        self._monotonic = monotonic
        self._new_id = new_id
        self._lock = threading.RLock()
        self._by_id: dict[str, Reservation] = {r.id: r for r in reservations}
        self._landed: list[_Landed] = []
        #: newest probe time a decision has used, per drive: landed records older than it are gone, so an older
        #: snapshot of that drive would under-count them and is refused as stale (see reserve)
        self._newest_probe: dict[str, float] = {}
        #: files of a plot on a drive that are to be removed; that plot is not placed on that drive until done
        self._removals = Removals()
        self._version = 0
        #: reservations granted but not confirmed yet (Reserve's look at the drive is under way): they count in every
        #: decision, but no state file holds them (a crash meanwhile must not bring back one that is then refused)
        self._unconfirmed: set[str] = set()

    # --- views -------------------------------------------------------------------------------------------------

    @property
    def lock(self) -> threading.RLock:
        """The lock every decision takes; hold it to fetch a drives snapshot and decide on it atomically."""
        return self._lock

    @property
    def version(self) -> int:
        """Bumped by every change; the state file records which version it holds."""
        with self._lock:
            return self._version

    def reservations(self) -> list[Reservation]:
        with self._lock:
            return sorted(self._by_id.values(), key=lambda r: (r.create_time, r.id))

    def export(self) -> tuple[int, list[Reservation]]:
        """What the state file is to hold: the reservations in force but those not confirmed yet."""
        with self._lock:
            return self._version, [r for r in self.reservations() if r.id not in self._unconfirmed]

    def writers(self, drive: str) -> int:
        with self._lock:
            return sum(1 for r in self._by_id.values() if r.drive == drive)

    def reserved_bytes(self, info: DriveInfo) -> int:
        """Bytes promised on this drive and not yet in its free figure (see the module doc)."""
        with self._lock:
            total = 0
            up = info.allocated
            for r in self._by_id.values():
                if r.drive == info.path:
                    total += max(0, up(r.size_bytes) - up(info.written.get(r.plot_name, 0)))
            for ld in self._landed:
                if ld.drive == info.path and ld.at >= info.probe_mono:
                    total += max(0, up(ld.size_bytes) - up(info.written.get(ld.plot_name, 0)))
            return total + self._removals.pending_bytes(info)

    def available_bytes(self, info: DriveInfo) -> int:
        return info.free_bytes - self.reserved_bytes(info) - self.rules.min_free_bytes

    def get(self, reservation_id: str) -> Reservation:
        """The reservation in force; NotFound when unknown or its lease ran out."""
        check_id(reservation_id)
        with self._lock:
            r = self._by_id.get(reservation_id)
            if r is None:
                raise NotFound(f"reservation {reservation_id}: unknown (completed, released or expired)")
            if r.expire_time <= self._clock():
                raise NotFound(f"reservation {reservation_id}: expired (not renewed within {self.rules.lease_s:g} s)")
            return r

    # --- decisions ---------------------------------------------------------------------------------------------

    def _refusal(
        self, info: DriveInfo, plot_name: str, size: int, writers: dict[str, int], avail: dict[str, int]
    ) -> str | None:
        """Why this drive cannot take ``plot_name`` (``size`` more bytes) now, or None when it can. ``writers``: the
        reservations per drive; ``avail`` gets the drive's available bytes when they were computed."""
        if not info.usable:
            return f"{info.state.value}" + (f" ({info.error})" if info.error else "")
        why = self._removals.refusal(plot_name, info)
        if why is not None:
            return why
        if info.probe_mono < self._newest_probe.get(info.path, info.probe_mono):
            return "stale probe (a newer one was already used; try again)"
        w = writers.get(info.path, 0)
        if w >= self.rules.max_writers_per_drive:
            return f"{w}/{self.rules.max_writers_per_drive} writers busy"
        avail[info.path] = a = self.available_bytes(info)
        need = info.allocated(size)
        if a < need:
            return f"{_mib(max(0, a))} free above the floor and reservations, needs {_mib(need)}"
        return None

    def _prune_landed(self, drives: Sequence[DriveInfo]) -> None:
        """Forget the landed records a newer probe has seen in its free space. Only probes that really listed their
        drive count: a failed or missing one (empty listing) has seen nothing, and must neither prune a record (the
        plot would be reserved again elsewhere) nor make the last real probe of that drive look stale."""
        listed = [d for d in drives if d.listed]
        for d in listed:
            self._newest_probe[d.path] = max(d.probe_mono, self._newest_probe.get(d.path, d.probe_mono))
            self._removals.seen(d)
        seen = {d.path: d.probe_mono for d in listed}
        self._landed = [ld for ld in self._landed if seen.get(ld.drive, ld.at) <= ld.at]

    def reserve(
        self,
        plot_name: str,
        size_bytes: int,
        requester: str,
        drives: Sequence[DriveInfo],
        *,
        undo: Undo | None = None,
        unconfirmed: bool = False,
        avoid_drives: frozenset[str] = frozenset(),
    ) -> Reservation:
        """Pick a drive by policy and reserve ``size_bytes`` on it for one lease. ``unconfirmed``: it is not saved
        (``export``) until ``confirm``."""
        check_request(plot_name, size_bytes, requester)
        plot_id = parse_plot_name(plot_name).plot_id
        with self._lock:
            self._prune_landed(drives)
            for r in self._by_id.values():
                if r.plot_name == plot_name:
                    raise AlreadyExists(f"plot {plot_name}: already reserved on {r.drive} (reservation {r.id})")
                if _plot_id(r.plot_name) == plot_id:
                    raise AlreadyExists(
                        f"plot {plot_name}: its plot id is already reserved as {r.plot_name} on {r.drive} "
                        f"(reservation {r.id})"
                    )
            for ld in self._landed:
                if ld.plot_name == plot_name:
                    raise AlreadyExists(f"plot {plot_name}: already archived on {ld.drive}")
                if _plot_id(ld.plot_name) == plot_id:
                    raise AlreadyExists(
                        f"plot {plot_name}: its plot id is already archived as {ld.plot_name} on {ld.drive}"
                    )
            for d in drives:
                if plot_name in d.plots and not self._removals.removes_final(plot_name, d):
                    raise AlreadyExists(f"plot {plot_name}: already on {d.path}")
                # else: a partial file under the final name, being removed (that drive is refused below)
                for other in d.plot_ids.get(plot_id, ()):
                    if other != plot_name and not self._removals.removes_final(other, d):
                        raise AlreadyExists(f"plot {plot_name}: its plot id is already on {d.path} as {other}")
            fits: list[DriveInfo] = []
            reasons: list[str] = []
            # per drive, computed once for this decision (a farmer may have hundreds of drives)
            writers: dict[str, int] = {}
            for r in self._by_id.values():
                writers[r.drive] = writers.get(r.drive, 0) + 1
            avail: dict[str, int] = {}
            for d in drives:
                why = (
                    "avoided by the requester"
                    if d.path in avoid_drives
                    else self._refusal(d, plot_name, size_bytes, writers, avail)
                )
                if why is None:
                    fits.append(d)
                else:
                    reasons.append(f"{d.path}: {why}")
            if not fits:
                detail = "; ".join(reasons) if reasons else "no drives (drives.paths matched nothing)"
                raise InsufficientSpace(f"no drive can take {plot_name} ({_mib(size_bytes)}): {detail}")
            if self.rules.policy == "fill_first":
                chosen = fits[0]
            else:
                # ties: the first listed (by position, not list.index: DriveInfo equality compares every field)
                chosen = max(enumerate(fits), key=lambda t: (avail[t[1].path], -t[0]))[1]
            now = self._clock()
            rid = self._new_id()
            while rid in self._by_id:
                rid = self._new_id()
            res = Reservation(rid, plot_name, size_bytes, requester, chosen.path, now, now + self.rules.lease_s)
            self._by_id[rid] = res
            if unconfirmed:
                self._unconfirmed.add(rid)
            self._version += 1
            if undo is not None:
                undo.append(lambda: self._unreserve(res))
            return res

    def _unreserve(self, res: Reservation) -> None:
        with self._lock:
            self._put_back(res.id, res, None)
            self._unconfirmed.discard(res.id)

    def confirm(self, reservation_id: str) -> None:
        """An unconfirmed reservation is to be saved from now on (a state-file version newer than now holds it)."""
        with self._lock:
            if reservation_id in self._unconfirmed:
                self._unconfirmed.discard(reservation_id)
                self._version += 1

    def _put_back(self, rid: str, now: Reservation | None, then: Reservation | None) -> bool:
        """Revert reservation ``rid`` from ``now`` (None: absent) to ``then`` (None: absent), if it still is ``now`` and
        putting ``then`` back holds no plot twice; True when it did."""
        with self._lock:
            if self._by_id.get(rid) != now:
                return False
            if then is None:
                del self._by_id[rid]
            elif now is None and any(r.plot_name == then.plot_name for r in self._by_id.values()):
                return False  # that plot was reserved again meanwhile: the end stands
            else:
                self._by_id[rid] = then
            self._version += 1
            return True

    def renew(self, reservation_id: str, *, undo: Undo | None = None) -> Reservation:
        with self._lock:
            old = self.get(reservation_id)
            r = replace(old, expire_time=max(old.expire_time, self._clock() + self.rules.lease_s))
            self._by_id[r.id] = r
            self._version += 1
            if undo is not None:
                undo.append(lambda: self._put_back(r.id, r, old))
            return r

    def complete(
        self,
        reservation_id: str,
        observed_size: int | None,
        drives: Sequence[DriveInfo] = (),
        *,
        undo: Undo | None = None,
    ) -> Reservation:
        """End the reservation when the plot is on its drive with exactly its size (``observed_size``, None when
        the final file is missing); FailedPrecondition otherwise, and the reservation stays.

        When the last probe of that drive (in ``drives``) listed rsync temp files of the plot, its remaining ones
        (of a transfer that died before this one) are then down for removal. Only then: a look at the drive per
        Complete is not free, and a temp file too young for the last probe is left to the next start (``recover``).
        """
        with self._lock:
            r = self.get(reservation_id)
            if observed_size is None:
                raise FailedPrecondition(f"plot {r.plot_name}: not on {r.drive} under its final name (yet)")
            if observed_size != r.size_bytes:
                raise FailedPrecondition(
                    f"plot {r.plot_name} on {r.drive}: {observed_size} bytes, reserved for {r.size_bytes}"
                )
            del self._by_id[r.id]
            landed = _Landed(r.drive, r.plot_name, r.size_bytes, self._monotonic())
            self._landed.append(landed)
            previous = self._removals.get(r.plot_name, r.drive)
            if any(d.path == r.drive and _has_temp(d, r.plot_name) for d in drives):
                self._removals.book(r.plot_name, r.drive, keep_final=True)
            self._version += 1
            if undo is not None:

                def revert() -> None:
                    with self._lock:
                        if self._put_back(r.id, None, r):
                            self._landed = [ld for ld in self._landed if ld is not landed]
                            self._removals.restore(r.plot_name, r.drive, previous)

                undo.append(revert)
            return r

    def release(self, reservation_id: str, *, undo: Undo | None = None) -> Reservation:
        """Abandon a reservation (also one whose lease ran out but was not swept yet); the caller cleans its files
        (keeping the plot if it is whole, see removals.py)."""
        check_id(reservation_id)
        with self._lock:
            r = self._by_id.get(reservation_id)
            if r is None:
                raise NotFound(f"reservation {reservation_id}: unknown (completed, released or expired)")
            self._end(r, undo)
            self._version += 1
            return r

    def _end(self, r: Reservation, undo: Undo | None) -> None:
        """Drop ``r`` (ended without a Complete) and book the removal of its partial files."""
        del self._by_id[r.id]
        previous = self._removals.get(r.plot_name, r.drive)
        self._removals.book(r.plot_name, r.drive, keep_final=False, size_bytes=r.size_bytes, since=r.create_time)
        if undo is not None:

            def revert() -> None:
                with self._lock:
                    if self._put_back(r.id, None, r):
                        self._removals.restore(r.plot_name, r.drive, previous)

            undo.append(revert)

    def expire(self, *, undo: Undo | None = None) -> list[Reservation]:
        """Remove and return every reservation whose lease ran out; the caller cleans their files (as release)."""
        with self._lock:
            now = self._clock()
            gone = [r for r in self._by_id.values() if r.expire_time <= now]
            for r in gone:
                self._end(r, undo)
            if gone:
                self._version += 1
            return gone

    # --- removals (see the module doc) -------------------------------------------------------------------------

    def removal(self, plot_name: str, drive: str) -> Removal | None:
        """What is to be removed of ``plot_name`` on ``drive``, if anything."""
        with self._lock:
            return self._removals.get(plot_name, drive)

    def removals(self) -> list[Removal]:
        with self._lock:
            return self._removals.all()

    def removal_done(self, plot_name: str, drive: str, *, kept: bool = False) -> None:
        """The files are gone: the plot may be placed on that drive again, by a probe of it that began after now.
        ``kept``: the file under the final name was the plot, whole, and stayed: it is archived there, and counts as
        landed now (until a probe that began after now has seen it)."""
        with self._lock:
            now = self._monotonic()
            rm = self._removals.done(plot_name, drive, now, kept=kept)
            if kept and rm is not None and not rm.keep_final:
                self._landed.append(_Landed(drive, plot_name, rm.size_bytes, now))

    def removal_failed(self, plot_name: str, drive: str) -> Removal | None:
        """The attempt failed: the plot stays off that drive, and the removal is due again after a delay."""
        with self._lock:
            return self._removals.failed(plot_name, drive, self._monotonic())

    def removals_due(self) -> list[Removal]:
        """Failed removals whose delay is over, marked running: the caller attempts each again."""
        with self._lock:
            return self._removals.due(self._monotonic())

    def extend_all(self) -> None:
        """After a restart: give every restored reservation at least one lease from now (plotters could not renew
        while the agent was down)."""
        with self._lock:
            floor = self._clock() + self.rules.lease_s
            for rid, r in list(self._by_id.items()):
                self._by_id[rid] = replace(r, expire_time=max(r.expire_time, floor))
            self._version += 1

    def recover(self, drives: Sequence[DriveInfo]) -> Recovery:
        """At start, after the reservations were restored: look at the rsync temp files and final files on the drives.

        - A temp file of a plot no reservation covers, on a drive where that plot's final file is: a stale leftover
          (the plot is archived there). Its temp files are down for removal (``stale``), never the final file; a
          recovered reservation would expire and remove the archived plot with them.
        - Any other temp file of a plot no reservation covers: a transfer in flight the ledger forgot. It becomes a
          reservation by ``recovered`` sized at the expected size for its k (never less than what is written),
          lasting one lease: if nobody completes it, it expires and its partials are removed (``held``).
        - A restored reservation whose plot is already on its drive, whole (exactly its size): the plotter may still
          complete it; but the state file may also be older than a Complete already answered (a failed save), and
          then the plotter may have deleted its copy. Reported (``whole``, for the log) and nothing more: if such a
          reservation ends without a Complete, its removal keeps the whole plot like every removal does (decided
          when it runs, so a drive whose first probe failed is no exception).
        """
        with self._lock:
            known = {r.plot_name for r in self._by_id.values()}
            now = self._clock()
            by_path = {d.path: d for d in drives}
            whole: list[Reservation] = []
            for r in self.reservations():
                d = by_path.get(r.drive)
                if d is not None and d.plot_sizes.get(r.plot_name) == r.size_bytes:
                    whole.append(r)
            stale: list[Removal] = []
            unknown: list[tuple[DriveInfo, str]] = []
            for d in drives:
                for temp in d.temp_files:
                    name = temp_plot(temp)
                    if name is None or name in known:
                        continue
                    if name not in d.plots:
                        unknown.append((d, name))
                    elif self._removals.get(name, d.path) is None:
                        stale.append(self._removals.book(name, d.path, keep_final=True))
            held: list[Reservation] = []
            for d, name in unknown:
                if name in known:
                    continue
                try:
                    k = parse_plot_name(name).k
                except InvalidArgument:
                    continue
                size = min(max(expected_plot_size(k), d.written.get(name, 0)), max_plot_size(k))
                r = Reservation(self._new_id(), name, size, RECOVERED, d.path, now, now + self.rules.lease_s)
                self._by_id[r.id] = r
                known.add(r.plot_name)
                held.append(r)
            if held:
                self._version += 1
            return Recovery(held, stale, whole)
