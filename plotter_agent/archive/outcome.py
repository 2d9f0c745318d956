"""What to do after each step of an archive attempt: a pure decision over the outcome, this plot's history of
attempts, and ``now``.

An attempt is Reserve -> rsync push -> Complete -> delete the source. Each outcome maps to one step:

=================================  ===========================================================================
outcome                            step
=================================  ===========================================================================
rsync exit 0                       ``Complete`` (ask the farmer to confirm; the source stays until it does)
Complete OK                        ``Delete`` the source (only now: invariant 2)
rsync 5 (auth failed, unknown      ``Retry``: Release, avoid that *farmer* (its module or our password is wrong)
module)
rsync 10 (socket I/O error: the    ``Retry``: Release, avoid that *farmer* (its rsync daemon is not there, or
connection refused or broken),     it went away mid-push)
35 (connect timeout), 12 without
"no space" (connection lost)
rsync 11/12 with "No space left",  ``Retry``: Release, avoid that *drive* (it held less than it claimed)
11 on the receiver
rsync 11 on the sender             ``Retry``: Release, no avoid (reading our own dst disk failed; try later)
rsync 23 (partial), 30 (I/O        ``Retry`` on the same drive: keep the reservation (renew it), resume from the
timeout), killed by a signal       partial dir; the second such failure in a row on that drive: Release, avoid it
we did not send, stalled (killed
by the archiver's watchdog)
rsync 24 (source vanished)         ``GiveUp``: Release (the plot is gone from the dst dir: nothing to send)
stopped by us (pause, shutdown)    ``Retry`` after 0 s: Release, no avoid, no back-off growth
other rsync exits                  ``Retry``: Release, avoid that drive
Complete FAILED_PRECONDITION       ``Retry``: Release, avoid that drive (the file is missing or of another size)
Complete NOT_FOUND                 ``Retry``: the reservation expired; nothing to release (see ``Park`` below)
Complete unreachable               ``RetryComplete``: keep the reservation and the source, ask again later
Reserve RESOURCE_EXHAUSTED,        ``TryNext`` farmer now (``farmers.choose_farmer``'s fall-back order)
ABORTED, farmer unreachable
Reserve ALREADY_EXISTS             ``Park``: never send it twice; the source stays (see below)
=================================  ===========================================================================

Back-off grows with the plot's consecutive failures (those within ``forget_after_s`` of ``now``): ``base_s * 2**(n-1)``
up to ``cap_s``; avoiding a farmer or drive
lasts as long. A plot some farmer already holds is parked, not deleted: the farmer's API cannot confirm the size of
a plot it holds without a reservation (``farmer_client.PlotAlreadyThere``), and a source is deleted only after such
a confirmation. ``max_attempts`` (None: never) turns a plot that keeps failing into ``GiveUp``: it stays where it is.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from plotter_agent.rsync_runner import RsyncResult


class Fault(enum.StrEnum):
    AUTH = "auth"  # rc 5
    #: rc 10: rsync's "error in socket IO": the daemon refused the connection, or a connection broke mid-push (the
    #: daemon was killed or restarted)
    SOCKET_IO = "socket_io"
    CONNECT_TIMEOUT = "connect_timeout"  # rc 35
    CONNECTION_LOST = "connection_lost"  # rc 12 without "no space"
    DISK_FULL = "disk_full"  # "No space left on device", rc 11 on the receiver
    SOURCE_IO = "source_io"  # rc 11 on the sender
    PARTIAL = "partial"  # rc 23
    IO_TIMEOUT = "io_timeout"  # rc 30
    KILLED = "killed"  # a signal we did not send
    #: killed by the archiver's watchdog: no progress for its stall time (``watchdog``)
    STALLED = "stalled"
    VANISHED = "vanished"  # rc 24
    STOPPED = "stopped"  # we stopped it
    OTHER = "other"


#: how a fault reads in a step's reason where its value alone would mislead
FAULT_TEXT = {Fault.SOCKET_IO: "socket I/O error (connection refused or broken)"}


def fault_text(fault: Fault) -> str:
    return FAULT_TEXT.get(fault, fault.value)


def classify(result: RsyncResult, *, stopped_by_us: bool = False) -> Fault:
    """The fault an rsync that did not succeed shows, from its exit status, signal and last stderr lines."""
    text = "\n".join(result.stderr_tail)
    if stopped_by_us:
        return Fault.STOPPED
    if result.signal is not None:
        return Fault.KILLED
    rc = result.returncode
    if "No space left on device" in text or "Disk quota exceeded" in text:
        return Fault.DISK_FULL
    if rc == 5:
        return Fault.AUTH
    if rc == 10:
        return Fault.SOCKET_IO
    if rc == 35:
        return Fault.CONNECT_TIMEOUT
    if rc == 12:
        return Fault.CONNECTION_LOST
    if rc == 11:
        return Fault.SOURCE_IO if _sender_read_error(result.stderr_tail) else Fault.DISK_FULL
    if rc == 23:
        return Fault.PARTIAL
    if rc == 30:
        return Fault.IO_TIMEOUT
    if rc == 24:
        return Fault.VANISHED
    return Fault.OTHER


def _sender_read_error(lines: Sequence[str]) -> bool:
    """rsync names the side a message comes from (``rsync: [sender] ...``); every side's final ``rsync error:``
    line carries ``[sender=3.x]`` whoever failed, so only the sender's own complaint about reading counts."""
    if any(line.startswith(("rsync: [receiver]", "rsync: [generator]")) for line in lines):
        return False
    return any(
        line.startswith("rsync: [sender]") and ("mapping" in line or "failed to open" in line or "Input/output" in line)
        for line in lines
    )


