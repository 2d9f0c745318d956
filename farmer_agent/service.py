"""gRPC servicer of the farmer agent: converts messages to domain values, calls the domain, maps errors (plotboss.rpc).

Servicer methods raise plotboss.errors types (mapped to status codes by ``handle_errors``) and never abort by hand.
"""

from __future__ import annotations

import socket

import grpc

from farmer_agent.drives import DriveState
from farmer_agent.farmer import DriveView, Farmer
from farmer_agent.reservation import Reservation
from plotboss import __version__
from plotboss.rpc import handle_errors, to_timestamp
from plotboss.v1 import common_pb2, farmer_pb2, farmer_pb2_grpc

STATE_TO_PB = {
    DriveState.OK: farmer_pb2.DRIVE_STATE_OK,
    DriveState.FULL: farmer_pb2.DRIVE_STATE_FULL,
    DriveState.MISSING: farmer_pb2.DRIVE_STATE_MISSING,
    DriveState.READ_ONLY: farmer_pb2.DRIVE_STATE_READ_ONLY,
    DriveState.ERROR: farmer_pb2.DRIVE_STATE_ERROR,
}


def agent_info(name: str) -> common_pb2.AgentInfo:
    return common_pb2.AgentInfo(name=name, version=__version__, hostname=socket.gethostname())


def drive_pb(v: DriveView, min_free: int = 0) -> farmer_pb2.Drive:
    d = v.info
    return farmer_pb2.Drive(
        path=d.path,
        total_bytes=d.total_bytes,
        free_bytes=max(0, d.free_bytes),
        reserved_bytes=max(0, v.reserved_bytes),
        plot_count=d.plot_count,
        plot_bytes=d.plot_bytes,
        state=STATE_TO_PB[v.state],
        error=v.error,
        writers=v.writers,
        rsync_url=v.rsync_url,
        probe_time=to_timestamp(d.probe_time) if d.probe_time else None,
        min_free_bytes=min_free,
    )


def reservation_pb(r: Reservation, url: str) -> farmer_pb2.Reservation:
    return farmer_pb2.Reservation(
        id=r.id,
        plot_name=r.plot_name,
        size_bytes=r.size_bytes,
        requester=r.requester,
        drive_path=r.drive,
        rsync_url=url,
        create_time=to_timestamp(r.create_time),
        expire_time=to_timestamp(r.expire_time),
    )


class FarmerServicer(farmer_pb2_grpc.FarmerServiceServicer):
    def __init__(self, farmer: Farmer, name: str) -> None:
        self._farmer = farmer
        self._info = agent_info(name)
        self._user = farmer.rsyncd.user or ""

    def _res(self, r: Reservation) -> farmer_pb2.Reservation:
        return reservation_pb(r, self._farmer.url(r.drive))

    @handle_errors
    def ListDrives(
        self, request: farmer_pb2.ListDrivesRequest, context: grpc.ServicerContext
    ) -> farmer_pb2.ListDrivesResponse:
        floor = self._farmer.ledger.rules.min_free_bytes
        return farmer_pb2.ListDrivesResponse(
            agent=self._info, drives=[drive_pb(v, floor) for v in self._farmer.drives()]
        )

    @handle_errors
    def Reserve(self, request: farmer_pb2.ReserveRequest, context: grpc.ServicerContext) -> farmer_pb2.ReserveResponse:
        r = self._farmer.reserve(request.plot_name, request.size_bytes, request.requester, tuple(request.avoid_drives))
        return farmer_pb2.ReserveResponse(reservation=self._res(r), rsync_user=self._user)

    @handle_errors
    def Renew(self, request: farmer_pb2.RenewRequest, context: grpc.ServicerContext) -> farmer_pb2.RenewResponse:
        return farmer_pb2.RenewResponse(reservation=self._res(self._farmer.renew(request.reservation_id)))

    @handle_errors
    def Complete(
        self, request: farmer_pb2.CompleteRequest, context: grpc.ServicerContext
    ) -> farmer_pb2.CompleteResponse:
        path, r = self._farmer.complete(request.reservation_id)
        return farmer_pb2.CompleteResponse(plot_path=path, size_bytes=r.size_bytes)

    @handle_errors
    def Release(self, request: farmer_pb2.ReleaseRequest, context: grpc.ServicerContext) -> farmer_pb2.ReleaseResponse:
        return farmer_pb2.ReleaseResponse(removed_files=self._farmer.release(request.reservation_id))

    @handle_errors
    def ListReservations(
        self, request: farmer_pb2.ListReservationsRequest, context: grpc.ServicerContext
    ) -> farmer_pb2.ListReservationsResponse:
        rows = [self._res(r) for r in self._farmer.reservations()]
        return farmer_pb2.ListReservationsResponse(agent=self._info, reservations=rows)

    @handle_errors
    def ConfirmPlot(
        self, request: farmer_pb2.ConfirmPlotRequest, context: grpc.ServicerContext
    ) -> farmer_pb2.ConfirmPlotResponse:
        path = self._farmer.confirm_plot(request.plot_name, request.size_bytes)
        return farmer_pb2.ConfirmPlotResponse(plot_path=path, size_bytes=request.size_bytes)
