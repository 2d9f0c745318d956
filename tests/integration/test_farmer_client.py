"""plotter_agent.farmer_client against a real farmer agent served in process on loopback, with a real rsync daemon:
every call's answer as dataclasses, every refusal as the error tree (never a grpc type)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from farmer_agent.app import FarmerAgent
from farmer_agent.config import FarmerConfig
from plotboss import errors
from plotboss.auth import TokenSet
from plotboss.transport import serve
from plotter_agent.farmer_client import FarmerClient, FarmerUnavailable, PlotAlreadyThere
from testbed.rsyncd import RsyncDaemon, free_port

pytestmark = pytest.mark.slow
MiB = 2**20
CONTROL = "c" * 32
READ = "r" * 32


def plot(i: int, k: int = 20) -> str:
    return f"plot-k{k}-2021-05-05-12-34-{i:064x}.plot"


def config(tmp_path: Path, rsyncd: RsyncDaemon) -> FarmerConfig:
    for i in range(2):
        (rsyncd.path / f"d{i}").mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "version": 1,
        "agent": {"name": "farmer-01", "listen": "127.0.0.1:0", "poll_s": 0.2, "probe_timeout_s": 2},
        "drives": {"paths": [str(rsyncd.path / "*")], "allow_non_mount": True},
        "rsyncd": {"host": "127.0.0.1", "port": rsyncd.port, "module": "plots", "path": str(rsyncd.path)},
        "reservations": {"lease_s": 30, "state_file": str(tmp_path / "state.json")},
    }
    return FarmerConfig.model_validate(data)


@pytest.fixture
def farmer(tmp_path: Path, rsyncd: RsyncDaemon) -> Iterator[str]:
    agent = FarmerAgent(config(tmp_path, rsyncd), tmp_path / "farmer.yaml")
    server = serve(agent.registrations(), "127.0.0.1:0", tls=None, tokens=TokenSet(read=(READ,), control=(CONTROL,)))
    agent.start()
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        server.stop(0)
        agent.stop()


def wait_for(pred: Any, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def test_the_whole_round_of_calls_as_dataclasses(tmp_path: Path, rsyncd: RsyncDaemon, farmer: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with FarmerClient(farmer, token=CONTROL) as fc:
        listed = fc.list_drives()
        assert listed.farmer_name == "farmer-01"
        assert sorted(Path(d.path).name for d in listed.drives) == ["d0", "d1"]
        assert all(d.state == "ok" and d.writers == 0 and d.total_bytes > 0 for d in listed.drives)
        assert all(d.rsync_url.startswith(f"rsync://127.0.0.1:{rsyncd.port}/plots/") for d in listed.drives)

        name = plot(1)
        (src / name).write_bytes(os.urandom(2 * MiB))
        r = fc.reserve(name, 2 * MiB, "plotter-01")
        assert (r.plot_name, r.size_bytes, r.requester, len(r.id)) == (name, 2 * MiB, "plotter-01", 32)
        assert r.expire_time - r.create_time == pytest.approx(30, abs=1)
        assert r.rsync_user == ""
        assert [x.id for x in fc.list_reservations()] == [r.id]
        assert [d.writers for d in fc.list_drives().drives if d.path == r.drive_path] == [1]

        renewed = fc.renew(r.id)
        assert renewed.id == r.id and renewed.expire_time >= r.expire_time

        # Complete before the plot is there: FailedPrecondition, the reservation stays
        with pytest.raises(errors.FailedPrecondition, match=f"farmer {farmer}: Complete"):
            fc.complete(r.id)
        # a second Reserve of the same plot: it is reserved
        with pytest.raises(PlotAlreadyThere) as held:
            fc.reserve(name, 2 * MiB, "plotter-02")
        assert (held.value.kind, held.value.drive) == ("reserved", r.drive_path)

        subprocess.run(["rsync", "--timeout=20", str(src / name), r.rsync_url], check=True, timeout=30)
        done = fc.complete(r.id)
        assert (done.plot_path, done.size_bytes) == (str(Path(r.drive_path) / name), 2 * MiB)
        assert fc.list_reservations() == ()
        with pytest.raises(errors.NotFound):
            fc.renew(r.id)
        with pytest.raises(PlotAlreadyThere) as held:
            fc.reserve(name, 2 * MiB, "plotter-01")
        assert held.value.kind in ("archived", "present") and held.value.drive == r.drive_path

        # release: the temp file of a dead transfer goes
        name2 = plot(2)
        r2 = fc.reserve(name2, 2 * MiB, "plotter-01")
        temp = Path(r2.drive_path) / f".{name2}.AbC123"
        temp.write_bytes(b"x" * 1000)
        assert fc.release(r2.id) == (str(temp),)
        assert not temp.exists()
        with pytest.raises(errors.NotFound):
            fc.release(r2.id)


def test_a_plot_put_on_a_drive_by_hand_is_present(tmp_path: Path, rsyncd: RsyncDaemon, farmer: str) -> None:
    name = plot(3)
    (rsyncd.path / "d1" / name).write_bytes(b"\0" * (2 * MiB))
    with FarmerClient(farmer, token=CONTROL) as fc:

        def present() -> bool:
            try:
                fc.release(fc.reserve(name, 2 * MiB, "plotter-01").id)
            except PlotAlreadyThere as e:
                return e.kind == "present" and e.drive == str(rsyncd.path / "d1")
            return False

        wait_for(present)


def test_refusals_map_to_the_error_tree(tmp_path: Path, farmer: str) -> None:
    with FarmerClient(farmer, token=CONTROL) as fc:
        with pytest.raises(errors.InvalidArgument, match="plot name"):
            fc.reserve("not-a-plot.plot", MiB, "plotter-01")
        with pytest.raises(errors.InsufficientSpace, match="no drive can take"):
            fc.reserve(plot(4, k=40), 2**45, "plotter-01")
        with pytest.raises(errors.InvalidArgument):
            fc.complete("not-an-id")
        with pytest.raises(errors.NotFound):
            fc.complete("0" * 32)
    with FarmerClient(farmer, token=READ) as fc:
        assert len(fc.list_drives().drives) == 2
        with pytest.raises(errors.PermissionDenied):
            fc.reserve(plot(5), MiB, "plotter-01")
    with FarmerClient(farmer, token="x" * 32) as fc, pytest.raises(errors.Unauthenticated):
        fc.list_drives()
    with FarmerClient(farmer) as fc, pytest.raises(errors.Unauthenticated):
        fc.list_drives()


def test_an_unreachable_farmer_is_unavailable_and_a_bad_address_a_config_error() -> None:
    with FarmerClient(f"127.0.0.1:{free_port()}", timeout_s=2.0) as fc:
        with pytest.raises(FarmerUnavailable, match="UNAVAILABLE"):
            fc.list_drives()
        with pytest.raises(FarmerUnavailable):
            fc.reserve(plot(6), MiB, "plotter-01")
    with pytest.raises(errors.ConfigError, match="HOST:PORT"):
        FarmerClient("no-port-here")