class Kind(enum.StrEnum):
    PUSHED = "pushed"
    PUSH_FAILED = "push_failed"
    COMPLETED = "completed"
    COMPLETE_REFUSED = "complete_refused"  # FAILED_PRECONDITION
    COMPLETE_LOST = "complete_lost"  # NOT_FOUND: the reservation is gone
    COMPLETE_UNREACHABLE = "complete_unreachable"
    RESERVE_REFUSED = "reserve_refused"  # RESOURCE_EXHAUSTED / ABORTED
    RESERVE_UNREACHABLE = "reserve_unreachable"
    ALREADY_HELD = "already_held"  # ALREADY_EXISTS


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    farmer: str = ""
    drive: str = ""
    fault: Fault | None = None
    #: what the farmer or rsync said (exit code and last stderr lines, the status message)
    detail: str = ""


@dataclass(frozen=True)
class Attempt:
    """One earlier outcome for this plot (the history ``next_step`` reads)."""

    at: float
    outcome: Outcome


@dataclass(frozen=True)
class OutcomeRules:
    base_s: float = 10.0
    cap_s: float = 600.0
    max_attempts: int | None = None
    #: failures longer ago than this are forgotten (a plot that failed yesterday starts from base_s again)
    forget_after_s: float = 3600.0


@dataclass(frozen=True)
class Complete:
    """Ask the farmer to Complete the reservation now."""


@dataclass(frozen=True)
class Delete:
    """The farmer confirmed the plot: delete the source."""


@dataclass(frozen=True)
class Retry:
    after_s: float
    reason: str
    #: Release the reservation first (False: keep it, renewing, and push again to the same drive)
    release: bool = True
    #: resume from the partial dir (same drive only)
    resume: bool = False
    avoid_farmer: str | None = None
    #: (farmer, drive path)
    avoid_drive: tuple[str, str] | None = None
    avoid_for_s: float = 0.0


@dataclass(frozen=True)
class RetryComplete:
    after_s: float
    reason: str


@dataclass(frozen=True)
class TryNext:
    reason: str


@dataclass(frozen=True)
class Park:
    """Leave the plot where it is and do not send it; look again after ``after_s``."""

    after_s: float
    reason: str


@dataclass(frozen=True)
class GiveUp:
    reason: str
    release: bool = True


