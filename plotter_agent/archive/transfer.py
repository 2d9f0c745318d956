"""One transfer as the archiver tracks it (its own push, or one found again after a restart), the settings the
archiver runs by, and how a transfer shows in the status."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from plotter_agent.archive.lease import LeaseKeeper
from plotter_agent.archive.outcome import OutcomeRules
from plotter_agent.archive.records import SourceId
from plotter_agent.archive.source import SourceRules
from plotter_agent.archive.status import TransferOutcomeName, TransferView
from plotter_agent.archive.watchdog import Mark, StallRules
from plotter_agent.rsync_runner import RsyncTransfer

#: pushing: rsync runs; resume: waiting to push again on the kept reservation; complete: waiting to ask Complete again
Phase = Literal["pushing", "resume", "complete"]


@dataclass(frozen=True)
class Settings:
    #: this plotter's agent name (the requester of its reservations)
    requester: str
    #: logging.transfers: the push logs, the archiver's record
    log_dir: str
    #: the configured dst dirs (where a recovered log's plot is looked for)
    dst_dirs: tuple[str, ...] = ()
    max_concurrent: int = 1
    source_rules: SourceRules = field(default_factory=SourceRules)
    outcome_rules: OutcomeRules = field(default_factory=OutcomeRules)
    #: farmer keys, preferred first
    priority: tuple[str, ...] = ()
    polling_time_s: float = 5.0
    password: str | None = None
    bwlimit_kbps: int = 0
    io_timeout_s: int = 60
    connect_timeout_s: int = 20
    rsync: str = "rsync"
    #: where the pause is kept (None: not kept)
    state_path: Path | None = None
    recent_max: int = 20
    #: the watchdog over pushes that stop moving (``watchdog``)
    stall_rules: StallRules = field(default_factory=StallRules)
    #: handled transfer logs older than this are removed (None: kept forever)
    log_retention_s: float | None = 14 * 86400.0


@dataclass
class Transfer:
    plot_name: str
    source: str
    dst_dir: str
    #: the farmer's key ("" when not known: a recovered push whose reservation no farmer lists)
    farmer: str
    drive: str
    reservation_id: str
    size_bytes: int
    start_time: float
    log_file: str
    recovered: bool = False
    run: RsyncTransfer | None = None
    #: the rsync pid of an adopted push (we are not its parent), or of our last run
    pid: int | None = None
    keeper: LeaseKeeper | None = None
    #: the source file when the push began (it is deleted only if it is still this file)
    ident: SourceId | None = None
    phase: Phase = "pushing"
    wait_until: float = 0.0
    note: str = ""
    #: resume runs already made on this reservation
    resumes: int = 0
    extra: dict[str, str] = field(default_factory=dict)
    #: the watchdog's last mark of this run's progress counter
    stall_mark: Mark | None = None
    #: why the watchdog killed this run ('' when it did not)
    stalled: str = ""

    @property
    def lost(self) -> bool:
        return self.keeper is not None and self.keeper.lost


def find_source(dst_dirs: tuple[str, ...], plot_name: str) -> str:
    """The path of ``plot_name`` in the first dst dir that has it ('' when none)."""
    for d in dst_dirs:
        p = os.path.join(d, plot_name)
        if os.path.lexists(p):
            return p
    return ""


def view_of(
    t: Transfer,
    farmer_name: str,
    *,
    outcome: TransferOutcomeName = "in_progress",
    end_time: float | None = None,
    error: str = "",
    next_step: str = "",
) -> TransferView:
    p = t.run.progress if t.run is not None else None
    done = outcome == "done"
    return TransferView(
        plot_name=t.plot_name,
        source_path=t.source,
        dst_dir=t.dst_dir,
        farmer=farmer_name,
        drive_path=t.drive,
        reservation_id=t.reservation_id,
        size_bytes=t.size_bytes,
        transferred_bytes=t.size_bytes if done else (p.bytes if p is not None else 0),
        rate_bytes_per_s=p.rate_bps if p is not None else 0.0,
        eta_s=p.eta_s if p is not None and outcome == "in_progress" and t.phase == "pushing" else None,
        start_time=t.start_time,
        end_time=end_time,
        outcome=outcome,
        error=error,
        next_step=next_step or (t.note if outcome == "in_progress" else ""),
        recovered=t.recovered,
    )
