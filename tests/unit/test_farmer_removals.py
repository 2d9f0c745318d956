"""The farmer facade removing a plot's files on real dirs: a removal that hangs or fails keeps that plot off that
drive (only) until it has really finished; failed ones are retried by the sweeper; at start, stale temp files next
to an archived plot are removed and the plot never is. Mocks stand in only for the faults (a drive that stops
answering, an unlink that fails); the removal itself is the real one."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from farmer_agent.config import RsyncdSection
from farmer_agent.drives import (
    DiskSpace,
    DriveInfo,
    DriveProber,
    DriveState,
    ProbeFn,
    SpaceFn,
    make_probe,
    statvfs_space,
)
from farmer_agent.farmer import Farmer
from farmer_agent.ledger import Ledger
from farmer_agent.plotfiles import Cleanup, remove_partials
from farmer_agent.reservation import Reservation, Rules
from plotboss.errors import AlreadyExists
from testbed.clock import VirtualClock

MiB = 2**20


def plot(i: int, k: int = 20) -> str:
    return f"plot-k{k}-2021-05-05-12-34-{i:064x}.plot"


class Farm:
    """Two drives (tmp dirs) a and b under one rsync module, a real prober, a ledger on virtual clocks."""

    def __init__(
        self,
        root: Path,
        remove_fn: Callable[[str, str, int, float], Cleanup] = remove_partials,
        io_timeout_s: float = 5.0,
        restored: Sequence[Reservation] = (),
        space: SpaceFn = statvfs_space,
        min_free_bytes: int = 0,
        probe: ProbeFn | None = None,
    ) -> None:
        self.a, self.b = root / "farm" / "a", root / "farm" / "b"
        self.a.mkdir(parents=True)
        self.b.mkdir()
        self.wall, self.mono = VirtualClock(1000.0), VirtualClock(0.0)
        self.prober = DriveProber(
            [str(root / "farm" / "*")],
            probe=probe or make_probe(True, space),
            poll_s=60,
            timeout_s=5,
            clock=self.wall,
            monotonic=self.mono,
        )
        # fill_first: a plot goes to a unless a is refused for it
        rules = Rules(policy="fill_first", max_writers_per_drive=4, lease_s=60, min_free_bytes=min_free_bytes)
        self.ledger = Ledger(rules, self.wall, reservations=restored, monotonic=self.mono)
        rsyncd = RsyncdSection(host="h", module="plots", path=root / "farm")
        self.farmer = Farmer(
            rsyncd, self.prober.snapshot, self.ledger, None, io_timeout_s=io_timeout_s, remove_fn=remove_fn
        )

    def probe(self) -> None:
        self.mono.t += 0.1
        self.prober.refresh()


def wait_for(pred: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_a_removal_outliving_its_time_box_keeps_the_plot_off_that_drive_until_it_ends(tmp_path: Path) -> None:
    """Release on a drive that stalls: the call returns after the time box; the plot may go to another drive at once,
    never back to the stalled one while its old files are still being removed (the late removal would delete the
    new transfer's temp file there)."""
    unhang = threading.Event()

    def stalling_remove(drive: str, name: str, whole_size: int, since: float) -> Cleanup:
        unhang.wait(30)  # the drive stops answering for a while
        return remove_partials(drive, name, whole_size, since)

    farm = Farm(tmp_path, stalling_remove, io_timeout_s=0.2)
    x = plot(1)
    farm.probe()
    r1 = farm.farmer.reserve(x, MiB, "p1")
    assert r1.drive == str(farm.a)
    old = farm.a / f".{x}.OLD111"
    old.write_bytes(b"x" * 10)
    t0 = time.monotonic()
    assert farm.farmer.release(r1.id) == []
    assert time.monotonic() - t0 < 2  # the time box holds: no gRPC thread waits on the drive
    farm.probe()
    r2 = farm.farmer.reserve(x, MiB, "p1")  # the plotter retries at once
    assert r2.drive == str(farm.b)
    new = farm.b / f".{x}.NEW222"
    new.write_bytes(b"y" * 10)
    assert farm.farmer.reserve(plot(2), MiB, "p2").drive == str(farm.a)  # other plots still go to a

    unhang.set()  # the drive answers again; the old removal ends in the background
    wait_for(lambda: farm.ledger.removal(x, str(farm.a)) is None)
    assert not old.exists()
    assert new.read_bytes() == b"y" * 10  # the new transfer's temp file is untouched
    assert {r.id for r in farm.farmer.reservations()} >= {r2.id}
    # once removed, the plot may go to a again
    assert farm.farmer.release(r2.id) == [str(new)]
    farm.probe()
    assert farm.farmer.reserve(x, MiB, "p1").drive == str(farm.a)


def test_a_removal_ending_between_a_probes_listing_and_its_statvfs_never_over_promises(tmp_path: Path) -> None:
    """Release runs while a probe walks the drive: the probe lists the temp file, the removal deletes it, then statvfs
    counts its bytes free. That probe must not place the plot back on that drive crediting the deleted file as the
    retry's progress (the drive would be promised those bytes twice). The disk-space seam reports capacity minus the
    bytes really in the dir, as a real statvfs would."""
    cap, floor = 28 * MiB, 8 * MiB
    between: list[Callable[[], object]] = []  # run between the listing and statvfs of drive a's next probe

    def space(path: str) -> DiskSpace:
        while path.endswith("/a") and between:
            between.pop()()
        used = sum(e.stat().st_size for e in os.scandir(path) if e.is_file(follow_symlinks=False))
        return DiskSpace(cap, cap - used, False)

    farm = Farm(tmp_path, space=space, min_free_bytes=floor)
    x = plot(1)
    farm.probe()
    r1 = farm.farmer.reserve(x, 6 * MiB, "p1")
    assert r1.drive == str(farm.a)
    temp = farm.a / f".{x}.abc123"
    temp.write_bytes(b"x" * 5 * MiB)  # the transfer dies at 5 MiB
    farm.probe()
    released: list[list[str]] = []
    between.append(lambda: released.append(farm.farmer.release(r1.id)))  # the plotter gives up during the probe
    farm.probe()
    assert released == [[str(temp)]] and farm.ledger.removals() == []
    (a,) = (d for d in farm.prober.snapshot() if d.path == str(farm.a))
    assert a.written == {x: 5 * MiB} and a.free_bytes == cap  # the torn view: listed, and counted free
    r2 = farm.farmer.reserve(x, 6 * MiB, "p1")  # the plotter retries at once
    r3 = farm.farmer.reserve(plot(2), 18 * MiB, "p2")
    assert (r2.drive, r3.drive) == (str(farm.b), str(farm.a))
    promised = sum(r.size_bytes for r in farm.farmer.reservations() if r.drive == str(farm.a))  # none written yet
    assert promised <= cap - floor
    farm.probe()  # a probe that started after the removal: the plot may go to a again
    farm.farmer.release(r2.id)
    farm.probe()
    assert farm.farmer.reserve(x, 2 * MiB, "p1").drive == str(farm.a)


def test_a_failed_removal_is_retried_by_the_sweeper_and_blocks_that_drive_until_it_succeeds(tmp_path: Path) -> None:
    failures = [2]  # the drive's first two unlink attempts fail (EIO)

    def flaky_remove(drive: str, name: str, whole_size: int, since: float) -> Cleanup:
        if drive.endswith("/a") and failures[0]:
            failures[0] -= 1
            raise OSError(errno.EIO, "Input/output error")
        return remove_partials(drive, name, whole_size, since)

    farm = Farm(tmp_path, flaky_remove)
    x = plot(1)
    farm.probe()
    r1 = farm.farmer.reserve(x, MiB, "p1")
    left = farm.a / f".{x}.Left11"
    left.write_bytes(b"x" * 1000)
    assert farm.farmer.release(r1.id) == []
    assert left.exists() and failures == [1]

    def placed_on() -> str:
        farm.probe()
        r = farm.farmer.reserve(x, MiB, "p1")
        farm.ledger.release(r.id)  # only to see where it would go
        farm.ledger.removal_done(r.plot_name, r.drive)
        return r.drive

    assert placed_on() == str(farm.b)  # the leftover is never credited to a new transfer of x on a
    farm.farmer.sweep()
    assert failures == [1]  # not due yet (retried after 1 s)
    farm.mono.t += 1
    farm.farmer.sweep()  # attempt 2 fails: next one 2 s later
    assert failures == [0] and left.exists()
    assert placed_on() == str(farm.b)
    farm.mono.t += 1
    farm.farmer.sweep()
    assert left.exists()
    farm.mono.t += 1
    farm.farmer.sweep()  # attempt 3 succeeds
    assert not left.exists() and farm.ledger.removals() == []
    assert placed_on() == str(farm.a)


def test_at_start_a_stale_temp_file_next_to_an_archived_plot_is_removed_and_the_plot_never_is(tmp_path: Path) -> None:
    farm = Farm(tmp_path)
    x = plot(1)
    (farm.a / x).write_bytes(b"p" * 4096)  # archived long ago; the state file knows nothing of it
    (farm.a / f".{x}.AbC123").write_bytes(b"p" * 100)  # left by an earlier, killed attempt
    (farm.b / f".{plot(2)}.xY12z3").write_bytes(b"q" * 100)  # an unknown transfer in flight: held
    farm.probe()
    rec = farm.farmer.recover()
    assert [(r.plot_name, r.drive) for r in rec.held] == [(plot(2), str(farm.b))]
    assert sorted(p.name for p in farm.a.iterdir()) == [x]
    assert farm.ledger.removals() == []
    farm.wall.t += 61
    farm.farmer.sweep()  # the recovered reservation expires: only its own files go
    assert (farm.a / x).read_bytes() == b"p" * 4096
    assert list(farm.b.iterdir()) == []
    farm.probe()
    with pytest.raises(AlreadyExists):
        farm.farmer.reserve(x, 4096, "p1")


def test_a_restored_reservation_whose_plot_is_whole_on_its_drive_never_removes_it(tmp_path: Path) -> None:
    """The state file holds a reservation whose Complete may have been answered (a failed save): the plotter may
    have deleted its copy. Complete still works; if the reservation expires, its temp files go, the plot stays."""
    x, y = plot(1), plot(2)
    rows = [
        Reservation(f"{i:032x}", n, 4096, "p1", str(tmp_path / "farm" / "a"), 900, 960) for i, n in ((1, x), (2, y))
    ]
    farm = Farm(tmp_path, restored=rows)
    for n in (x, y):
        (farm.a / n).write_bytes(b"p" * 4096)
    (farm.a / f".{x}.Stale1").write_bytes(b"p" * 10)
    farm.ledger.extend_all()
    farm.probe()
    rec = farm.farmer.recover()
    assert [r.plot_name for r in rec.whole] == [x, y] and rec.held == [] and rec.stale == []
    farm.farmer.complete(rows[1].id)  # the plotter of y comes back and completes it
    farm.wall.t += 61
    assert [r.id for r in farm.farmer.sweep()] == [rows[0].id]  # x's plotter never does
    assert sorted(p.name for p in farm.a.iterdir()) == [x, y]
    assert (farm.a / x).stat().st_size == 4096


def test_complete_removes_the_plots_leftover_temp_files_on_that_drive_and_nothing_else(tmp_path: Path) -> None:
    farm = Farm(tmp_path)
    x = plot(1)
    farm.probe()
    r = farm.farmer.reserve(x, 4096, "p1")
    assert r.drive == str(farm.a)
    (farm.a / f".{x}.OLD111").write_bytes(b"p" * 3000)  # the transfer died here; the retry wrote a new temp file...
    farm.probe()
    (farm.a / x).write_bytes(b"p" * 4096)  # ...which rsync renamed at the end
    (farm.a / f".{plot(2)}.Other1").write_bytes(b"q" * 10)  # another plot's transfer
    (farm.b / f".{x}.Else11").write_bytes(b"p" * 10)  # the same plot on another drive: not this reservation's
    assert farm.farmer.complete(r.id) == (str(farm.a / x), r)
    assert sorted(p.name for p in farm.a.iterdir()) == sorted([x, f".{plot(2)}.Other1"])
    assert (farm.a / x).stat().st_size == 4096
    assert [p.name for p in farm.b.iterdir()] == [f".{x}.Else11"]
    assert farm.ledger.removals() == []


def test_a_restored_reservation_keeps_its_whole_plot_even_when_the_first_probe_did_not_answer(tmp_path: Path) -> None:
    """Restart after a Complete whose state save failed, the drive spinning up: its first probe times out, so nothing
    at start can tell the plot is whole. The removal decides when it runs: the whole plot stays."""
    x = plot(1)
    real = make_probe(True)
    first = [True]

    def spinning_up(path: str, now: float) -> DriveInfo:
        if path.endswith("/a") and first:  # the first probe of a after the reboot times out
            first.clear()
            return DriveInfo(path, DriveState.ERROR, "probe timed out after 5 s", probe_time=now)
        return real(path, now)

    row = Reservation("1" * 32, x, 4096, "p1", str(tmp_path / "farm" / "a"), 900, 960)
    farm = Farm(tmp_path, restored=[row], probe=spinning_up)
    (farm.a / x).write_bytes(b"p" * 4096)  # archived: the Complete was answered before the restart
    farm.ledger.extend_all()
    farm.probe()
    assert farm.farmer.recover().whole == []  # the first probe saw nothing of a
    farm.probe()  # the drive answers now
    farm.wall.t += 61
    assert [r.id for r in farm.farmer.sweep()] == [row.id]  # its plotter never renews: it got its Complete
    assert (farm.a / x).read_bytes() == b"p" * 4096
    farm.probe()
    with pytest.raises(AlreadyExists):
        farm.farmer.reserve(x, 4096, "p1")


def test_a_reservation_ending_without_complete_keeps_a_whole_plot_and_removes_a_partial_one(tmp_path: Path) -> None:
    """Any reservation that ends without a Complete: a file under the final name of exactly the reserved size is the
    plot landed whole (the plotter crashed between the push and the Complete, and still has its source: keeping it
    costs nothing); one of another size is a partial (rsync --partial) and goes, like the temp files."""
    farm = Farm(tmp_path)
    whole, partial, expired = plot(1), plot(2), plot(3)
    farm.probe()
    rw, rp, rx = (farm.farmer.reserve(n, 4096, "p1") for n in (whole, partial, expired))
    (farm.a / whole).write_bytes(b"w" * 4096)
    (farm.a / f".{whole}.Dead11").write_bytes(b"w" * 10)  # an earlier attempt's
    (farm.a / partial).write_bytes(b"p" * 4000)
    (farm.a / expired).write_bytes(b"x" * 4096)
    assert farm.farmer.release(rw.id) == [str(farm.a / f".{whole}.Dead11")]
    assert farm.farmer.release(rp.id) == [str(farm.a / partial)]
    farm.wall.t += 61
    assert [r.id for r in farm.farmer.sweep()] == [rx.id]
    assert sorted(p.name for p in farm.a.iterdir()) == sorted([whole, expired])
    assert farm.ledger.removals() == []
    for n in (whole, expired):  # archived now: not placed anywhere again
        with pytest.raises(AlreadyExists):
            farm.farmer.reserve(n, 4096, "p1")
    farm.probe()
    for n in (whole, expired):
        with pytest.raises(AlreadyExists):
            farm.farmer.reserve(n, 4096, "p1")
    assert farm.farmer.reserve(partial, 4096, "p1").drive == str(farm.a)
