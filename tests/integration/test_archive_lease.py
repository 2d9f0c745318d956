"""LeaseKeeper against a real farmer agent with a short lease: a kept reservation outlives its lease; a stopped
keeper lets it expire; a released one is noticed as lost; an unreachable farmer is survived."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from farmer_agent.app import FarmerAgent
from farmer_agent.config import FarmerConfig
from plotboss.plots import plot_size
from plotter_agent.archive.lease import LeaseKeeper
from plotter_agent.farmer_client import FarmerClient
from testbed.agents import LOCAL_TOKEN, InProcess, serve_in_process
from testbed.rsyncd import free_port

pytestmark = pytest.mark.slow
LEASE_S = 1.5
NAME = "plot-k18-2021-05-05-12-34-" + "c" * 64 + ".plot"


@pytest.fixture
def farmer(tmp_path: Path) -> Iterator[InProcess[FarmerAgent]]:
    (tmp_path / "farm" / "d0").mkdir(parents=True)
    data: dict[str, Any] = {
        "version": 1,
        "agent": {"name": "farmer-01", "listen": "127.0.0.1:0", "poll_s": 0.2, "probe_timeout_s": 2},
        "drives": {"paths": [str(tmp_path / "farm" / "*")], "allow_non_mount": True},
        "rsyncd": {"host": "127.0.0.1", "module": "plots", "path": str(tmp_path / "farm")},
        "reservations": {"lease_s": LEASE_S, "state_file": str(tmp_path / "state.json")},
    }
    served = serve_in_process(FarmerAgent(FarmerConfig.model_validate(data), tmp_path / "farmer.yaml"))
    try:
        yield served
    finally:
        served.stop()


def ids(fc: FarmerClient) -> list[str]:
    return [r.id for r in fc.list_reservations()]


def test_kept_reservation_outlives_its_lease_and_expires_once_let_go(farmer: InProcess[FarmerAgent]) -> None:
    with FarmerClient(farmer.address, token=LOCAL_TOKEN) as fc:
        r = fc.reserve(NAME, plot_size(18), "plotter-01")
        keeper = LeaseKeeper(fc.renew, r.id, LEASE_S / 4).start()
        try:
            time.sleep(3 * LEASE_S)
            assert ids(fc) == [r.id]
            assert keeper.renewals >= 3 and not keeper.lost and keeper.last_error == ""
            assert keeper.expire_time is not None and keeper.expire_time > r.expire_time
        finally:
            keeper.stop()
        deadline = time.monotonic() + 10 * LEASE_S
        while ids(fc):
            assert time.monotonic() < deadline, "the reservation did not expire after the keeper stopped"
            time.sleep(0.1)


def test_a_released_reservation_is_lost_and_the_keeper_stops(farmer: InProcess[FarmerAgent]) -> None:
    with FarmerClient(farmer.address, token=LOCAL_TOKEN) as fc:
        r = fc.reserve(NAME, plot_size(18), "plotter-01")
        keeper = LeaseKeeper(fc.renew, r.id, 0.1).start()
        try:
            fc.release(r.id)
            deadline = time.monotonic() + 10
            while not keeper.lost:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert f"Renew: reservation {r.id}: unknown" in keeper.last_error
            calls = keeper.loop.calls
            time.sleep(0.5)
            assert keeper.loop.calls == calls  # no Renew after the farmer said it is gone
            assert keeper.loop.stop_event.is_set()
        finally:
            keeper.stop()


def test_an_unreachable_farmer_is_retried_not_fatal() -> None:
    with FarmerClient(f"127.0.0.1:{free_port()}", timeout_s=1.0) as fc:
        keeper = LeaseKeeper(fc.renew, "d" * 32, 0.1).start()
        try:
            deadline = time.monotonic() + 10
            while keeper.loop.calls < 2:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert not keeper.lost and "UNAVAILABLE" in keeper.last_error and keeper.loop.failures == 0
        finally:
            keeper.stop()
