"""The plotter's typed client of a farmer agent: frozen dataclasses in and out, the project's error tree for every
failure, so the archiver never sees grpc or ``*_pb2`` (this is the one module on the plotter side that does).

Status codes become errors as ``plotboss.rpc`` maps them the other way (INVALID_ARGUMENT -> InvalidArgument,
NOT_FOUND -> NotFound, ALREADY_EXISTS -> AlreadyExists, FAILED_PRECONDITION -> FailedPrecondition,
RESOURCE_EXHAUSTED -> InsufficientSpace, ABORTED -> Conflict, UNAUTHENTICATED, PERMISSION_DENIED); UNAVAILABLE and
DEADLINE_EXCEEDED (and anything else) become :class:`FarmerUnavailable`: the farmer could not be asked, try later.

A Reserve refused with ALREADY_EXISTS raises :class:`PlotAlreadyThere`, which says whether the plot is *reserved*
(a transfer of it is in force, perhaps our own from before a restart), *archived* (completed through this farmer)
or *present* (a file under its final name on a drive). The farmer's API says this only in the status message
(farmer_agent/ledger.py), so the kind is read from that text; the integration test pins the texts against a real
farmer. A plot it holds is confirmed whole (exact size, Complete's checks) by ``confirm_plot`` (ConfirmPlot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import grpc

from plotboss import errors
from plotboss.config import ClientTlsConfig
from plotboss.rpc import from_timestamp
from plotboss.transport import dial
from plotboss.v1 import farmer_pb2, farmer_pb2_grpc

DriveStateName = Literal["unspecified", "ok", "full", "missing", "read_only", "error"]

_STATE: dict[int, DriveStateName] = {
    farmer_pb2.DRIVE_STATE_UNSPECIFIED: "unspecified",
    farmer_pb2.DRIVE_STATE_OK: "ok",
    farmer_pb2.DRIVE_STATE_FULL: "full",
    farmer_pb2.DRIVE_STATE_MISSING: "missing",
    farmer_pb2.DRIVE_STATE_READ_ONLY: "read_only",
    farmer_pb2.DRIVE_STATE_ERROR: "error",
}


class FarmerUnavailable(errors.PlotbossError):
    """The farmer could not be asked (not listening, timed out, broke off): nothing is known to have changed."""


class PlotAlreadyThere(errors.AlreadyExists):
    """Reserve refused: the farmer has the plot already.

    ``kind``: ``reserved`` (a reservation of it is in force on ``drive``), ``archived`` (a Complete of it was
    answered OK on ``drive``) or ``present`` (a file under its final name is on ``drive``; its size is NOT confirmed
    by this answer: a plotter deletes its source only after ``FarmerClient.confirm_plot`` says OK — invariant 2).
    """

    def __init__(self, message: str, kind: Literal["reserved", "archived", "present", "unknown"], drive: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.drive = drive


_ALREADY = (
    (re.compile(r"already reserved on (?P<drive>.+?) \(reservation"), "reserved"),
    (re.compile(r"already archived on (?P<drive>.+)$"), "archived"),
    (re.compile(r"already on (?P<drive>.+)$"), "present"),
)


def already_there(message: str) -> PlotAlreadyThere:
    for rx, kind in _ALREADY:
        m = rx.search(message)
        if m is not None:
            return PlotAlreadyThere(message, kind, m["drive"])  # type: ignore[arg-type]
    return PlotAlreadyThere(message, "unknown", "")


_ERROR_OF: dict[grpc.StatusCode, type[errors.PlotbossError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.InsufficientSpace,
    grpc.StatusCode.ABORTED: errors.Conflict,
    grpc.StatusCode.UNAUTHENTICATED: errors.Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
}


def error_of(err: grpc.RpcError, address: str, method: str) -> errors.PlotbossError:
    """The error-tree exception for a failed call (the message names the farmer and the call)."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = (err.details() if hasattr(err, "details") else "") or ""
    text = f"farmer {address}: {method}: {details or code.name}"
    if code == grpc.StatusCode.ALREADY_EXISTS and method == "Reserve":
        found = already_there(details)
        return PlotAlreadyThere(text, found.kind, found.drive)
    cls = _ERROR_OF.get(code, FarmerUnavailable)
    if cls is FarmerUnavailable:
        text = f"farmer {address}: {method}: {code.name}: {details}"
    return cls(text)


@dataclass(frozen=True)
class FarmerDrive:
    path: str
    total_bytes: int
    free_bytes: int
    reserved_bytes: int
    plot_count: int
    plot_bytes: int
    state: DriveStateName
    error: str
    writers: int
    rsync_url: str
    probe_time: float | None
    #: the free space the farmer keeps on this drive (0 from a farmer that does not say)
    min_free_bytes: int = 0


@dataclass(frozen=True)
class DriveList:
    farmer_name: str
    drives: tuple[FarmerDrive, ...]


