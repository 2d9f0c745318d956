"""What the archiver shows: plain values the agent loop fills in and the gRPC servicer converts (the contract between
``plotter_agent.archive.runner`` and ``plotter_agent.service``). No I/O here.

Times are wall-clock seconds since the epoch (the agent's injected clock), sizes in bytes, durations in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

ArchiverStateName = Literal["running", "paused", "disabled"]
#: in_progress: pushing or waiting for Complete; done: confirmed by the farmer and the source deleted;
#: failed: the attempt ended without a confirmed copy (the source is kept; ``error`` says why)
TransferOutcomeName = Literal["in_progress", "done", "failed"]


@dataclass(frozen=True)
class TransferView:
    plot_name: str
    source_path: str
    #: the dst dir the plot is read from
    dst_dir: str
    #: the farmer's name (its ListDrives agent name, else its configured address)
    farmer: str
    drive_path: str
    reservation_id: str
    size_bytes: int
    transferred_bytes: int
    rate_bytes_per_s: float
    #: seconds left (None: unknown, or finished)
    eta_s: float | None
    start_time: float
    end_time: float | None
    outcome: TransferOutcomeName
    #: for a failed attempt: the fault, rsync's exit code and last stderr lines, or the farmer's status message
    error: str = ""
    #: the step the archiver took after this outcome ("retry in 20 s on another drive", "deleted the source", ...)
    next_step: str = ""
    #: found again in the process table after an agent restart (not started by this run of the agent)
    recovered: bool = False


@dataclass(frozen=True)
class DirWaiting:
    """One dst dir as the source choice sees it."""

    path: str
    #: complete plots that may be sent now
    plots_waiting: int
    bytes_waiting: int
    #: the priority score (higher is read from first)
    score: float
    #: transfers reading from it now
    readers: int
    #: why no plot is taken from it now ("" when one can be)
    skipped: str = ""


@dataclass(frozen=True)
class FarmerReach:
    """One configured farmer as the archiver last saw it."""

    name: str
    address: str
    reachable: bool
    #: the last error talking to it ("" when reachable)
    error: str = ""
    #: when it was first seen unreachable in the current run of failures (None: reachable)
    unreachable_since: float | None = None
    #: when it will be asked again (None: at the next pass)
    next_try_time: float | None = None
    drives: int = 0
    #: free minus reserved over its usable drives, as last listed
    room_bytes: int = 0


@dataclass(frozen=True)
class ArchiveStatus:
    state: ArchiverStateName
    #: why no transfer is starting now, when none is ("no complete plot in dst", "all farmers full", "paused")
    reason: str
    active: tuple[TransferView, ...]
    #: the latest finished attempts, newest first
    recent: tuple[TransferView, ...]
    dirs: tuple[DirWaiting, ...]
    farmers: tuple[FarmerReach, ...]
    max_concurrent_transfers: int
    #: plots confirmed by a farmer and deleted here since the agent started, and their bytes
    archived_plots: int = 0
    archived_bytes: int = 0
    #: the time of the archiver's last pass (None: none yet)
    pass_time: float | None = None


class ArchiverControl(Protocol):
    """What the servicer needs of the archiver."""

    def status(self) -> ArchiveStatus: ...

    def pause(self) -> ArchiveStatus: ...

    def resume(self) -> ArchiveStatus: ...
