"""Drives (globs, mount check, probes, hung drives), the rsyncd mapping, partial clean-up and the state file."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from farmer_agent.config import RsyncdSection
from farmer_agent.drives import DriveInfo, DriveProber, DriveState, expand_paths, make_probe, probe_drive
from farmer_agent.farmer import DriveView
from farmer_agent.plotfiles import Cleanup, landed_size, remove_partials, remove_temps
from farmer_agent.reservation import Reservation
from farmer_agent.rsyncd import check_drive_patterns, rsync_url
from farmer_agent.service import drive_pb, reservation_pb
from farmer_agent.state import StateWriter, decode, default_state_path, encode, load
from plotboss.atomic import write_atomic
from plotboss.errors import ConfigError, FailedPrecondition, InvalidArgument
from plotboss.plots import expected_plot_size


def plot(i: int, k: int = 20) -> str:
    return f"plot-k{k}-2021-05-05-12-34-{i:064x}.plot"


def test_expand_paths_globs_and_explicit(tmp_path: Path) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    (tmp_path / "README").write_text("not a drive")
    got = expand_paths([str(tmp_path / "*"), str(tmp_path / "gone"), str(tmp_path / "a")])
    assert got == [str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "gone")]


def test_unmounted_dir_is_missing(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    info = probe_drive(str(tmp_path / "d"), 1.0, allow_non_mount=False, ismount=os.path.ismount)
    assert info.state == DriveState.MISSING and "not a mount point" in info.error
    assert not info.usable
    gone = probe_drive(str(tmp_path / "nope"), 1.0, allow_non_mount=True, ismount=os.path.ismount)
    assert gone.state == DriveState.MISSING


def test_probe_counts_plots_and_temp_files(tmp_path: Path) -> None:
    (tmp_path / plot(1)).write_bytes(b"x" * 100)
    (tmp_path / plot(2)).write_bytes(b"x" * 50)
    (tmp_path / f".{plot(3)}.Ab12Cd").write_bytes(b"x" * 30)
    (tmp_path / "other.txt").write_bytes(b"x" * 1000)
    (tmp_path / plot(4)).mkdir()  # a dir with a plot's name is not a plot
    info = make_probe(allow_non_mount=True)(str(tmp_path), 5.0)
    assert info.state == DriveState.OK
    assert (info.plot_count, info.plot_bytes, info.largest_plot_bytes) == (2, 150, 100)
    assert info.written == {plot(1): 100, plot(2): 50, plot(3): 30}
    assert info.temp_files == (f".{plot(3)}.Ab12Cd",)
    assert info.total_bytes > 0 and info.free_bytes > 0 and info.probe_time == 5.0


def test_two_files_of_one_plot_credit_the_smallest_never_promising_bytes_twice(tmp_path: Path) -> None:
    """A transfer died leaving its temp file (12 units); the plotter retries under the same reservation and rsync
    writes a new temp file from 0 (1 unit so far). Only the new one is progress: crediting the dead one would let
    the drive be promised past its free space."""
    from farmer_agent.drives import DiskSpace
    from farmer_agent.ledger import Ledger
    from farmer_agent.reservation import Rules
    from plotboss.errors import InsufficientSpace

    unit = 64 * 2**10

    def space(path: str) -> DiskSpace:  # 20 units free before any file, less what is in the dir
        used = sum(e.stat().st_size for e in os.scandir(path))
        return DiskSpace(100 * unit, 20 * unit - used, False)

    probe = make_probe(True, space)
    led = Ledger(Rules(max_writers_per_drive=4), lambda: 1000.0, monotonic=lambda: 1000.0)
    led.reserve(plot(1), 16 * unit, "p", [probe(str(tmp_path), 1)])
    (tmp_path / f".{plot(1)}.OLD111").write_bytes(b"\0" * 12 * unit)
    (tmp_path / f".{plot(1)}.NEW222").write_bytes(b"\0" * unit)
    d = probe(str(tmp_path), 2)
    with pytest.raises(InsufficientSpace):
        led.reserve(plot(2), 3 * unit, "q", [d])  # 15 + 3 units promised on a drive with 7 free
    assert d.free_bytes == 7 * unit and d.written[plot(1)] == unit
    assert led.reserved_bytes(d) == 15 * unit  # what the live transfer still has to write
    # a stale temp file next to the final file: the smaller counts too
    (tmp_path / plot(3)).write_bytes(b"\0" * 3 * unit)
    (tmp_path / f".{plot(3)}.Stale1").write_bytes(b"\0" * 2 * unit)
    assert probe(str(tmp_path), 3).written[plot(3)] == 2 * unit


def test_hung_probe_reports_error_and_never_piles_up_threads(tmp_path: Path) -> None:
    release = threading.Event()
    calls: list[str] = []

    def probe(path: str, now: float) -> DriveInfo:
        calls.append(path)
        if path.endswith("hung"):
            release.wait(30)
        return DriveInfo(path, DriveState.OK, probe_time=now)

    prober = DriveProber([str(tmp_path / "ok"), str(tmp_path / "hung")], probe=probe, poll_s=60, timeout_s=0.2)
    t0 = time.monotonic()
    snap = {d.path: d for d in prober.refresh()}
    assert time.monotonic() - t0 < 2
    assert snap[str(tmp_path / "ok")].state == DriveState.OK
    assert snap[str(tmp_path / "hung")].state == DriveState.ERROR
    assert "timed out" in snap[str(tmp_path / "hung")].error
    for _ in range(3):
        snap = {d.path: d for d in prober.refresh()}
        assert "hung" in snap[str(tmp_path / "hung")].error
    assert calls.count(str(tmp_path / "hung")) == 1  # one thread stuck, no new ones
    release.set()
    time.sleep(0.1)
    snap = {d.path: d for d in prober.refresh()}
    assert snap[str(tmp_path / "hung")].state == DriveState.OK
    assert prober.snapshot() == tuple(snap.values())


def test_prober_background_refresh(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    prober = DriveProber([str(tmp_path / "*")], probe=make_probe(True), poll_s=0.05, timeout_s=1)
    prober.start()
    try:
        (tmp_path / "e").mkdir()
        deadline = time.monotonic() + 5
        while len(prober.snapshot()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [d.path for d in prober.snapshot()] == [str(tmp_path / "d"), str(tmp_path / "e")]
    finally:
        prober.stop()


def test_prober_stamps_probes_with_both_clocks_and_a_wall_clock_step_refuses_nothing(tmp_path: Path) -> None:
    from farmer_agent.ledger import Ledger
    from farmer_agent.reservation import Rules

    (tmp_path / "d").mkdir()
    wall, mono = [5000.0], [10.0]
    prober = DriveProber(
        [str(tmp_path / "d")],
        probe=make_probe(True),
        poll_s=60,
        timeout_s=5,
        clock=lambda: wall[0],
        monotonic=lambda: mono[0],
    )
    led = Ledger(Rules(max_writers_per_drive=8), lambda: wall[0], monotonic=lambda: mono[0])
    (d,) = prober.refresh()
    assert (d.probe_time, d.probe_mono) == (5000.0, 10.0)
    led.reserve(plot(1), 2**20, "p", [d])
    wall[0], mono[0] = 5000.0 - 3600, 12.0  # NTP steps the wall clock back an hour
    (d,) = prober.refresh()
    assert (d.probe_time, d.probe_mono) == (1400.0, 12.0)
    assert led.reserve(plot(2), 2**20, "p", [d]).drive == str(tmp_path / "d")


def rsyncd(path: Path, host: str = "farmer-01") -> RsyncdSection:
    return RsyncdSection(host=host, port=8873, module="plots", path=path)


def test_rsync_url_and_outside_module(tmp_path: Path) -> None:
    cfg = rsyncd(tmp_path / "farm")
    assert rsync_url(str(tmp_path / "farm" / "d1"), cfg) == "rsync://farmer-01:8873/plots/d1/"
    assert rsync_url(str(tmp_path / "farm"), cfg) == "rsync://farmer-01:8873/plots/"
    assert rsync_url(str(tmp_path / "farm/a/b"), rsyncd(tmp_path / "farm", "::1")) == "rsync://[::1]:8873/plots/a/b/"
    with pytest.raises(ConfigError, match="outside"):
        rsync_url(str(tmp_path / "farmer"), cfg)
    check_drive_patterns([str(tmp_path / "farm/*"), str(tmp_path / "farm/x")], cfg)
    with pytest.raises(ConfigError, match=r"drives.paths\[1\]: .* is outside rsyncd.path"):
        check_drive_patterns([str(tmp_path / "farm/*"), str(tmp_path / "other/*")], cfg)
    with pytest.raises(ConfigError, match="outside"):
        check_drive_patterns([str(tmp_path / "farm/../x")], cfg)


def test_remove_partials_touches_only_that_plot(tmp_path: Path) -> None:
    mine = [f".{plot(1)}.Ab12Cd", f".{plot(1)}.zzzzzz", plot(1)]
    others = [f".{plot(2)}.Ab12Cd", plot(2), f"{plot(1)}.bak", f".{plot(1)}.toolong7"]
    for n in mine + others:
        (tmp_path / n).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / plot(1)).write_bytes(b"x")
    done = remove_partials(str(tmp_path), plot(1), 4096, 0.0)  # the file under the final name is 1 byte: a partial
    assert done == Cleanup(sorted(str(tmp_path / n) for n in mine), kept=False)
    assert sorted(os.listdir(tmp_path)) == sorted([*others, "sub"])
    assert (tmp_path / "sub" / plot(1)).exists()
    with pytest.raises(InvalidArgument):
        remove_partials(str(tmp_path), "../" + plot(2), 1, 0.0)


def test_remove_partials_keeps_a_whole_plot_and_only_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / plot(1)).write_bytes(b"p" * 4096)
    (tmp_path / f".{plot(1)}.Ab12Cd").write_bytes(b"p" * 10)
    assert remove_partials(str(tmp_path), plot(1), 4096, 0.0) == Cleanup(
        [str(tmp_path / f".{plot(1)}.Ab12Cd")], kept=True
    )
    assert sorted(os.listdir(tmp_path)) == [plot(1)]
    # a symlink under the final name is never a plot, whatever it points at: the link goes, its target stays
    (tmp_path / "elsewhere").write_bytes(b"q" * 4096)
    os.symlink(tmp_path / "elsewhere", tmp_path / plot(2))
    assert remove_partials(str(tmp_path), plot(2), 4096, 0.0) == Cleanup([str(tmp_path / plot(2))], kept=False)
    assert (tmp_path / "elsewhere").stat().st_size == 4096
    # the temp files only: never the final file, whatever its size
    (tmp_path / f".{plot(1)}.zzzzzz").write_bytes(b"p")
    assert remove_temps(str(tmp_path), plot(1)) == [str(tmp_path / f".{plot(1)}.zzzzzz")]
    assert sorted(os.listdir(tmp_path)) == sorted([plot(1), "elsewhere"])


def test_landed_size_never_follows_symlinks(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x" * 10)
    os.symlink(tmp_path / "real", tmp_path / plot(1))
    with pytest.raises(FailedPrecondition, match=f"{plot(1)}: a symlink"):
        landed_size(str(tmp_path), plot(1))
    (tmp_path / plot(2)).write_bytes(b"x" * 7)
    assert landed_size(str(tmp_path), plot(2)) == 7
    assert landed_size(str(tmp_path), plot(3)) is None
    (tmp_path / plot(4)).mkdir()
    with pytest.raises(FailedPrecondition, match="not a regular file"):
        landed_size(str(tmp_path), plot(4))


def test_state_file_round_trip_and_corruption(tmp_path: Path) -> None:
    rows = [Reservation("a" * 32, plot(1), 10, "p1", "/d", 1.5, 2.5)]
    path = tmp_path / "state.json"
    assert load(path) == []
    write_atomic(path, encode(rows))
    assert load(path) == rows
    assert not (tmp_path / ".state.json.tmp").exists()
    for bad in (b"{", b"[]", b'{"format": 1, "reservations": [{"id": "x"}]}', b"\xff\xfe"):
        with pytest.raises(ConfigError, match="not a plotboss farmer state file"):
            decode(bad, "state.json")
    assert default_state_path(Path("/etc/plotboss/farmer.yaml")) == Path("/etc/plotboss/.farmer.state.json")


def _state_row(**over: object) -> bytes:
    row: dict[str, object] = {
        "id": "a" * 32,
        "plot_name": plot(1),
        "size_bytes": 10,
        "requester": "p1",
        "drive": "/d",
        "create_time": 1.5,
        "expire_time": 2.5,
    }
    row.update(over)
    return json.dumps({"format": 1, "reservations": [row]}).encode()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_state_row(size_bytes=1e999), "size_bytes: expected an integer"),  # json reads 1e999 as inf
        (_state_row(size_bytes=10.7), "size_bytes: expected an integer"),  # never truncated to 10
        (_state_row(size_bytes=True), "size_bytes: expected an integer"),
        (_state_row(size_bytes="10"), "size_bytes: expected an integer"),
        (_state_row(size_bytes=0), "greater than 0"),
        (_state_row(expire_time=1e999), "expire_time: expected a finite number"),
        (_state_row(create_time=None), "create_time: expected a finite number"),
        (_state_row(plot_name="p"), "not a plot name"),
        (_state_row(drive=["/d"]), "drive: expected a string"),
        # numbers of the right type but out of range: ListReservations / ListDrives would fail on them (INTERNAL)
        (_state_row(expire_time=1e300), "expire_time: 1e+300 is outside years 1..9999"),
        (_state_row(create_time=-1e12), "create_time: -1000000000000.0 is outside years 1..9999"),
        (_state_row(expire_time=253402300800), "expire_time: 253402300800.0 is outside years 1..9999"),
        (_state_row(size_bytes=10**30), "size_bytes 1000000000000000000000000000000: absurd for k=20"),
        (_state_row(size_bytes=expected_plot_size(20) * 2 + 1), "absurd for k=20"),
        (_state_row(requester=""), "requester: must not be empty"),
        (_state_row(requester="p\x07"), "requester: at most 128 printable characters"),
        (_state_row(requester="x" * 129), "requester: at most 128 printable characters"),
        (_state_row(drive="\ud800"), "drive: expected an absolute path"),
        (_state_row(drive="d0"), "drive: expected an absolute path"),
        (_state_row(drive="/d\x00"), "drive: expected an absolute path"),
        (b'{"format": 1, "reservations": [{"id": "' + b"a" * 32 + b'", "size_bytes": NaN}]}', "reservations"),
        (b"[" * 100_000, "nested too deep"),
        (b'{"format": 1, "reservations": ' + b"[" * 100_000, "nested too deep"),
    ],
)
def test_state_file_with_odd_numbers_or_deep_nesting_is_a_config_error(data: bytes, why: str) -> None:
    with pytest.raises(ConfigError, match=r"state\.json: not a plotboss farmer state file") as e:
        decode(data, "state.json")
    assert why in str(e.value)
    assert decode(_state_row(), "state.json")[0].size_bytes == 10


def test_state_file_rows_at_the_edges_of_the_ranges_are_served(tmp_path: Path) -> None:
    """What decode accepts, ListReservations and ListDrives can answer: times from year 1 to 9999, the largest size
    Reserve accepts for the plot's k."""
    first, last = -62135596800, 253402300799  # 0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z
    big = expected_plot_size(20) * 2
    (r,) = decode(_state_row(create_time=first, expire_time=last, size_bytes=big, drive="/mnt/é"), "state.json")
    assert (r.create_time, r.expire_time, r.size_bytes) == (first, last, big)
    pb = reservation_pb(r, "")
    assert pb.create_time.seconds == first and last - 1 <= pb.expire_time.seconds <= last  # float rounding
    assert pb.SerializeToString()
    view = DriveView(DriveInfo("/mnt/é", DriveState.OK), DriveState.OK, "", r.size_bytes, 1, "")
    assert drive_pb(view).reserved_bytes == big