@dataclass(frozen=True)
class Reservation:
    id: str
    plot_name: str
    size_bytes: int
    requester: str
    drive_path: str
    rsync_url: str
    create_time: float
    expire_time: float
    #: the rsync daemon user the farmer names ("" when its module has none); only Reserve answers it
    rsync_user: str = ""


@dataclass(frozen=True)
class Completed:
    plot_path: str
    size_bytes: int


def _drive(d: farmer_pb2.Drive) -> FarmerDrive:
    return FarmerDrive(
        path=d.path,
        total_bytes=d.total_bytes,
        free_bytes=d.free_bytes,
        reserved_bytes=d.reserved_bytes,
        plot_count=d.plot_count,
        plot_bytes=d.plot_bytes,
        state=_STATE.get(d.state, "unspecified"),
        error=d.error,
        writers=d.writers,
        rsync_url=d.rsync_url,
        probe_time=from_timestamp(d.probe_time) if d.HasField("probe_time") else None,
        min_free_bytes=d.min_free_bytes,
    )


def _reservation(r: farmer_pb2.Reservation, rsync_user: str = "") -> Reservation:
    return Reservation(
        id=r.id,
        plot_name=r.plot_name,
        size_bytes=r.size_bytes,
        requester=r.requester,
        drive_path=r.drive_path,
        rsync_url=r.rsync_url,
        create_time=from_timestamp(r.create_time),
        expire_time=from_timestamp(r.expire_time),
        rsync_user=rsync_user,
    )


class FarmerClient:
    """One farmer agent at ``address``. Every method raises only PlotbossError subclasses (see the module doc)."""

    def __init__(
        self, address: str, *, token: str | None = None, tls: ClientTlsConfig | None = None, timeout_s: float = 10.0
    ) -> None:
        self.address = address
        self._channel = dial(address, token=token, tls=tls, timeout_s=timeout_s)  # ConfigError when malformed
        self._stub = farmer_pb2_grpc.FarmerServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> FarmerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def list_drives(self) -> DriveList:
        try:
            resp = self._stub.ListDrives(farmer_pb2.ListDrivesRequest())
        except grpc.RpcError as e:
            raise error_of(e, self.address, "ListDrives") from None
        return DriveList(resp.agent.name, tuple(_drive(d) for d in resp.drives))

    def reserve(
        self, plot_name: str, size_bytes: int, requester: str, avoid_drives: tuple[str, ...] = ()
    ) -> Reservation:
        req = farmer_pb2.ReserveRequest(
            plot_name=plot_name, size_bytes=size_bytes, requester=requester, avoid_drives=list(avoid_drives)
        )
        try:
            resp = self._stub.Reserve(req)
        except grpc.RpcError as e:
            raise error_of(e, self.address, "Reserve") from None
        return _reservation(resp.reservation, resp.rsync_user)

    def renew(self, reservation_id: str) -> Reservation:
        try:
            resp = self._stub.Renew(farmer_pb2.RenewRequest(reservation_id=reservation_id))
        except grpc.RpcError as e:
            raise error_of(e, self.address, "Renew") from None
        return _reservation(resp.reservation)

    def complete(self, reservation_id: str) -> Completed:
        try:
            resp = self._stub.Complete(farmer_pb2.CompleteRequest(reservation_id=reservation_id))
        except grpc.RpcError as e:
            raise error_of(e, self.address, "Complete") from None
        return Completed(resp.plot_path, resp.size_bytes)

    def release(self, reservation_id: str) -> tuple[str, ...]:
        """Abandon the reservation; the partial/temp files the farmer removed."""
        try:
            resp = self._stub.Release(farmer_pb2.ReleaseRequest(reservation_id=reservation_id))
        except grpc.RpcError as e:
            raise error_of(e, self.address, "Release") from None
        return tuple(resp.removed_files)

    def list_reservations(self) -> tuple[Reservation, ...]:
        """The reservations in force (a restarted plotter finds its own by requester or id)."""
        try:
            resp = self._stub.ListReservations(farmer_pb2.ListReservationsRequest())
        except grpc.RpcError as e:
            raise error_of(e, self.address, "ListReservations") from None
        return tuple(_reservation(r) for r in resp.reservations)

    def confirm_plot(self, plot_name: str, size_bytes: int) -> Completed:
        """That the farmer holds the plot whole (exactly ``size_bytes``, Complete's checks) without a reservation:
        NotFound (not there), FailedPrecondition (there, but not that plot whole), FarmerUnavailable (also a farmer
        too old to have the call: UNIMPLEMENTED)."""
        req = farmer_pb2.ConfirmPlotRequest(plot_name=plot_name, size_bytes=size_bytes)
        try:
            resp = self._stub.ConfirmPlot(req)
        except grpc.RpcError as e:
            raise error_of(e, self.address, "ConfirmPlot") from None
        return Completed(resp.plot_path, resp.size_bytes)
