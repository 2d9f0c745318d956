"""The archiver's farmers: one client per configured farmer (made through a seam), each one's last ListDrives answer
and its reachability (``farmers.record_reachability``: a farmer that does not answer is asked again after a doubling
back-off), and the per-pass look-ups a recovering archiver needs (whose reservation is this id, who holds this plot).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from plotboss import errors
from plotter_agent.archive.farmers import FarmerRules, FarmerView, Reachability, due, record_reachability, room
from plotter_agent.archive.status import FarmerReach
from plotter_agent.farmer_client import Completed, DriveList, FarmerUnavailable, Reservation

log = logging.getLogger(__name__)


class FarmerApi(Protocol):
    """What the archiver asks of a farmer (``farmer_client.FarmerClient``)."""

    address: str

    def list_drives(self) -> DriveList: ...

    def reserve(
        self, plot_name: str, size_bytes: int, requester: str, avoid_drives: tuple[str, ...] = ()
    ) -> Reservation: ...

    def renew(self, reservation_id: str) -> Reservation: ...

    def complete(self, reservation_id: str) -> Completed: ...

    def release(self, reservation_id: str) -> tuple[str, ...]: ...

    def list_reservations(self) -> tuple[Reservation, ...]: ...

    def confirm_plot(self, plot_name: str, size_bytes: int) -> Completed: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Target:
    #: how the archiver names it (config name, else address)
    key: str
    address: str
    connect: Callable[[], FarmerApi]


@dataclass
class Link:
    target: Target
    client: FarmerApi | None = None
    listed_name: str = ""
    view: FarmerView | None = None
    reach: Reachability = field(default_factory=Reachability)
    unreachable_since: float | None = None
    #: when ListDrives was last asked (None: never)
    asked_at: float | None = None
    #: this pass's ListReservations answer (None: not asked yet this pass)
    reservations: tuple[Reservation, ...] | None = None


def endpoint(url: str) -> tuple[str, str]:
    """(host, port) of ``rsync://[user@]host[:port]/...`` (port '' when not given); ('', '') when not such a URL."""
    if not url.startswith("rsync://"):
        return "", ""
    head = url.removeprefix("rsync://").partition("/")[0].rpartition("@")[2]
    if head.startswith("["):  # [v6]:port
        host, _, rest = head[1:].partition("]")
        return host, rest.removeprefix(":")
    host, _, port = head.partition(":")
    return host, port


def describe(e: Exception) -> str:
    return str(e) or type(e).__name__