def test_state_writer_group_commits(tmp_path: Path) -> None:
    writes: list[bytes] = []
    version = [3]
    w = StateWriter(tmp_path / "s.json", lambda: (version[0], []), write=lambda p, b: writes.append(b))
    w.save(3)
    w.save(2)
    w.save(3)
    assert len(writes) == 1
    version[0] = 4
    w.save(4)
    assert len(writes) == 2


def test_complete_on_a_hung_drive_fails_fast_and_keeps_the_reservation(tmp_path: Path) -> None:
    from farmer_agent.farmer import Farmer
    from farmer_agent.ledger import Ledger
    from farmer_agent.reservation import Rules
    from plotboss.errors import FailedPrecondition

    hang = threading.Event()

    def slow_size(drive: str, name: str) -> int | None:
        hang.wait(10)
        return None

    info = DriveInfo(str(tmp_path), DriveState.OK, total_bytes=100 * 2**20, free_bytes=100 * 2**20, probe_time=1.0)
    ledger = Ledger(Rules(), time.time)
    farmer = Farmer(rsyncd(tmp_path), lambda: (info,), ledger, None, io_timeout_s=0.2, final_size_fn=slow_size)
    r = farmer.reserve(plot(1), 2**20, "p")
    t0 = time.monotonic()
    with pytest.raises(FailedPrecondition, match="did not answer"):
        farmer.complete(r.id)
    assert time.monotonic() - t0 < 2
    hang.set()
    assert [x.id for x in farmer.reservations()] == [r.id]


