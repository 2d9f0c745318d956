"""The archiver's status as gRPC messages: ``plotter_agent.archive.status`` values -> ``plotter_pb2`` (conversion only;
the servicer in ``plotter_agent.service`` delegates here, the archiver itself never sees a message)."""

from __future__ import annotations

from plotboss.rpc import to_duration, to_timestamp
from plotboss.v1 import plotter_pb2
from plotter_agent.archive.status import ArchiverStateName, ArchiveStatus, DirWaiting, FarmerReach, TransferView

ARCHIVER_STATE: dict[ArchiverStateName, plotter_pb2.ArchiverState] = {
    "running": plotter_pb2.ARCHIVER_STATE_RUNNING,
    "paused": plotter_pb2.ARCHIVER_STATE_PAUSED,
    "disabled": plotter_pb2.ARCHIVER_STATE_DISABLED,
}
TRANSFER_OUTCOME: dict[str, plotter_pb2.TransferOutcome] = {
    "in_progress": plotter_pb2.TRANSFER_OUTCOME_IN_PROGRESS,
    "done": plotter_pb2.TRANSFER_OUTCOME_DONE,
    "failed": plotter_pb2.TRANSFER_OUTCOME_FAILED,
}
#: What GetArchiveStatus says for an agent without an archiver (PlotterServicer(archiver=None)).
DISABLED_REASON = "disabled: no farmers configured (archiving.farmers), plots stay in the dst dirs"

_U32, _U64 = 2**32 - 1, 2**64 - 1


def _u(value: float, top: int) -> int:
    """A count or size for an unsigned field: rounded, never negative, never past the field's range."""
    return min(top, max(0, round(value)))


def transfer_message(t: TransferView) -> plotter_pb2.Transfer:
    msg = plotter_pb2.Transfer(
        plot_name=t.plot_name,
        source_path=t.source_path,
        dst_dir=t.dst_dir,
        farmer=t.farmer,
        drive_path=t.drive_path,
        reservation_id=t.reservation_id,
        size_bytes=_u(t.size_bytes, _U64),
        transferred_bytes=_u(t.transferred_bytes, _U64),
        rate_bytes_per_s=_u(t.rate_bytes_per_s, _U64),
        start_time=to_timestamp(t.start_time),
        end_time=to_timestamp(t.end_time),
        outcome=TRANSFER_OUTCOME.get(t.outcome, plotter_pb2.TRANSFER_OUTCOME_UNSPECIFIED),
        error=t.error,
        next_step=t.next_step,
        recovered=t.recovered,
    )
    eta = to_duration(max(0.0, t.eta_s)) if t.eta_s is not None else None
    if eta is not None:
        msg.eta.CopyFrom(eta)
    return msg


def dir_waiting_message(d: DirWaiting) -> plotter_pb2.ArchiveDir:
    return plotter_pb2.ArchiveDir(
        path=d.path,
        plots_waiting=_u(d.plots_waiting, _U32),
        bytes_waiting=_u(d.bytes_waiting, _U64),
        score=d.score,
        readers=_u(d.readers, _U32),
        skipped=d.skipped,
    )


def farmer_reach_message(f: FarmerReach) -> plotter_pb2.ArchiveFarmer:
    return plotter_pb2.ArchiveFarmer(
        name=f.name,
        address=f.address,
        reachable=f.reachable,
        error=f.error,
        unreachable_since_time=to_timestamp(f.unreachable_since),
        next_try_time=to_timestamp(f.next_try_time),
        drives=_u(f.drives, _U32),
        room_bytes=_u(f.room_bytes, _U64),
    )


def archive_status_message(st: ArchiveStatus) -> plotter_pb2.GetArchiveStatusResponse:
    return plotter_pb2.GetArchiveStatusResponse(
        state=ARCHIVER_STATE.get(st.state, plotter_pb2.ARCHIVER_STATE_UNSPECIFIED),
        reason=st.reason,
        active=[transfer_message(t) for t in st.active],
        recent=[transfer_message(t) for t in st.recent],
        dirs=[dir_waiting_message(d) for d in st.dirs],
        farmers=[farmer_reach_message(f) for f in st.farmers],
        max_concurrent_transfers=_u(st.max_concurrent_transfers, _U32),
        archived_plots=_u(st.archived_plots, _U64),
        archived_bytes=_u(st.archived_bytes, _U64),
        pass_time=to_timestamp(st.pass_time),
    )


def disabled_status_message() -> plotter_pb2.GetArchiveStatusResponse:
    return plotter_pb2.GetArchiveStatusResponse(state=plotter_pb2.ARCHIVER_STATE_DISABLED, reason=DISABLED_REASON)
