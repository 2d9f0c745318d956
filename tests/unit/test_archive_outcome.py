"""next_step after each outcome (a table), rsync faults from exit status and stderr, back-off growth and cap."""

from __future__ import annotations

import pytest

from plotter_agent.archive.outcome import (
    Attempt,
    Complete,
    Delete,
    Fault,
    GiveUp,
    Kind,
    Outcome,
    OutcomeRules,
    Park,
    Retry,
    RetryComplete,
    Step,
    TryNext,
    backoff,
    classify,
    consecutive_failures,
    next_step,
)
from plotter_agent.rsync_runner import RsyncResult
from testbed.clock import VirtualClock

F, D = "farmer-01", "/mnt/farm/d0"
WHERE = (F, D)


def rsync(rc: int | None, *stderr: str, sig: int | None = None) -> RsyncResult:
    return RsyncResult(rc, sig, tuple(stderr), None, 1.0, ("rsync",))


# stderr as rsync 3.5 printed it when a 3 MiB tmpfs behind the module filled up (tests/integration/test_rsync_runner)
NO_SPACE = (
    'rsync: [receiver] write failed on "/d0/plot-k18-x.plot" (in plots): No space left on device (28)',
    "rsync error: error in file IO (code 11) at receiver.c(657) [receiver=3.5.0]",
    "rsync error: error in file IO (code 11) at io.c(1892) [sender=3.5.0]",
    "rsync error: error in file IO (code 11) at io.c(1892) [generator=3.5.0]",
    "rsync: [sender] read error: Connection reset by peer (104)",
)


@pytest.mark.parametrize(
    ("result", "stopped", "fault"),
    [
        (
            rsync(
                5, "@ERROR: auth failed on module plots", "rsync error: error starting client-server protocol (code 5)"
            ),
            False,
            Fault.AUTH,
        ),
        (rsync(5, "@ERROR: Unknown module 'nosuch'"), False, Fault.AUTH),
        (
            rsync(10, "rsync: failed to connect to 127.0.0.1 (127.0.0.1): Connection refused (111)"),
            False,
            Fault.SOCKET_IO,
        ),
        (  # the daemon killed mid-push: the same exit code, a broken connection, not a refusal
            rsync(
                10,
                "rsync: [sender] read error: Connection reset by peer (104)",
                "rsync error: error in socket IO (code 10) at io.c(806) [sender=3.2.7]",
            ),
            False,
            Fault.SOCKET_IO,
        ),
        (rsync(35, "rsync error: timeout waiting for daemon connection (code 35)"), False, Fault.CONNECT_TIMEOUT),
        (rsync(30, "[sender] io timeout after 60 seconds -- exiting"), False, Fault.IO_TIMEOUT),
        (rsync(23, "rsync error: some files/attrs were not transferred (code 23)"), False, Fault.PARTIAL),
        (rsync(24, 'file has vanished: "/mnt/dst/plot-k32-x.plot"'), False, Fault.VANISHED),
        (rsync(11, *NO_SPACE), False, Fault.DISK_FULL),
        (rsync(12, "rsync: [receiver] write failed: No space left on device (28)"), False, Fault.DISK_FULL),
        (rsync(11, *NO_SPACE[1:]), False, Fault.DISK_FULL),  # the receiver failed, whatever the sender adds
        (
            rsync(11, 'rsync: [sender] read errors mapping "/mnt/dst/x.plot": Input/output error (5)'),
            False,
            Fault.SOURCE_IO,
        ),
        (
            rsync(12, "rsync: connection unexpectedly closed (0 bytes received so far) [sender]"),
            False,
            Fault.CONNECTION_LOST,
        ),
        (rsync(None, sig=9), False, Fault.KILLED),
        (rsync(None, sig=15), True, Fault.STOPPED),
        (rsync(2, "rsync error: protocol incompatibility (code 2)"), False, Fault.OTHER),
    ],
)
def test_classify(result: RsyncResult, stopped: bool, fault: Fault) -> None:
    assert classify(result, stopped_by_us=stopped) == fault


def failed(fault: Fault, farmer: str = F, drive: str = D) -> Outcome:
    return Outcome(Kind.PUSH_FAILED, farmer, drive, fault, "detail")


