"""The archiver under faults of the farming side, with real parts: a drive that holds less than it claimed (a real
tmpfs filled behind the farmer's back mid-push), a farmer that is not up when the plotter starts, and a wrong rsync
password. After each, the same end checks as the push faults (``archive_watch.settled``)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from testbed.archive_bed import Bed, Farm, MountRefused, Plotter, place, write_secret
from testbed.archive_watch import Truth, Watch, settled, sha256, wait_mid_push, wait_until

from .conftest import QUICK

pytestmark = pytest.mark.slow

MiB = 2**20
LEASE_S = 10.0
BWLIMIT_KBPS = 2048


def watch_of(truth: Truth, plotter: Plotter, farms: list[Farm]) -> Watch:
    return Watch(truth, lambda: [*plotter.dst, *(d for f in farms for d in f.drives)], plotter.transfers).start()


def fill(drive: Path) -> Path:
    """Fill the file system of ``drive`` to the last byte, as another writer would (not through the farmer)."""
    filler = drive / "filler.bin"
    chunk = b"\0" * MiB
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                chunk = chunk[: len(chunk) // 2]
                if not chunk:
                    break
    finally:
        os.close(fd)
    return filler


def test_a_drive_that_fills_up_mid_push(bed: Bed, real_plots: dict[int, Path]) -> None:
    """d0 (a 24 MiB tmpfs, the one with the most room) fills up behind the farmer's back during the push: rsync
    fails with "No space left on device"; the archiver releases, and the plot goes to d1 (a 12 MiB tmpfs)."""
    try:
        farm = bed.farm("farmer-01", drives=2, tmpfs_bytes=(24 * MiB, 12 * MiB), lease_s=LEASE_S)
    except MountRefused as e:
        pytest.skip(f"needs real small file systems: {e}")
    plotter = bed.plotter([farm], bwlimit_kbps=BWLIMIT_KBPS, archiving=QUICK, start=False)
    src = place(real_plots[19], plotter.dst[0])
    truth = Truth.of([src])
    watch = watch_of(truth, plotter, [farm])
    plotter.start()
    drive = wait_mid_push([farm], src.name, MiB)
    assert drive == farm.drives[0], "the farmer put it on the smaller drive"
    fill(drive)

    wait_until("the archiver to show the failed push", lambda: plotter.shown().failed, 60)
    assert any("No space left" in e or "disk_full" in e for e in plotter.shown().failed), plotter.shown().failed
    settled(truth, [farm], plotter, watch)
    assert (farm.drives[1] / src.name).is_file()


def test_a_farmer_unreachable_at_start(bed: Bed, real_plots: dict[int, Path]) -> None:
    """The farmer is down when the plotter starts: the archiver shows it unreachable, sends nothing, keeps the plot,
    and archives it by itself once the farmer is up."""
    farm = bed.farm("farmer-01", drives=1, lease_s=LEASE_S, start=False)
    plotter = bed.plotter([farm], archiving=QUICK, start=False)
    src = place(real_plots[18], plotter.dst[0])
    truth = Truth.of([src])
    watch = watch_of(truth, plotter, [farm])
    plotter.start()

    def unreachable() -> list[str]:
        return [u for u in plotter.shown().unreachable if u.startswith("farmer-01: ")]

    wait_until("the archiver to show farmer-01 unreachable", unreachable, 30)
    shown = plotter.shown()  # backs off: asks it again later, not at every pass
    assert [n for n, after in shown.next_try_s if n == "farmer-01" and after > 0], shown
    assert not watch.seen and src.is_file()
    farm.start()
    settled(truth, [farm], plotter, watch)


def test_a_wrong_rsync_password(bed: Bed, real_plots: dict[int, Path]) -> None:
    """farmer-01's module wants a password the plotter has wrong (rsync exit 5): the archiver shows the error, avoids
    farmer-01 and archives to farmer-02 (a 10 MiB tmpfs: room for one of the two plots); the other plot waits, whole.
    With the password fixed in its file and the agent restarted (the password is read at start), it goes to
    farmer-01."""
    f1 = bed.farm("farmer-01", drives=1, lease_s=LEASE_S, rsync_user="plotter", rsync_password="right-password")
    try:
        f2 = bed.farm("farmer-02", drives=1, tmpfs_bytes=(10 * MiB,), lease_s=LEASE_S)
    except MountRefused as e:
        pytest.skip(f"needs a real small file system: {e}")
    plotter = bed.plotter([f1, f2], password="wrong-password", archiving=QUICK, start=False)
    placed = [place(real_plots[19], plotter.dst[0], age_s=700), place(real_plots[18], plotter.dst[0], age_s=600)]
    truth = Truth.of(placed)
    watch = watch_of(truth, plotter, [f1, f2])
    plotter.start()

    def auth() -> list[str]:
        return [e for e in plotter.shown().failed if "auth failed" in e]

    wait_until("the auth failure shown", auth, 60)

    def one_on_f2() -> list[Path]:
        return [p for p in placed if not p.exists() and (f2.drives[0] / p.name).is_file()]

    wait_until("a plot archived to farmer-02", one_on_f2, 60)
    (waiting,) = (p for p in placed if p.exists())
    wait_until("farmer-01 failing again", lambda: len(auth()) >= 2, 60)  # it keeps trying, backing off
    assert not list(f1.module.rglob("*.plot")), "farmer-01 got a plot with the wrong password"
    assert waiting.is_file() and sha256(waiting) == truth.plots[waiting.name][1]
    shown = plotter.shown()
    assert any("avoiding farmer farmer-01" in step for step in shown.steps), shown

    write_secret(plotter.root / "rsync.password", "right-password")
    plotter.stop()
    plotter.start()
    settled(truth, [f1, f2], plotter, watch)
    assert (f1.drives[0] / waiting.name).is_file()