class Links:
    def __init__(self, targets: Sequence[Target], rules: FarmerRules | None = None) -> None:
        self.links = {t.key: Link(t) for t in targets}
        self._lock = threading.Lock()
        self.rules = rules or FarmerRules()

    @property
    def keys(self) -> list[str]:
        return list(self.links)

    def client(self, key: str) -> FarmerApi:
        link = self.links[key]
        with self._lock:  # lease keepers ask from their own threads
            if link.client is None:
                link.client = link.target.connect()
            return link.client

    def reset(self, key: str) -> None:
        """Drop the farmer's client: the next call connects again (and reads a local credential again)."""
        link = self.links[key]
        with self._lock:
            client, link.client = link.client, None
        if client is not None:
            client.close()

    def renewer(self, key: str) -> Callable[[str], Reservation]:
        """Renew through the farmer's current client (a lease keeper outlives a client dropped after a refused
        credential)."""

        def renew(reservation_id: str) -> Reservation:
            try:
                return self.client(key).renew(reservation_id)
            except errors.Unauthenticated:
                self.reset(key)
                raise

        return renew

    def display(self, key: str) -> str:
        link = self.links.get(key)
        if link is None:
            return key
        return key if key != link.target.address else (link.listed_name or key)

    def farmer_of_url(self, url: str) -> str:
        """The key of the farmer a push's rsync URL goes to, when only one fits ('' otherwise): the farmer whose
        drives (its last ListDrives) are served at that URL's host:port; else the only farmer at that host."""
        host, port = endpoint(url)
        if not host:
            return ""
        by_drive = {
            key
            for key, link in self.links.items()
            if link.view is not None and any(endpoint(d.rsync_url) == (host, port) for d in link.view.drives or ())
        }
        if len(by_drive) == 1:
            return by_drive.pop()
        if by_drive:
            return ""
        by_host = [k for k, link in self.links.items() if link.target.address.rpartition(":")[0].strip("[]") == host]
        return by_host[0] if len(by_host) == 1 else ""

    def failed(self, key: str, now: float, error: str, exc: Exception | None = None) -> None:
        """A call to the farmer failed: back off. A refused credential drops the client, so the next one reads the
        token again (a farmer's local credential changes when it restarts)."""
        link = self.links[key]
        if isinstance(exc, errors.Unauthenticated):
            self.reset(key)
        link.reach = record_reachability(link.reach, False, now, error, self.rules)
        if link.unreachable_since is None:
            link.unreachable_since = now
            log.warning("farmer %s unreachable: %s", key, error)

    def answered(self, key: str) -> None:
        link = self.links[key]
        if link.unreachable_since is not None:
            log.info("farmer %s reachable again", key)
        link.reach = Reachability()
        link.unreachable_since = None

    def begin_pass(self) -> None:
        for link in self.links.values():
            link.reservations = None

    def refresh(self, now: float, max_age_s: float = 0.0) -> list[FarmerView]:
        """Ask every farmer that is due (not backing off, and not asked within ``max_age_s``) for its drives; the
        views of all (an unreachable one: drives None)."""
        reach = {k: link.reach for k, link in self.links.items()}
        for key in due(self.keys, reach, now):
            link = self.links[key]
            if link.asked_at is not None and now - link.asked_at < max_age_s:
                continue
            link.asked_at = now
            try:
                listed = self.client(key).list_drives()
            except errors.PlotbossError as e:
                self.failed(key, now, describe(e), e)
                link.view = FarmerView(key, None, describe(e))
                continue
            self.answered(key)
            link.listed_name = listed.farmer_name
            link.view = FarmerView(key, listed.drives)
        return [link.view or FarmerView(key, None, "not asked yet") for key, link in self.links.items()]

    def reachability(self) -> dict[str, Reachability]:
        return {k: link.reach for k, link in self.links.items()}

    def reservations_of(self, key: str, now: float) -> tuple[Reservation, ...] | None:
        """The farmer's reservations in force, asked once per pass (None: it did not answer)."""
        link = self.links[key]
        if link.reservations is None:
            if link.reach.retry_at > now:
                return None
            try:
                link.reservations = self.client(key).list_reservations()
            except errors.PlotbossError as e:
                self.failed(key, now, describe(e), e)
                return None
            self.answered(key)
        return link.reservations

    def find_reservation(self, reservation_id: str, now: float) -> tuple[str, Reservation | None, bool]:
        """(farmer, reservation) holding ``reservation_id``; ('', None, all_answered) when none has it."""
        all_answered = True
        for key in self.keys:
            rows = self.reservations_of(key, now)
            if rows is None:
                all_answered = False
                continue
            for r in rows:
                if r.id == reservation_id:
                    return key, r, True
        return "", None, all_answered

    def confirm_anywhere(
        self, plot_name: str, size_bytes: int, now: float, only: Sequence[str] | None = None
    ) -> tuple[str, Completed | None, bool, str]:
        """(farmer, confirmation) of the first farmer that holds the plot whole; ('', None, all_answered, why) when
        none does (``all_answered`` False when a farmer could not be asked; ``why`` the refusals)."""
        why: list[str] = []
        all_answered = True
        for key in only if only is not None else self.keys:
            link = self.links[key]
            if link.reach.retry_at > now:
                all_answered = False
                continue
            try:
                done = self.client(key).confirm_plot(plot_name, size_bytes)
            except errors.NotFound:
                continue
            except errors.FailedPrecondition as e:
                why.append(describe(e))
                continue
            except FarmerUnavailable as e:
                if "UNIMPLEMENTED" in str(e):  # a farmer older than ConfirmPlot: it cannot say
                    all_answered = False
                    continue
                self.failed(key, now, describe(e), e)
                all_answered = False
                continue
            except (errors.Unauthenticated, errors.PermissionDenied) as e:
                self.failed(key, now, describe(e), e)
                all_answered = False
                continue
            except errors.PlotbossError as e:  # it answered: not that plot whole
                why.append(describe(e))
                continue
            return key, done, True, ""
        return "", None, all_answered, "; ".join(why)

    def status(self) -> tuple[FarmerReach, ...]:
        out = []
        for key, link in self.links.items():
            drives = link.view.drives if link.view is not None else None
            reachable = link.unreachable_since is None and drives is not None
            usable = [d for d in drives or () if d.state in ("ok", "full")]
            out.append(
                FarmerReach(
                    name=self.display(key),
                    address=link.target.address,
                    reachable=reachable,
                    error=link.reach.last_error if link.unreachable_since is not None else "",
                    unreachable_since=link.unreachable_since,
                    next_try_time=link.reach.retry_at if link.unreachable_since is not None else None,
                    drives=len(drives or ()),
                    room_bytes=sum(room(d) for d in usable),
                )
            )
        return tuple(out)

    def close(self) -> None:
        for link in self.links.values():
            if link.client is not None:
                try:
                    link.client.close()
                except Exception:  # closing a channel must never stop the agent's shutdown
                    log.debug("closing the client of %s failed", link.target.key, exc_info=True)
                link.client = None