# the first failure of a plot (empty history): base_s = 10 s
TABLE: list[tuple[Outcome, Step]] = [
    (Outcome(Kind.PUSHED, F, D), Complete()),
    (Outcome(Kind.COMPLETED, F, D), Delete()),
    (failed(Fault.AUTH), Retry(10.0, "rsync auth: detail", avoid_farmer=F, avoid_for_s=10.0)),
    (
        failed(Fault.SOCKET_IO),
        Retry(10.0, "rsync socket I/O error (connection refused or broken): detail", avoid_farmer=F, avoid_for_s=10.0),
    ),
    (failed(Fault.CONNECT_TIMEOUT), Retry(10.0, "rsync connect_timeout: detail", avoid_farmer=F, avoid_for_s=10.0)),
    (failed(Fault.CONNECTION_LOST), Retry(10.0, "rsync connection_lost: detail", avoid_farmer=F, avoid_for_s=10.0)),
    (failed(Fault.DISK_FULL), Retry(10.0, "rsync disk_full: detail", avoid_drive=WHERE, avoid_for_s=10.0)),
    (failed(Fault.OTHER), Retry(10.0, "rsync other: detail", avoid_drive=WHERE, avoid_for_s=10.0)),
    (failed(Fault.SOURCE_IO), Retry(10.0, "rsync source_io: detail")),
    (failed(Fault.PARTIAL), Retry(10.0, "rsync partial: detail", release=False, resume=True)),
    (failed(Fault.IO_TIMEOUT), Retry(10.0, "rsync io_timeout: detail", release=False, resume=True)),
    (failed(Fault.KILLED), Retry(10.0, "rsync killed: detail", release=False, resume=True)),
    (failed(Fault.STALLED), Retry(10.0, "rsync stalled: detail", release=False, resume=True)),
    (failed(Fault.VANISHED), GiveUp("the source vanished during the push: detail")),
    (failed(Fault.STOPPED), Retry(0.0, "stopped by the agent")),
    (
        Outcome(Kind.COMPLETE_REFUSED, F, D, detail="size 5 differs"),
        Retry(10.0, "Complete refused: size 5 differs", avoid_drive=WHERE, avoid_for_s=10.0),
    ),
    (
        Outcome(Kind.COMPLETE_LOST, F, D, detail="unknown reservation"),
        Retry(10.0, "the reservation ended before Complete: unknown reservation", release=False),
    ),
    (
        Outcome(Kind.COMPLETE_UNREACHABLE, F, D, detail="UNAVAILABLE"),
        RetryComplete(10.0, f"{F} did not answer Complete: UNAVAILABLE"),
    ),
    (Outcome(Kind.RESERVE_REFUSED, F, detail="no drive can take it"), TryNext(f"{F}: no drive can take it")),
    (Outcome(Kind.RESERVE_UNREACHABLE, F, detail="UNAVAILABLE"), TryNext(f"{F}: UNAVAILABLE")),
    (
        Outcome(Kind.ALREADY_HELD, F, D, detail="archived"),
        Park(600.0, f"{F} already has it (archived); not sent again, kept here"),
    ),
]


@pytest.mark.parametrize(("outcome", "step"), TABLE, ids=[f"{o.kind}-{o.fault}" for o, _ in TABLE])
def test_step_after_each_outcome(outcome: Outcome, step: Step) -> None:
    assert next_step(outcome, [], 1000.0) == step


def test_backoff_grows_and_is_capped() -> None:
    rules = OutcomeRules(base_s=10.0, cap_s=300.0)
    assert [backoff(n, rules) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]
    clock = VirtualClock(0.0)
    history: list[Attempt] = []
    waits = []
    for _ in range(7):
        step = next_step(failed(Fault.DISK_FULL), history, clock(), rules)
        assert isinstance(step, Retry)
        waits.append(step.after_s)
        history.append(Attempt(clock(), failed(Fault.DISK_FULL)))
        clock.advance(step.after_s)
    assert waits == [10, 20, 40, 80, 160, 300, 300]


def test_old_failures_are_forgotten_and_a_success_or_stop_resets_or_keeps_the_run() -> None:
    rules = OutcomeRules(forget_after_s=3600.0)
    old = [Attempt(0.0, failed(Fault.OTHER)), Attempt(10.0, failed(Fault.OTHER))]
    assert consecutive_failures(old, 100.0, rules) == 2
    assert consecutive_failures(old, 3605.0, rules) == 1  # the attempt at 0 s is over an hour ago, not the one at 10
    assert consecutive_failures(old, 10_000.0, rules) == 0
    reset = [*old, Attempt(20.0, Outcome(Kind.PUSHED, F, D))]
    assert consecutive_failures(reset, 100.0, rules) == 0
    stopped = [*old, Attempt(20.0, failed(Fault.STOPPED))]
    assert consecutive_failures(stopped, 100.0, rules) == 2
    # a stop by us gives no back-off even after failures
    assert next_step(failed(Fault.STOPPED), old, 100.0, rules) == Retry(0.0, "stopped by the agent")


def test_a_second_same_drive_failure_moves_away_from_that_drive() -> None:
    first = [Attempt(0.0, failed(Fault.IO_TIMEOUT))]
    step = next_step(failed(Fault.KILLED), first, 10.0)
    assert step == Retry(
        20.0, "rsync killed: detail (twice in a row on this drive)", avoid_drive=WHERE, avoid_for_s=20.0
    )
    # the earlier timeout was on another drive: resume here
    other = [Attempt(0.0, failed(Fault.IO_TIMEOUT, drive="/mnt/farm/d1"))]
    step = next_step(failed(Fault.KILLED), other, 10.0)
    assert isinstance(step, Retry) and step.resume and not step.release and step.after_s == 10.0
    # resumes come quickly even late in a run of failures (the reservation is kept meanwhile)
    many = [Attempt(float(i), failed(Fault.DISK_FULL)) for i in range(5)]
    step = next_step(failed(Fault.PARTIAL), many, 10.0)
    assert isinstance(step, Retry) and step.resume and step.after_s == 10.0


def test_max_attempts_gives_up_and_leaves_the_plot() -> None:
    rules = OutcomeRules(max_attempts=3)
    history = [Attempt(float(i), failed(Fault.OTHER)) for i in range(2)]
    assert next_step(failed(Fault.AUTH), history, 10.0, rules) == GiveUp("3 failed attempts; last: detail")
    assert isinstance(next_step(failed(Fault.AUTH), history[:1], 10.0, rules), Retry)
    # success steps are never given up
    assert next_step(Outcome(Kind.COMPLETED, F, D), history * 5, 10.0, rules) == Delete()
