"""The archiver under faults of the farming side, with real parts: a drive that holds less than it claimed (a real
tmpfs filled behind the farmer's back mid-push), a farmer that is not up when the plotter starts, and a wrong rsync
password. After each, the same end checks as the push faults (``archive_watch.settled``)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from testbed.archive_bed import Bed, Farm, MountRefused, Plotter, place, write_secret
from testbed.archive_watch import Truth, Watch, pushes, settled, sha256, wait_mid_push, wait_until

from .conftest import QUICK

pytestmark = pytest.mark.slow

MiB = 2**20
LEASE_S = 10.0
BWLIMIT_KBPS = 3072


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
    """d0 (a 40 MiB tmpfs, the one with the most room) fills up behind the farmer's back during the push: rsync
    fails with "No space left on device"; the archiver releases, and the plot goes to d1 (a 24 MiB tmpfs)."""
    try:
        farm = bed.farm("farmer-01", drives=2, tmpfs_bytes=(40 * MiB, 24 * MiB), lease_s=LEASE_S)
    except MountRefused as e:
        pytest.skip(f"needs real small file systems: {e}")
    plotter = bed.plotter([farm], bwlimit_kbps=BWLIMIT_KBPS, archiving=QUICK, start=False)
    src = place(real_plots[20], plotter.dst[0])
    truth = Truth.of([src])
    watch = watch_of(truth, plotter, [farm])
    plotter.start()
    drive = wait_mid_push([farm], src.name, 2 * MiB)
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
    shown = plotter.shown()
    if shown.source == "rpc":  # backs off: asks it again later, not at every pass
        assert [n for n, after in shown.next_try_s if n == "farmer-01" and after > 0], shown
    assert not watch.seen and src.is_file()
    farm.start()
    settled(truth, [farm], plotter, watch)


def test_a_wrong_rsync_password(bed: Bed, real_plots: dict[int, Path]) -> None:
    """farmer-01's module wants a password the plotter has wrong (rsync exit 5): the archiver shows the error, avoids
    farmer-01 and sends the first plot to farmer-02 (a 20 MiB tmpfs: room for that plot only); the second waits.
    With the password fixed in its file and the agent restarted, the second goes to farmer-01."""
    f1 = bed.farm("farmer-01", drives=1, lease_s=LEASE_S, rsync_user="plotter", rsync_password="right-password")
    try:
        f2 = bed.farm("farmer-02", drives=1, tmpfs_bytes=(20 * MiB,), lease_s=LEASE_S)
    except MountRefused as e:
        pytest.skip(f"needs a real small file system: {e}")
    plotter = bed.plotter([f1, f2], password="wrong-password", archiving=QUICK, start=False)
    big = place(real_plots[20], plotter.dst[0], age_s=700)
    small = place(real_plots[19], plotter.dst[0], age_s=600)
    truth = Truth.of([big, small])
    watch = watch_of(truth, plotter, [f1, f2])
    plotter.start()

    auth = lambda: [e for e in plotter.shown().failed if "code 5" in e or "auth" in e]  # noqa: E731
    wait_until("the auth failure shown", auth, 60)
    landed = lambda: not big.exists() and (f2.drives[0] / big.name).is_file()  # noqa: E731
    wait_until(f"{big.name} archived to farmer-02", landed, 60)
    assert small.is_file() and sha256(small) == truth.plots[small.name][1]
    assert not (f1.drives[0] / small.name).exists()

    write_secret(plotter.root / "rsync.password", "right-password")
    plotter.stop()
    assert not pushes(plotter.transfers)
    plotter.start()
    settled(truth, [f1, f2], plotter, watch)
    assert (f1.drives[0] / small.name).is_file()
