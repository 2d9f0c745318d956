"""The removals the ledger has booked: files of one plot on one drive that are to go. Pure (no I/O, no clock: times
are given), and not locked: the ledger calls it under its own lock.

A removal is booked when a reservation ends without a Complete (release, expiry: the partial files of its transfer),
when a Complete finds rsync temp files of an earlier, dead transfer of that plot on its drive, and at start for stale
temp files next to an archived plot (those two: the temp files only, never the file under the final name). The farmer
runs it (the I/O) and reports back.

Whole plots are kept. A reservation that ends without a Complete books its ``size_bytes``: its removal, when it runs,
keeps a file under the final name that is a regular file of exactly that size (the plot landed whole) and removes only
the temp files then; a final-name file of another size is a partial (rsync --partial) and goes, if it was written under
that reservation (changed since it began, ``since``): a file that was there before is never this removal's
(plotfiles.remove_partials). Decided when the removal runs, from the drive itself, for every reservation: the plotter
may have had its Complete answered before a state save was lost (a restored reservation: the plotter then deleted its
copy, and no probe at start has to see the plot for it to be kept), or crashed between its push and its Complete (it
deletes its copy only after a Complete, so keeping a whole plot costs nothing and never loses one). Until the removal
reports, such a booking counts the reservation's bytes the probe has not seen on the drive (the plot may stay); if the
removal kept it, the ledger counts it on as a landed plot.

While a removal is booked, that plot is not placed on *that* drive (another drive may take it): a late removal would
delete the new transfer's temp file, and a leftover temp file would be credited as the new transfer's progress. A
removal that failed stays booked and blocking, and is due again after a growing delay (1 s, doubling up to a minute).

When the farmer reports a removal done, the plot is still refused on that drive for any probe of it that started at
or before that moment (``DriveInfo.probe_mono`` against the monotonic time of the report): the unlink may have landed
between that probe's listing and its statvfs, so that probe lists a file that is gone (it would be credited as the
new transfer's progress) while its free figure already has those bytes back: the drive would be promised them twice.
A probe that listed the drive after that moment ends the refusal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from farmer_agent.drives import DriveInfo

#: the longest wait between two attempts at a removal that keeps failing
MAX_RETRY_S = 60.0


@dataclass(frozen=True)
class Removal:
    """Files of one plot on one drive that are to go; while it exists, that plot is not placed on that drive."""

    plot_name: str
    drive: str
    #: True: only the rsync temp files (the file under the final name is an archived plot); False: the partial
    #: files of an abandoned transfer, including one under the final name (rsync --partial) unless it is whole
    keep_final: bool
    #: keep_final False: the ended reservation's size; a regular file of exactly this size under the final name is the
    #: plot, whole, and is kept
    size_bytes: int = 0
    #: keep_final False: wall-clock time the ended reservation began; a final-name file not changed since is left
    since: float = 0.0
    #: the farmer is removing them now (False: the last attempt failed; due again at ``retry_at``)
    running: bool = True
    failures: int = 0
    #: monotonic time of the next attempt after a failure
    retry_at: float = 0.0


class Removals:
    def __init__(self) -> None:
        self._booked: dict[tuple[str, str], Removal] = {}
        #: (plot, drive) -> (monotonic time the removal was reported done, whether it removed the file under the final
        #: name), until a probe of that drive started after that time has listed it
        self._finished: dict[tuple[str, str], tuple[float, bool]] = {}

    def book(self, plot_name: str, drive: str, *, keep_final: bool, size_bytes: int = 0, since: float = 0.0) -> Removal:
        """Book (or widen) the removal of ``plot_name``'s files on ``drive``: a partial-files removal (of a reservation
        of ``size_bytes`` that began at ``since``) wins over a temp-files-only one."""
        old = self._booked.get((plot_name, drive))
        if old is not None and not old.keep_final and keep_final:
            keep_final, size_bytes, since = False, old.size_bytes, old.since
        if keep_final:
            size_bytes, since = 0, 0.0
        rm = self._booked[(plot_name, drive)] = Removal(plot_name, drive, keep_final, size_bytes, since)
        return rm

    def restore(self, plot_name: str, drive: str, previous: Removal | None) -> None:
        """Undo a ``book`` whose change could not be saved (it has not run): the booking is ``previous`` again."""
        if previous is None:
            self._booked.pop((plot_name, drive), None)
        else:
            self._booked[(plot_name, drive)] = previous

    def get(self, plot_name: str, drive: str) -> Removal | None:
        return self._booked.get((plot_name, drive))

    def all(self) -> list[Removal]:
        return sorted(self._booked.values(), key=lambda rm: (rm.drive, rm.plot_name))

    def refusal(self, plot_name: str, info: DriveInfo) -> str | None:
        """Why ``plot_name`` may not be placed on the drive ``info`` shows, as far as removals go; None when it may."""
        if (plot_name, info.path) in self._booked:
            return "files of an earlier transfer of this plot are still being removed here"
        fin = self._finished.get((plot_name, info.path))
        if fin is not None and info.probe_mono <= fin[0]:
            return "files of an earlier transfer of this plot were removed after this probe began (try again)"
        return None

    def pending_bytes(self, info: DriveInfo) -> int:
        """Bytes of ended reservations whose removal has not reported yet, not seen on the drive by ``info``: the
        plot may be whole and kept (see the module doc)."""
        return sum(
            max(0, info.allocated(rm.size_bytes) - info.allocated(info.written.get(rm.plot_name, 0)))
            for rm in self._booked.values()
            if rm.drive == info.path and not rm.keep_final
        )

    def removes_final(self, plot_name: str, info: DriveInfo) -> bool:
        """True when the file under the final name that ``info`` lists for ``plot_name`` is a partial being (or just)
        removed, not an archived plot (nor a whole one the removal keeps)."""
        rm = self._booked.get((plot_name, info.path))
        if rm is not None:
            return not rm.keep_final and info.plot_sizes.get(plot_name) != rm.size_bytes
        fin = self._finished.get((plot_name, info.path))
        return fin is not None and info.probe_mono <= fin[0] and fin[1]

    def done(self, plot_name: str, drive: str, now: float, *, kept: bool) -> Removal | None:
        """The files are gone (reported at monotonic ``now``; ``kept``: the final file was whole and stayed): the
        booking ends; probes of that drive older than ``now`` still do not place the plot there (see the module doc)."""
        rm = self._booked.pop((plot_name, drive), None)
        if rm is not None:
            self._finished[(plot_name, drive)] = (now, not rm.keep_final and not kept)
        return rm

    def seen(self, info: DriveInfo) -> None:
        """``info`` listed its drive: removals that were done before that probe began refuse nothing any more."""
        for key in [k for k, (at, _) in self._finished.items() if k[1] == info.path and at < info.probe_mono]:
            del self._finished[key]

    def failed(self, plot_name: str, drive: str, now: float) -> Removal | None:
        """The attempt failed (at monotonic ``now``): the booking stays, due again after a growing delay."""
        rm = self._booked.get((plot_name, drive))
        if rm is None:
            return None
        delay = min(MAX_RETRY_S, 2.0**rm.failures)
        rm = replace(rm, running=False, failures=rm.failures + 1, retry_at=now + delay)
        self._booked[(plot_name, drive)] = rm
        return rm

    def due(self, now: float) -> list[Removal]:
        """Failed removals whose delay is over at monotonic ``now``, marked running (the caller attempts each)."""
        due = [replace(rm, running=True) for rm in self._booked.values() if not rm.running and rm.retry_at <= now]
        for rm in due:
            self._booked[(rm.plot_name, rm.drive)] = rm
        return sorted(due, key=lambda rm: (rm.drive, rm.plot_name))