Step = Complete | Delete | Retry | RetryComplete | TryNext | Park | GiveUp

_FAILURES = frozenset({Kind.PUSH_FAILED, Kind.COMPLETE_REFUSED, Kind.COMPLETE_LOST, Kind.COMPLETE_UNREACHABLE})
_SAME_DRIVE = frozenset({Fault.PARTIAL, Fault.IO_TIMEOUT, Fault.KILLED, Fault.STALLED})
_FARMER_AT_FAULT = frozenset({Fault.AUTH, Fault.SOCKET_IO, Fault.CONNECT_TIMEOUT, Fault.CONNECTION_LOST})


def consecutive_failures(history: Sequence[Attempt], now: float, rules: OutcomeRules = OutcomeRules()) -> int:
    """Failed outcomes at the end of the history within ``forget_after_s`` of ``now`` (a stop by us neither counts
    nor breaks the run)."""
    n = 0
    for a in reversed(history):
        if a.at < now - rules.forget_after_s:
            break
        if a.outcome.fault == Fault.STOPPED:
            continue
        if a.outcome.kind not in _FAILURES:
            break
        n += 1
    return n


def backoff(failures: int, rules: OutcomeRules) -> float:
    return min(rules.cap_s, rules.base_s * float(2 ** max(0, failures - 1)))


def next_step(outcome: Outcome, history: Sequence[Attempt], now: float, rules: OutcomeRules = OutcomeRules()) -> Step:
    """The step after ``outcome``; ``history`` is this plot's earlier outcomes, oldest first, not including this one."""
    k = outcome.kind
    if k == Kind.PUSHED:
        return Complete()
    if k == Kind.COMPLETED:
        return Delete()
    if k in (Kind.RESERVE_REFUSED, Kind.RESERVE_UNREACHABLE):
        return TryNext(f"{outcome.farmer}: {outcome.detail or k.value}")
    failures = consecutive_failures(history, now, rules) + 1
    wait = backoff(failures, rules)
    if k == Kind.ALREADY_HELD:
        return Park(rules.cap_s, f"{outcome.farmer} already has it ({outcome.detail}); not sent again, kept here")
    if outcome.fault == Fault.STOPPED:
        return Retry(0.0, "stopped by the agent")
    if rules.max_attempts is not None and failures >= rules.max_attempts:
        return GiveUp(f"{failures} failed attempts; last: {outcome.detail or outcome.fault or k.value}")
    where = (outcome.farmer, outcome.drive)
    if k == Kind.COMPLETE_UNREACHABLE:
        return RetryComplete(wait, f"{outcome.farmer} did not answer Complete: {outcome.detail}")
    if k == Kind.COMPLETE_REFUSED:
        return Retry(wait, f"Complete refused: {outcome.detail}", avoid_drive=where, avoid_for_s=wait)
    if k == Kind.COMPLETE_LOST:
        return Retry(wait, f"the reservation ended before Complete: {outcome.detail}", release=False)
    fault = outcome.fault or Fault.OTHER
    reason = f"rsync {fault_text(fault)}: {outcome.detail}"
    if fault == Fault.VANISHED:
        return GiveUp(f"the source vanished during the push: {outcome.detail}")
    if fault in _FARMER_AT_FAULT:
        return Retry(wait, reason, avoid_farmer=outcome.farmer, avoid_for_s=wait)
    if fault == Fault.SOURCE_IO:
        return Retry(wait, reason)
    if fault in _SAME_DRIVE:
        last = history[-1].outcome if history else None
        again = last is not None and last.fault in _SAME_DRIVE and (last.farmer, last.drive) == where
        if not again:
            return Retry(min(wait, rules.base_s), reason, release=False, resume=True)
        return Retry(wait, reason + " (twice in a row on this drive)", avoid_drive=where, avoid_for_s=wait)
    # DISK_FULL, OTHER: that drive
    return Retry(wait, reason, avoid_drive=where, avoid_for_s=wait)