def test_probe_credits_the_partial_dir_file_of_a_killed_push_never_following_a_symlink(tmp_path: Path) -> None:
    from plotboss.plots import PARTIAL_DIR

    (tmp_path / PARTIAL_DIR).mkdir()
    (tmp_path / PARTIAL_DIR / plot(1)).write_bytes(b"x" * 40)
    (tmp_path / f".{plot(1)}.Ab12Cd").write_bytes(b"x" * 10)  # a resumed push: credited once, the smallest
    (tmp_path / PARTIAL_DIR / plot(2)).write_bytes(b"x" * 20)
    (tmp_path / PARTIAL_DIR / "notes.txt").write_bytes(b"x")
    info = make_probe(allow_non_mount=True)(str(tmp_path), 5.0)
    assert info.written == {plot(1): 10, plot(2): 20}
    assert info.temp_files == (f".{plot(1)}.Ab12Cd", f"{PARTIAL_DIR}/{plot(1)}", f"{PARTIAL_DIR}/{plot(2)}")
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    (elsewhere / plot(3)).write_bytes(b"x" * 30)
    other = tmp_path / "other"
    other.mkdir()
    os.symlink(elsewhere, other / PARTIAL_DIR)
    assert make_probe(allow_non_mount=True)(str(other), 5.0).written == {}


def test_removals_take_the_partial_dir_file_of_that_plot_only_never_through_a_symlink(tmp_path: Path) -> None:
    from plotboss.plots import PARTIAL_DIR

    pd = tmp_path / PARTIAL_DIR
    pd.mkdir()
    for i in (1, 2, 3):
        (pd / plot(i)).write_bytes(b"x" * 8)
    (tmp_path / plot(2)).write_bytes(b"x" * 100)  # archived, whole
    assert remove_partials(str(tmp_path), plot(1), 100, 0.0).removed == [str(pd / plot(1))]
    assert remove_temps(str(tmp_path), plot(2)) == [str(pd / plot(2))]
    assert (tmp_path / plot(2)).exists() and (pd / plot(3)).exists() and pd.is_dir()
    drive = tmp_path / "d"
    drive.mkdir()
    os.symlink(pd, drive / PARTIAL_DIR)
    assert remove_temps(str(drive), plot(3)) == [] and (pd / plot(3)).exists()
