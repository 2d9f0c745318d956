"""fan_out's hard bound: a call that does not return (a fault no real agent shows, since the gRPC deadline ends real
calls; here a call function that blocks) becomes an error row after --timeout plus the margin."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from cli import targets
from cli.targets import Target, fan_out


def test_a_call_that_never_returns_is_abandoned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets, "FAN_OUT_MARGIN_S", 0.3)
    release = threading.Event()
    fleet = [Target("plotter", f"plotter-0{i}", "127.0.0.1:1", None, None) for i in (1, 2, 3)]

    lock = threading.Lock()
    calls: list[grpc.Channel] = []

    def fn(ch: grpc.Channel) -> str:
        with lock:
            calls.append(ch)
            second = len(calls) == 2
        if second:
            release.wait(30)  # the second call blocks past every deadline
        return "answer"

    t0 = time.monotonic()
    try:
        outcomes = fan_out(fleet, 0.2, fn)
    finally:
        release.set()
    took = time.monotonic() - t0
    assert took < 3.0, took
    assert sorted(str((o.value, o.error)) for o in outcomes) == sorted(
        str(pair)
        for pair in (
            ("answer", None),
            ("answer", None),
            (None, "no answer before the deadline (--timeout); call abandoned"),
        )
    )
    assert [o.target.name for o in outcomes] == ["plotter-01", "plotter-02", "plotter-03"]
