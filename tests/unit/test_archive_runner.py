"""The archiver's passes against a scripted farmer and a scripted rsync (the faults a real part shows only with
effort): what each outcome leads to, what is released, avoided, kept and deleted. Real files for the sources."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from plotboss import errors
from plotboss.plots import plot_size
from plotter_agent.archive.links import Target
from plotter_agent.archive.outcome import OutcomeRules
from plotter_agent.archive.runner import Archiver, split_user
from plotter_agent.archive.source import SourceRules
from plotter_agent.archive.transfer import Settings
from plotter_agent.dirs import build_dirs, scan_dir
from plotter_agent.farmer_client import (
    Completed,
    DriveList,
    FarmerDrive,
    FarmerUnavailable,
    PlotAlreadyThere,
    Reservation,
)
from plotter_agent.view import Snapshot

K18 = plot_size(18)
GiB = 1 << 30


def name(i: int) -> str:
    return f"plot-k18-2021-05-05-12-34-{i:064x}.plot"


@dataclass
class FakeFarmer:
    address: str = "127.0.0.1:8471"
    drives: list[str] = field(default_factory=lambda: ["/farm/d0", "/farm/d1"])
    down: bool = False
    reserve_error: errors.PlotbossError | None = None
    complete_errors: list[errors.PlotbossError] = field(default_factory=list)
    held: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, object]] = field(default_factory=list)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    n: int = 0

    def _up(self, what: str) -> None:
        if self.down:
            raise FarmerUnavailable(f"farmer {self.address}: {what}: UNAVAILABLE")

    def list_drives(self) -> DriveList:
        self._up("ListDrives")
        return DriveList(
            "farmer-01",
            tuple(
                FarmerDrive(d, 10 * GiB, 5 * GiB, 0, 0, 0, "ok", "", 0, f"rsync://h:1/m/{d[-2:]}/", None)
                for d in self.drives
            ),
        )

    def reserve(
        self, plot_name: str, size_bytes: int, requester: str, avoid_drives: tuple[str, ...] = ()
    ) -> Reservation:
        self._up("Reserve")
        self.calls.append(("reserve", (plot_name, avoid_drives)))
        if self.reserve_error is not None:
            raise self.reserve_error
        drive = next(d for d in self.drives if d not in avoid_drives)
        self.n += 1
        r = Reservation(
            f"{self.n:032x}", plot_name, size_bytes, requester, drive, f"rsync://h:1/m/{drive[-2:]}/", 0, 30
        )
        self.reservations[r.id] = r
        return r

    def renew(self, reservation_id: str) -> Reservation:
        self._up("Renew")
        return self.reservations[reservation_id]

    def complete(self, reservation_id: str) -> Completed:
        self._up("Complete")
        self.calls.append(("complete", reservation_id))
        if self.complete_errors:
            raise self.complete_errors.pop(0)
        r = self.reservations.pop(reservation_id)
        return Completed(f"{r.drive_path}/{r.plot_name}", r.size_bytes)

    def release(self, reservation_id: str) -> tuple[str, ...]:
        self._up("Release")
        self.calls.append(("release", reservation_id))
        self.reservations.pop(reservation_id, None)
        return ()

    def list_reservations(self) -> tuple[Reservation, ...]:
        self._up("ListReservations")
        return tuple(self.reservations.values())

    def confirm_plot(self, plot_name: str, size_bytes: int) -> Completed:
        self._up("ConfirmPlot")
        self.calls.append(("confirm", plot_name))
        if self.held.get(plot_name) == size_bytes:
            return Completed(f"/farm/d0/{plot_name}", size_bytes)
        raise errors.NotFound(f"plot {plot_name}: not on any drive")

    def close(self) -> None:
        pass


class FakeProc:
    def __init__(self, pid: int, rc: int | None, stderr: str) -> None:
        self.pid = pid
        self.rc = rc
        self.stdout: IO[bytes] | None = io.BytesIO(b"")
        self.stderr: IO[bytes] | None = io.BytesIO(stderr.encode())

    def poll(self) -> int | None:
        return self.rc

    def wait(self, timeout: float | None = None) -> int:
        if self.rc is None:
            import subprocess

            raise subprocess.TimeoutExpired("rsync", timeout or 0)
        return self.rc

    def send_signal(self, sig: int) -> None:
        self.rc = -sig


@dataclass
class Rsync:
    """Scripted pushes: each launch takes the next (rc, stderr); rc None keeps running."""

    script: list[tuple[int | None, str]] = field(default_factory=list)
    launched: list[tuple[str, ...]] = field(default_factory=list)
    procs: list[FakeProc] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], env: Mapping[str, str]) -> FakeProc:
        rc, err = self.script.pop(0) if self.script else (0, "")
        self.launched.append(tuple(argv))
        p = FakeProc(1000 + len(self.launched), rc, err)
        self.procs.append(p)
        return p


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def dst(tmp_path: Path) -> Path:
    d = tmp_path / "dst"
    d.mkdir()
    return d


def put(dst: Path, *ids: int) -> list[Path]:
    out = []
    for n, i in enumerate(ids):
        p = dst / name(i)
        p.write_bytes(b"\0" * K18)
        os.utime(p, (1000.0 + n, 1000.0 + n))
        out.append(p)
    return out


@dataclass
class Rig:
    archiver: Archiver
    farmer: FakeFarmer
    rsync: Rsync
    clock: Clock
    dsts: list[Path]
    #: pid -> rsync's I/O counter (``watchdog.proc_io_bytes``); a pid not in it: not readable
    io: dict[int, int] = field(default_factory=dict)
    #: the pids the archiver SIGKILLed (adopted pushes)
    killed: list[int] = field(default_factory=list)

    def run(self, n: int = 1, step_s: float = 0.0) -> None:
        for _ in range(n):
            self.archiver.run_pass()
            self.clock.t += step_s


@pytest.fixture
def rig(tmp_path: Path, dst: Path) -> Iterator[Rig]:
    farmer, rsync, clock = FakeFarmer(), Rsync(), Clock()
    dsts = [dst]
    io: dict[int, int] = {}
    killed: list[int] = []

    def snapshot() -> Snapshot:
        pairs = [(str(d), "dst") for d in dsts]
        return Snapshot(clock(), 1, (), tuple(build_dirs(pairs, {str(d): scan_dir(str(d)) for d in dsts}, [])))

    settings = Settings(
        requester="plotter-01",
        log_dir=str(tmp_path / "transfers"),
        dst_dirs=(str(dst),),
        source_rules=SourceRules(settle_s=0),
        outcome_rules=OutcomeRules(base_s=10, cap_s=100),
        state_path=tmp_path / "state.json",
    )
    a = Archiver(
        settings,
        [Target("farmer-01", farmer.address, lambda: farmer)],
        snapshot,
        clock=clock,
        procs=lambda: [],
        launcher=rsync,
        io_bytes=io.get,
        kill_pid=killed.append,
    )
    try:
        yield Rig(a, farmer, rsync, clock, dsts, io, killed)
    finally:
        a.stop()


def calls(f: FakeFarmer, what: str) -> list[object]:
    return [arg for c, arg in f.calls if c == what]


def test_pushed_then_completed_then_deleted(rig: Rig, dst: Path) -> None:
    (src,) = put(dst, 1)
    rig.run()
    assert len(rig.rsync.launched) == 1 and src.exists()  # pushing; nothing deleted before Complete
    rig.run()
    assert calls(rig.farmer, "complete") == ["0" * 31 + "1"] and not src.exists()
    st = rig.archiver.status()
    assert st.archived_plots == 1 and st.recent[0].outcome == "done" and not st.active


def test_disk_full_releases_and_avoids_that_drive(rig: Rig, dst: Path) -> None:
    (src,) = put(dst, 1)
    rig.rsync.script = [(11, "rsync: [receiver] write failed on x: No space left on device (28)")]
    rig.run(2)
    assert calls(rig.farmer, "release") and src.exists() and not calls(rig.farmer, "complete")
    st = rig.archiver.status()
    assert "rsync exit 11" in st.recent[0].error and "No space left" in st.recent[0].error
    assert "avoiding drive /farm/d0" in st.recent[0].next_step
    rig.clock.t += 11  # retry due; the drive is still avoided
    rig.run(2)
    assert calls(rig.farmer, "reserve")[-1] == (src.name, ("/farm/d0",))  # the farmer is told to avoid it
    assert not src.exists()


def test_wrong_password_avoids_the_farmer_and_keeps_the_source(rig: Rig, dst: Path) -> None:
    (src,) = put(dst, 1)
    rig.rsync.script = [(5, "@ERROR: auth failed on module plots")]
    rig.run(2)
    st = rig.archiver.status()
    assert src.exists() and calls(rig.farmer, "release")
    assert "auth failed" in st.recent[0].error and "avoiding farmer farmer-01" in st.recent[0].next_step
    rig.run()
    assert len(rig.rsync.launched) == 1  # not tried again while avoided
    assert "waiting to retry" in rig.archiver.status().reason
    rig.clock.t += 11  # retry due, the farmer still avoided
    rig.run()
    assert len(rig.rsync.launched) == 1 and "avoided after a failure" in rig.archiver.status().reason
    rig.clock.t += 10
    rig.run(2)
    assert len(rig.rsync.launched) == 2 and not src.exists()


def test_killed_push_resumes_on_the_kept_reservation(rig: Rig, dst: Path) -> None:
    (src,) = put(dst, 1)
    rig.rsync.script = [(-9, "")]
    rig.run(2)
    assert not calls(rig.farmer, "release")
    st = rig.archiver.status()
    assert st.active and st.active[0].next_step.startswith("resuming on the same drive")
    rig.clock.t += 11
    rig.run(2)
    first, second = rig.rsync.launched
    assert first[-1] == second[-1] and first[-2] == second[-2]  # same source, same reservation URL
    assert not src.exists() and len(calls(rig.farmer, "reserve")) == 1


def test_complete_unreachable_keeps_the_source_until_it_answers(rig: Rig, dst: Path) -> None:
    (src,) = put(dst, 1)
    rig.farmer.complete_errors = [FarmerUnavailable("farmer x: Complete: UNAVAILABLE")]
    rig.run(2)
    assert src.exists() and not calls(rig.farmer, "release")
    rig.clock.t += 11
    rig.run()
    assert not src.exists() and len(calls(rig.farmer, "complete")) == 2


def test_complete_refused_releases_avoids_the_drive_and_keeps_the_source(rig: Rig, dst: Path) -> None:
    (src,) = put(dst, 1)
    rig.farmer.complete_errors = [errors.FailedPrecondition("plot x on /farm/d0: 5 bytes, reserved for 6")]
    rig.run(2)
    assert src.exists() and calls(rig.farmer, "release")
    assert (
        "Complete refused" in rig.archiver.status().recent[0].error
        or "5 bytes" in rig.archiver.status().recent[0].error
    )


def test_a_plot_the_farmer_holds_is_deleted_without_a_push(rig: Rig, dst: Path) -> None:
    (src,) = put(dst, 1)
    rig.farmer.held[src.name] = K18
    rig.run()
    assert not src.exists() and not rig.rsync.launched and not calls(rig.farmer, "reserve")
    assert "ConfirmPlot" in rig.archiver.status().recent[0].next_step


def test_already_there_but_not_confirmed_is_parked_not_sent(rig: Rig, dst: Path) -> None:
    (src,) = put(dst, 1)
    rig.farmer.reserve_error = PlotAlreadyThere("farmer x: Reserve: already on /farm/d1", "present", "/farm/d1")
    rig.run(3)
    assert src.exists() and not rig.rsync.launched
    assert rig.archiver.status().recent[0].next_step.startswith("parked")


def test_a_source_replaced_during_the_push_is_kept(rig: Rig, dst: Path) -> None:
    (src,) = put(dst, 1)
    rig.rsync.script = [(None, "")]
    rig.run()
    src.unlink()
    src.write_bytes(b"\1" * K18)  # another file under the name, same size
    rig.rsync.procs[0].rc = 0
    rig.run()
    assert src.exists() and "replaced" in rig.archiver.status().recent[0].error


def test_one_reader_per_dst_dir(rig: Rig, dst: Path, tmp_path: Path) -> None:
    other = tmp_path / "dst2"
    other.mkdir()
    rig.dsts.append(other)
    object.__setattr__(rig.archiver.settings, "max_concurrent", 3)
    object.__setattr__(rig.archiver.settings, "dst_dirs", (str(dst), str(other)))
    put(dst, 1, 2)
    put(other, 3)
    rig.rsync.script = [(None, ""), (None, ""), (None, "")]
    rig.run()
    sources = sorted(argv[-2] for argv in rig.rsync.launched)
    assert sources == sorted([str(dst / name(1)), str(other / name(3))])  # never two on one dir


def test_an_unreachable_farmer_is_shown_and_tried_again(rig: Rig, dst: Path) -> None:
    (src,) = put(dst, 1)
    rig.farmer.down = True
    rig.run()
    st = rig.archiver.status()
    assert not rig.rsync.launched and not st.farmers[0].reachable and "UNAVAILABLE" in st.farmers[0].error
    assert [(d.plots_waiting, d.bytes_waiting) for d in st.dirs] == [(1, K18)]  # still waiting, as the status says
    assert "no farmer can take" in st.reason
    rig.farmer.down = False
    rig.clock.t += 6
    rig.run(2)
    assert not src.exists() and rig.archiver.status().farmers[0].reachable


def test_pause_is_kept_and_stops_new_pushes(rig: Rig, dst: Path, tmp_path: Path) -> None:
    put(dst, 1)
    assert rig.archiver.pause().state == "paused"
    rig.run()
    assert not rig.rsync.launched and rig.archiver.status().reason == "paused"
    assert '"paused"' in (tmp_path / "state.json").read_text()
    rig.archiver.resume()
    rig.run()
    assert rig.rsync.launched


def test_split_user() -> None:
    assert split_user("rsync://bob@h:873/plots/d0/") == ("rsync://h:873/plots/d0/", "bob")
    assert split_user("rsync://h:873/plots/d0/") == ("rsync://h:873/plots/d0/", "")


def _log_line(pid: int, msg: str) -> str:
    return f"2026/12/01 20:40:43 [{pid}] {msg}\n"


def test_a_running_push_is_adopted_then_completed_from_its_log(tmp_path: Path, dst: Path) -> None:
    (src,) = put(dst, 1)
    farmer, rsync, clock = FakeFarmer(), Rsync(), Clock()
    r = farmer.reserve(src.name, K18, "plotter-01")
    logs = tmp_path / "transfers"
    logs.mkdir()
    log = logs / f"{src.name}.{r.id}.rsync.log"
    argv = ("rsync", "--info=progress2", f"--log-file={log}", str(src), r.rsync_url)
    table = [(4242, argv)]
    settings = Settings(requester="plotter-01", log_dir=str(logs), dst_dirs=(str(dst),), state_path=None)
    a = Archiver(
        settings,
        [Target("farmer-01", farmer.address, lambda: farmer)],
        lambda: None,
        clock=clock,
        procs=lambda: list(table),
        launcher=rsync,
    )
    try:
        a.run_pass()
        st = a.status()
        assert [v.recovered for v in st.active] == [True] and st.active[0].drive_path == r.drive_path
        a.run_pass()
        assert len(a.status().active) == 1 and src.exists()  # still running: watched, nothing started twice
        log.write_text(_log_line(4242, "sent 4195499 bytes  received 44 bytes  total size 4194304"))
        table.clear()
        a.run_pass()
    finally:
        a.stop()
    assert not rsync.launched and not src.exists() and calls(farmer, "complete") == [r.id]
    assert [p.name for p in logs.iterdir()] == [f"{log.name}.4242.done"]


@pytest.mark.parametrize("code", [0, 5])
def test_a_push_that_ended_while_down_is_completed_or_released(tmp_path: Path, dst: Path, code: int) -> None:
    (src,) = put(dst, 1)
    farmer, rsync, clock = FakeFarmer(), Rsync(), Clock()
    r = farmer.reserve(src.name, K18, "plotter-01")
    logs = tmp_path / "transfers"
    logs.mkdir()
    log = logs / f"{src.name}.{r.id}.rsync.log"
    last = (
        "sent 4195499 bytes  received 44 bytes  total size 4194304"
        if code == 0
        else ("rsync error: error starting client-server protocol (code 5) at main.c(1954)")
    )
    log.write_text(_log_line(77, "building file list") + _log_line(77, last))
    settings = Settings(requester="plotter-01", log_dir=str(logs), dst_dirs=(str(dst),), state_path=None)
    a = Archiver(
        settings,
        [Target("farmer-01", farmer.address, lambda: farmer)],
        lambda: None,
        clock=clock,
        procs=lambda: [],
        launcher=rsync,
    )
    try:
        a.run_pass()
        a.run_pass()  # acted on once only
    finally:
        a.stop()
    assert not rsync.launched
    if code == 0:
        assert calls(farmer, "complete") == [r.id] and not src.exists()
        assert [p.name for p in logs.iterdir()] == [f"{log.name}.77.done"]
    else:
        assert calls(farmer, "release") == [r.id] and src.exists() and not calls(farmer, "complete")
        assert [p.name for p in logs.iterdir()] == [f"{log.name}.77.failed"]


def test_a_pause_that_cannot_be_kept_changes_nothing(rig: Rig, tmp_path: Path) -> None:
    (tmp_path / "state.json").mkdir()  # cannot be replaced by a file
    with pytest.raises(errors.Unavailable, match="cannot write the archiver state file"):
        rig.archiver.pause()
    assert rig.archiver.status().state == "running"


@pytest.mark.parametrize("held", [True, False])
def test_an_ended_push_whose_reservation_is_gone_is_settled_by_confirm_plot(
    tmp_path: Path, dst: Path, held: bool
) -> None:
    """The agent died after Complete answered but before it deleted the source (or the lease ran out after the push
    landed): no farmer has the reservation; ConfirmPlot decides. Without a source nothing is left to do."""
    (src,) = put(dst, 1)
    farmer, rsync, clock = FakeFarmer(), Rsync(), Clock()
    if held:
        farmer.held[src.name] = K18
    logs = tmp_path / "transfers"
    logs.mkdir()
    log = logs / f"{src.name}.{'e' * 32}.rsync.log"
    log.write_text(_log_line(9, "sent 4195499 bytes  received 44 bytes  total size 4194304"))
    settings = Settings(requester="plotter-01", log_dir=str(logs), dst_dirs=(str(dst),), state_path=None)
    a = Archiver(
        settings,
        [Target("farmer-01", farmer.address, lambda: farmer)],
        lambda: None,
        clock=clock,
        procs=lambda: [],
        launcher=rsync,
    )
    try:
        a.run_pass()
    finally:
        a.stop()
    assert src.exists() is not held and not calls(farmer, "complete")
    assert [p.name for p in logs.iterdir()] == [f"{log.name}.9.{'done' if held else 'failed'}"]
    log.write_text(_log_line(9, "sent 4195499 bytes  received 44 bytes  total size 4194304"))
    src.unlink(missing_ok=True)
    b = Archiver(
        settings,
        [Target("farmer-01", farmer.address, lambda: farmer)],
        lambda: None,
        clock=clock,
        procs=lambda: [],
        launcher=rsync,
    )
    try:
        b.run_pass()
        assert not b.active  # settled at once: the source is gone
    finally:
        b.stop()
    assert f"{log.name}.9.done" in [p.name for p in logs.iterdir()]
