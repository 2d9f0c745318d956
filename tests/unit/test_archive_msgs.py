"""The archiver's status as messages (plotter_agent.archive_msgs) and the servicer's archive RPCs over the
ArchiverControl seam (an in-process fake archiver; the view, controller and scheduler are not touched by them)."""

from __future__ import annotations

import dataclasses
from typing import Any, NoReturn

import grpc
import pytest

from plotboss.rpc import from_duration, from_timestamp
from plotboss.v1 import plotter_pb2
from plotter_agent.archive_msgs import DISABLED_REASON, archive_status_message
from plotter_agent.service import PlotterServicer
from tests.archfake import NOW, PLOT_A, PLOT_B, PLOT_C, FakeArchiver, sample_status


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code, self.details = code, details


class Context:
    """What handle_errors needs of a servicer context: abort raises."""

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise Aborted(code, details)


def servicer(archiver: Any) -> PlotterServicer:
    return PlotterServicer("plotter-01", None, None, None, archiver)  # type: ignore[arg-type]


def test_every_field_of_the_status_reaches_the_message() -> None:
    msg = archive_status_message(sample_status())
    assert msg.state == plotter_pb2.ARCHIVER_STATE_RUNNING
    assert msg.reason == "max_concurrent_transfers (1) reached"
    assert (msg.max_concurrent_transfers, msg.archived_plots, msg.archived_bytes) == (1, 1, 14_000_000)
    assert from_timestamp(msg.pass_time) == pytest.approx(NOW - 1)
    (a,) = msg.active
    assert (a.plot_name, a.dst_dir, a.farmer, a.drive_path, a.reservation_id) == (
        PLOT_A,
        "/mnt/dst/00",
        "farmer-01",
        "/mnt/farm/d1",
        "r-0001",
    )
    assert (a.size_bytes, a.transferred_bytes, a.rate_bytes_per_s) == (14_000_000, 5_600_000, 1_048_576)
    assert a.outcome == plotter_pb2.TRANSFER_OUTCOME_IN_PROGRESS and not a.HasField("end_time")
    assert from_duration(a.eta) == 8.0 and from_timestamp(a.start_time) == pytest.approx(NOW - 5)
    failed, done = msg.recent
    assert failed.plot_name == PLOT_B and failed.outcome == plotter_pb2.TRANSFER_OUTCOME_FAILED
    assert failed.error.startswith("rsync exit 10") and failed.next_step == "retry in 20 s on another farmer"
    assert not failed.HasField("eta") and from_timestamp(failed.end_time) == pytest.approx(NOW - 100)
    assert done.plot_name == PLOT_C and done.outcome == plotter_pb2.TRANSFER_OUTCOME_DONE and done.recovered
    assert [(d.path, d.plots_waiting, d.bytes_waiting, d.score, d.readers, d.skipped) for d in msg.dirs] == [
        ("/mnt/dst/00", 2, 28_000_000, 1.5, 1, "busy"),
        ("/mnt/dst/01", 1, 14_000_000, 0.75, 0, ""),
    ]
    up, down = msg.farmers
    assert (up.name, up.reachable, up.drives, up.room_bytes, up.error) == ("farmer-01", True, 3, 140_000_000, "")
    assert not up.HasField("unreachable_since_time") and not up.HasField("next_try_time")
    assert (down.name, down.address, down.reachable, down.error) == (
        "farmer-02",
        "127.0.0.1:8472",
        False,
        "unreachable: connection refused",
    )
    assert from_timestamp(down.unreachable_since_time) == pytest.approx(NOW - 120)
    assert from_timestamp(down.next_try_time) == pytest.approx(NOW + 40)


def test_out_of_range_numbers_are_clamped_not_fatal() -> None:
    """A negative rate or an ETA below zero (a clock step) must not make the whole answer fail."""
    st = sample_status()
    bad = dataclasses.replace(st.active[0], rate_bytes_per_s=-5.0, eta_s=-3.0, transferred_bytes=-1)
    st = dataclasses.replace(st, active=(bad,), archived_bytes=2**70)
    msg = archive_status_message(st)
    assert (msg.active[0].rate_bytes_per_s, msg.active[0].transferred_bytes) == (0, 0)
    assert from_duration(msg.active[0].eta) == 0.0 and msg.archived_bytes == 2**64 - 1


def test_no_archiver_answers_disabled_and_refuses_control() -> None:
    svc = servicer(None)
    msg = svc.GetArchiveStatus(plotter_pb2.GetArchiveStatusRequest(), Context())  # type: ignore[arg-type]
    assert msg.state == plotter_pb2.ARCHIVER_STATE_DISABLED and msg.reason == DISABLED_REASON
    for call in (
        lambda: svc.PauseArchiver(plotter_pb2.PauseArchiverRequest(), Context()),  # type: ignore[arg-type]
        lambda: svc.ResumeArchiver(plotter_pb2.ResumeArchiverRequest(), Context()),  # type: ignore[arg-type]
    ):
        with pytest.raises(Aborted) as e:
            call()
        assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION and "archiver is disabled" in e.value.details


def test_a_disabled_archiver_refuses_control_without_calling_it() -> None:
    fake = FakeArchiver(dataclasses.replace(sample_status(), state="disabled", reason="disabled: no farmers"))
    with pytest.raises(Aborted) as e:
        servicer(fake).PauseArchiver(plotter_pb2.PauseArchiverRequest(), Context())  # type: ignore[arg-type]
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION and fake.calls == []


def test_pause_and_resume_delegate_and_answer_the_new_state() -> None:
    fake = FakeArchiver()
    svc = servicer(fake)
    paused = svc.PauseArchiver(plotter_pb2.PauseArchiverRequest(), Context())  # type: ignore[arg-type]
    assert paused.state == plotter_pb2.ARCHIVER_STATE_PAUSED
    status = svc.GetArchiveStatus(plotter_pb2.GetArchiveStatusRequest(), Context())  # type: ignore[arg-type]
    assert status.state == plotter_pb2.ARCHIVER_STATE_PAUSED and len(status.active) == 1
    resumed = svc.ResumeArchiver(plotter_pb2.ResumeArchiverRequest(), Context())  # type: ignore[arg-type]
    assert resumed.state == plotter_pb2.ARCHIVER_STATE_RUNNING and fake.calls == ["pause", "resume"]


def test_an_archiver_error_maps_to_its_status_code() -> None:
    class Broken(FakeArchiver):
        def status(self) -> Any:
            raise RuntimeError("boom")

    with pytest.raises(Aborted) as e:
        servicer(Broken()).GetArchiveStatus(plotter_pb2.GetArchiveStatusRequest(), Context())  # type: ignore[arg-type]
    assert e.value.code == grpc.StatusCode.INTERNAL and "GetArchiveStatus" in e.value.details
