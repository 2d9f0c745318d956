"""The archiver's watchdog over pushes that stop moving (the pure decision, the I/O counters it reads, and what the
archiver does with a stall), a push found again whose reservation expired (its farmer named from its rsync URL),
and the removal of old handled transfer logs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from plotter_agent.archive.links import Target, endpoint
from plotter_agent.archive.outcome import OutcomeRules
from plotter_agent.archive.runner import LOG_SWEEP_S, Archiver
from plotter_agent.archive.transfer import Settings
from plotter_agent.archive.watchdog import Mark, StallRules, default_stall_s, observe, proc_io_bytes
from tests.unit.test_archive_runner import K18, Clock, FakeFarmer, Rig, Rsync, _log_line, calls, put
from tests.unit.test_archive_runner import dst as dst  # the fixtures
from tests.unit.test_archive_runner import rig as rig

RULES = StallRules(stall_s=300.0, min_step_bytes=1000)


# --- the pure decision ------------------------------------------------------------------------------------------------


def test_a_counter_that_does_not_move_for_the_stall_time_is_stalled() -> None:
    mark, stalled = observe(None, 5000, 100.0, RULES)
    assert mark == Mark(5000, 100.0) and not stalled
    mark, stalled = observe(mark, 5000, 399.0, RULES)
    assert mark == Mark(5000, 100.0) and not stalled
    assert observe(mark, 5000, 400.0, RULES) == (Mark(5000, 100.0), True)


def test_keepalive_sized_growth_is_not_progress_but_a_step_is() -> None:
    mark = Mark(5000, 100.0)
    assert observe(mark, 5999, 400.0, RULES) == (mark, True)  # a few keep-alive bytes: still stalled
    assert observe(mark, 6000, 400.0, RULES) == (Mark(6000, 400.0), False)


def test_a_counter_that_goes_down_is_a_new_run_and_none_is_not_judged() -> None:
    mark = Mark(5000, 100.0)
    assert observe(mark, 10, 1000.0, RULES) == (Mark(10, 1000.0), False)
    assert observe(mark, None, 1000.0, RULES) == (mark, False)
    assert observe(None, None, 1000.0, RULES) == (None, False)


def test_the_default_stall_time_is_a_few_io_timeouts() -> None:
    assert default_stall_s(60) == 300.0


def test_proc_io_bytes(tmp_path: Path) -> None:
    mine = proc_io_bytes(os.getpid())
    if mine is None:
        pytest.skip("this kernel does not let a process read its own /proc/PID/io")
    assert mine > 0
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "io").write_text("rchar: 100\nwchar: 23\nsyscr: 4\n")
    assert proc_io_bytes(7, str(tmp_path)) == 123
    (tmp_path / "7" / "io").write_text("rchar: x\nwchar: 23\n")
    assert proc_io_bytes(7, str(tmp_path)) is None
    assert proc_io_bytes(8, str(tmp_path)) is None


def test_endpoint() -> None:
    assert endpoint("rsync://bob@10.0.0.5:8873/plots/d0/") == ("10.0.0.5", "8873")
    assert endpoint("rsync://farm1/plots/d0/") == ("farm1", "")
    assert endpoint("rsync://[::1]:873/plots/") == ("::1", "873")
    assert endpoint("/not/a/url") == ("", "")


# --- the archiver with a stalled push ---------------------------------------------------------------------------------


def test_a_started_push_that_stops_moving_is_killed_resumed_then_its_drive_avoided(rig: Rig, dst: Path) -> None:
    (src,) = put(dst, 1)
    rig.rsync.script = [(None, ""), (None, ""), (0, "")]  # runs until killed, twice; then lands
    rig.run()
    (p1,) = rig.rsync.procs
    rig.io[p1.pid] = 10_000_000
    rig.run()
    rig.clock.t += 200
    rig.io[p1.pid] += 50_000_000  # moving: not stalled
    rig.run()
    rig.clock.t += 299
    rig.io[p1.pid] += 100  # keep-alive bytes only
    rig.run()
    assert p1.rc is None, "killed before its stall time"
    rig.clock.t += 2
    rig.run()
    assert p1.rc == -9, "a push not moving for the stall time was not killed"
    rig.run()  # reaped: a stall, resumed on the kept reservation
    st = rig.archiver.status()
    assert not calls(rig.farmer, "release")
    assert "no progress for 301 s" in st.recent[0].error and st.recent[0].next_step.startswith("resuming")
    rig.clock.t += 11
    rig.run()
    p2 = rig.rsync.procs[1]
    assert rig.rsync.launched[1][-1] == rig.rsync.launched[0][-1], "not resumed on the same reservation"
    rig.io[p2.pid] = 5
    rig.run()
    rig.clock.t += 301
    rig.run()
    assert p2.rc == -9
    rig.run()  # the second stall on that drive: released, the drive avoided
    st = rig.archiver.status()
    assert calls(rig.farmer, "release") and "avoiding drive /farm/d0" in st.recent[0].next_step
    assert src.exists()


def test_a_started_push_that_never_showed_progress_is_judged_too(rig: Rig, dst: Path) -> None:
    put(dst, 1)
    rig.rsync.script = [(None, "")]  # no progress line, I/O counters not readable
    rig.run(2)
    rig.clock.t += 301
    rig.run()
    assert rig.rsync.procs[0].rc == -9


def adopter(tmp_path: Path, dst: Path, farmer: FakeFarmer, table: Sequence[tuple[int, Sequence[str]]]) -> Archiver:
    settings = Settings(
        requester="plotter-01",
        log_dir=str(tmp_path / "transfers"),
        dst_dirs=(str(dst),),
        state_path=None,
        outcome_rules=OutcomeRules(base_s=10, cap_s=100),
        stall_rules=RULES,
    )
    return Archiver(
        settings,
        [Target("farmer-01", farmer.address, lambda: farmer)],
        lambda: None,
        clock=Clock(),
        procs=lambda: [(pid, tuple(argv)) for pid, argv in table],
        launcher=Rsync(),
        io_bytes=lambda pid: io.get(pid, 777),  # never moves
        kill_pid=lambda pid: killed.append(pid),
    )


killed: list[int] = []
io: dict[int, int | None] = {}


def test_an_adopted_push_whose_io_counters_cannot_be_read_is_not_judged(tmp_path: Path, dst: Path) -> None:
    (src,) = put(dst, 1)
    farmer = FakeFarmer()
    r = farmer.reserve(src.name, K18, "plotter-01")
    (tmp_path / "transfers").mkdir()
    log = tmp_path / "transfers" / f"{src.name}.{r.id}.rsync.log"
    table = [(4243, ("rsync", f"--log-file={log}", str(src), r.rsync_url))]
    a = adopter(tmp_path, dst, farmer, table)
    killed.clear()
    io[4243] = None
    clock = a.clock
    assert isinstance(clock, Clock)
    try:
        a.run_pass()
        clock.t += 10_000
        a.run_pass()
        assert not killed and a.status().active
    finally:
        a.stop()


def test_an_adopted_push_that_stops_moving_is_killed_and_resumed(tmp_path: Path, dst: Path) -> None:
    (src,) = put(dst, 1)
    farmer = FakeFarmer()
    r = farmer.reserve(src.name, K18, "plotter-01")
    logs = tmp_path / "transfers"
    logs.mkdir()
    log = logs / f"{src.name}.{r.id}.rsync.log"
    log.write_text(_log_line(4242, "building file list"))
    table = [(4242, ("rsync", "--info=progress2", f"--log-file={log}", str(src), r.rsync_url))]
    a = adopter(tmp_path, dst, farmer, table)
    killed.clear()
    clock = a.clock
    assert isinstance(clock, Clock)
    try:
        a.run_pass()
        assert a.status().active[0].recovered
        clock.t += 301
        a.run_pass()
        assert killed == [4242], "an adopted push not moving for the stall time was not killed"
        table.clear()  # it died
        a.run_pass()
        st = a.status()
        assert "no progress for 301 s" in st.recent[0].error and "resuming" in st.recent[0].next_step
        assert not calls(farmer, "release")
    finally:
        a.stop()


def test_an_adopted_push_whose_reservation_expired_shows_its_farmer_from_its_url(tmp_path: Path, dst: Path) -> None:
    (src,) = put(dst, 1)
    farmer = FakeFarmer()
    logs = tmp_path / "transfers"
    logs.mkdir()
    rid = "c" * 32
    log = logs / f"{src.name}.{rid}.rsync.log"
    log.write_text(_log_line(4242, "building file list"))
    url = "rsync://bob@h:1/m/d0/"  # the farmer's drives are served at h:1 (its ListDrives)
    table = [(4242, ("rsync", "--info=progress2", f"--log-file={log}", str(src), url))]
    a = adopter(tmp_path, dst, farmer, table)
    try:
        a.run_pass()
        assert [v.farmer for v in a.status().active] == ["farmer-01"]
        log.write_text(
            _log_line(4242, "building file list")
            + _log_line(4242, "rsync error: error in socket IO (code 10) at io.c(806) [sender=3.2.7]")
        )
        table.clear()
        a.run_pass()
        (v,) = a.status().recent
        assert v.farmer == "farmer-01" and "rsync exit 10" in v.error
    finally:
        a.stop()


# --- old handled logs -------------------------------------------------------------------------------------------------


def test_handled_logs_past_their_retention_are_removed_once_an_hour(tmp_path: Path, dst: Path) -> None:
    logs = tmp_path / "transfers"
    logs.mkdir()
    base = f"plot-k18-2021-05-05-12-34-{1:064x}.plot.{'a' * 32}.rsync.log"
    old_done, old_failed, young, pending, other = (
        logs / f"{base}.12.done",
        logs / f"{base}.x.failed",
        logs / f"{base}.13.failed",
        logs / base,
        logs / "notes.txt.1.done",
    )
    for p in (old_done, old_failed, young, pending, other):
        p.write_text("x")
    farmer = FakeFarmer()
    src = dst / f"plot-k18-2021-05-05-12-34-{1:064x}.plot"
    running = [(4242, ("rsync", f"--log-file={pending}", str(src), "rsync://h:1/m/d0/"))]  # its push runs
    a = adopter(tmp_path, dst, farmer, running)
    clock = a.clock
    assert isinstance(clock, Clock)
    keep = a.settings.log_retention_s
    assert keep == 14 * 86400
    for p in (old_done, old_failed, pending, other):
        os.utime(p, (clock.t - keep - 10, clock.t - keep - 10))
    os.utime(young, (clock.t - keep + 100, clock.t - keep + 100))
    try:
        a.run_pass()
        assert sorted(p.name for p in logs.iterdir()) == sorted(p.name for p in (young, pending, other))
        clock.t += 200  # the young one is past its retention now, but the dir is not looked at again yet
        a.run_pass()
        assert young.exists()
        clock.t += LOG_SWEEP_S
        a.run_pass()
        assert not young.exists() and pending.exists() and other.exists(), "an unhandled log was removed"
    finally:
        a.stop()
