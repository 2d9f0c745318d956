"""The farmer API the archiver needs beyond the reservation cycle (real farmer agent, typed client): ConfirmPlot of a
plot held without a reservation, each drive's floor in ListDrives, and drives a Reserve must avoid."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from farmer_agent.app import FarmerAgent
from plotboss import errors
from plotter_agent.farmer_client import FarmerClient
from testbed.agents import LOCAL_TOKEN, InProcess
from testbed.rsyncd import RsyncDaemon
from tests.integration.archive_fixtures import K18, in_process_farmer, name, wait_for

FLOOR = 1 << 20


@pytest.fixture
def farmer(tmp_path: Path, rsyncd: RsyncDaemon) -> Iterator[InProcess[FarmerAgent]]:
    yield from in_process_farmer(tmp_path, rsyncd, drives={"min_free_bytes": FLOOR})


@pytest.fixture
def fc(farmer: InProcess[FarmerAgent]) -> Iterator[FarmerClient]:
    with FarmerClient(farmer.address, token=LOCAL_TOKEN) as c:
        yield c


def test_confirm_plot_only_for_a_whole_plot_of_that_size(fc: FarmerClient, rsyncd: RsyncDaemon) -> None:
    whole = rsyncd.path / "d1" / name(1)
    whole.write_bytes(os.urandom(K18))
    got = fc.confirm_plot(name(1), K18)
    assert (got.plot_path, got.size_bytes) == (str(whole), K18)
    with pytest.raises(errors.FailedPrecondition, match="bytes, not"):
        fc.confirm_plot(name(1), K18 + 1)  # another size: not that plot whole
    with pytest.raises(errors.NotFound):
        fc.confirm_plot(name(2), K18)
    linked = rsyncd.path / "d0" / name(3)
    outside = rsyncd.path / "elsewhere"
    outside.write_bytes(os.urandom(K18))
    os.link(outside, linked)
    with pytest.raises(errors.FailedPrecondition, match="links"):
        fc.confirm_plot(name(3), K18)  # a hard link to a file elsewhere is no plot held here
    sparse = rsyncd.path / "d0" / name(4)
    with open(sparse, "wb") as f:
        f.truncate(K18)
    with pytest.raises(errors.FailedPrecondition, match="sparse"):
        fc.confirm_plot(name(4), K18)
    os.symlink(whole, rsyncd.path / "d0" / name(5))
    with pytest.raises(errors.FailedPrecondition, match="symlink"):
        fc.confirm_plot(name(5), K18)
    with pytest.raises(errors.InvalidArgument):
        fc.confirm_plot("../" + name(1), K18)
    assert whole.exists() and fc.list_reservations() == ()  # changes nothing


def test_list_drives_shows_the_floor_and_reserve_avoids_drives(fc: FarmerClient, rsyncd: RsyncDaemon) -> None:
    drives = fc.list_drives().drives
    assert len(drives) == 2 and all(d.min_free_bytes == FLOOR for d in drives)
    first = str(rsyncd.path / "d0")
    r = fc.reserve(name(1), K18, "plotter-01", avoid_drives=(first,))
    assert r.drive_path == str(rsyncd.path / "d1")
    with pytest.raises(errors.InsufficientSpace, match="avoided by the requester"):
        fc.reserve(name(2), K18, "plotter-01", avoid_drives=(first, r.drive_path))
    fc.release(r.id)


def test_a_plot_that_landed_since_the_probe_is_confirmed(fc: FarmerClient, rsyncd: RsyncDaemon) -> None:
    """ConfirmPlot looks at the drives themselves, not only at the last probe."""
    p = rsyncd.path / "d0" / name(7)
    p.write_bytes(os.urandom(K18))
    wait_for(lambda: fc.confirm_plot(name(7), K18).size_bytes == K18, 5, "the confirmation")
