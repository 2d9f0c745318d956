"""plotboss.loop.PeriodicLoop on a virtual clock, and once on real threads to see a stop wake it promptly."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from plotboss.loop import PeriodicLoop, Waiter
from testbed.clock import VirtualClock


def virtual_waiter(clock: VirtualClock, stop: threading.Event, waits: list[float]) -> Waiter:
    def wait(timeout: float) -> bool:
        waits.append(timeout)
        clock.advance(timeout)
        return stop.is_set()

    return wait


def test_calls_every_interval_start_to_start_and_stops() -> None:
    clock = VirtualClock(100.0)
    stop = threading.Event()
    waits: list[float] = []
    times: list[float] = []

    def work() -> None:
        times.append(clock())
        clock.advance(2.0)  # each call takes 2 s of the 5 s period
        if len(times) == 4:
            stop.set()

    loop = PeriodicLoop("t", work, 5.0, clock=clock, stop_event=stop, waiter=virtual_waiter(clock, stop, waits))
    loop.run()
    assert times == [100.0, 105.0, 110.0, 115.0]
    assert waits == [3.0, 3.0, 3.0]  # the fourth call set stop: no wait after it
    assert (loop.calls, loop.failures) == (4, 0)


def test_a_slow_call_is_followed_at_once_without_catch_up_burst() -> None:
    clock = VirtualClock(0.0)
    stop = threading.Event()
    waits: list[float] = []
    durations = iter([12.0, 1.0, 1.0])
    times: list[float] = []

    def work() -> None:
        times.append(clock())
        clock.advance(next(durations))
        if len(times) == 3:
            stop.set()

    PeriodicLoop("t", work, 5.0, clock=clock, stop_event=stop, waiter=virtual_waiter(clock, stop, waits)).run()
    assert times == [0.0, 12.0, 17.0]
    assert waits == [0.0, 4.0]


def test_exceptions_are_logged_counted_and_survived(caplog: pytest.LogCaptureFixture) -> None:
    clock = VirtualClock(0.0)
    stop = threading.Event()
    n = {"calls": 0}

    def work() -> None:
        n["calls"] += 1
        if n["calls"] == 3:
            stop.set()
        if n["calls"] < 3:
            raise OSError(f"disk gone {n['calls']}")

    loop = PeriodicLoop("prober", work, 1.0, clock=clock, stop_event=stop, waiter=virtual_waiter(clock, stop, []))
    with caplog.at_level(logging.ERROR, logger="plotboss.loop"):
        loop.run()
    assert (loop.calls, loop.failures) == (3, 2)
    assert loop.last_error == "OSError: disk gone 2"
    assert [r.exc_info is not None for r in caplog.records] == [True, True]
    assert "loop prober: call 1 failed" in caplog.records[0].getMessage()


def test_stop_before_run_calls_nothing_and_bad_interval_is_refused() -> None:
    called: list[int] = []
    loop = PeriodicLoop("t", lambda: called.append(1), 1.0)
    loop.stop()
    loop.run()
    assert called == []
    with pytest.raises(ValueError, match="interval_s"):
        PeriodicLoop("t", lambda: None, 0)


def test_stop_wakes_a_real_thread_waiting_a_long_interval() -> None:
    calls = threading.Event()
    loop = PeriodicLoop("real", calls.set, 3600.0)
    loop.start()
    assert calls.wait(5.0)
    t0 = time.monotonic()
    assert loop.stop(timeout_s=5.0)
    assert time.monotonic() - t0 < 2.0  # the hour-long wait was cut short by the stop event
    with pytest.raises(RuntimeError, match="already started"):
        loop.start()
