"""The archiver keeps no state: SIGKILL the plotter agent (a real process) mid-push and start it again. The push runs
on (its own session), is adopted, not duplicated, and completed; a push that ended while the agent was down is
completed by the restarted agent from its log."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from farmer_agent.app import FarmerAgent
from plotter_agent.archive.records import rsync_processes
from plotter_agent.archive.recovery import find_transfers
from plotter_agent.farmer_client import FarmerClient
from testbed.agents import LOCAL_TOKEN, InProcess, start_agent, write_yaml
from testbed.children import stop_process
from testbed.rsyncd import RsyncDaemon
from tests.integration.archive_fixtures import in_process_farmer, landed, make_plots, plotter_data, sha256, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def farmer(tmp_path: Path, rsyncd: RsyncDaemon) -> Iterator[InProcess[FarmerAgent]]:
    yield from in_process_farmer(tmp_path, rsyncd)


def our_pushes(log_dir: Path) -> dict[int, str]:
    """pid -> plot of the rsync pushes whose log is in log_dir."""
    return {pid: t.plot_name for pid, t in find_transfers(rsync_processes(), str(log_dir))}


def start_plotter(root: Path, data: dict[str, object], n: int) -> subprocess.Popen[bytes]:
    config = write_yaml(root / "plotter.yaml", data)
    proc, _port = start_agent("plotboss-plotter", config, output=root / f"agent-{n}.out")
    return proc


def kill_pushes(log_dir: Path) -> None:
    for pid in our_pushes(log_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_push_running_across_an_agent_kill_is_adopted_not_duplicated(
    tmp_path: Path, rsyncd: RsyncDaemon, farmer: InProcess[FarmerAgent]
) -> None:
    root = tmp_path / "p"
    digests = make_plots(root / "dst", range(1, 2), k=20)
    data = plotter_data(root, farmer.address, rsync={"bwlimit_kbps": 1500})
    transfers = root / "transfers"
    agent = start_plotter(root, data, 1)
    seen: set[int] = set()
    try:
        wait_for(lambda: bool(our_pushes(transfers)), 30, "the push to start")
        seen |= set(our_pushes(transfers))
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        time.sleep(1.0)
        assert set(our_pushes(transfers)) == seen, "the push did not outlive the agent"
        agent = start_plotter(root, data, 2)

        def done() -> bool:
            seen.update(our_pushes(transfers))
            return not list((root / "dst").glob("*.plot"))

        wait_for(done, 60, "the adopted push to be completed and its source deleted")
    finally:
        stop_process(agent)
        kill_pushes(transfers)
    assert len(seen) == 1, f"pushes seen: {seen} (duplicated)"
    assert {n: sha256(p) for n, p in landed(rsyncd.path).items()} == digests
    (pid,) = seen
    marked = [p.name for p in transfers.iterdir()]
    assert len(marked) == 1 and marked[0].endswith(f".rsync.log.{pid}.done"), marked
    with FarmerClient(farmer.address, token=LOCAL_TOKEN) as fc:
        assert fc.list_reservations() == ()
    log2 = (root / "agent-2.out").read_text()
    assert "adopted the running push" in log2 and "Traceback" not in log2


def test_a_push_that_ended_while_the_agent_was_down_is_completed_after_restart(
    tmp_path: Path, rsyncd: RsyncDaemon, farmer: InProcess[FarmerAgent]
) -> None:
    root = tmp_path / "p"
    digests = make_plots(root / "dst", range(1, 2), k=20)
    (plot,) = (root / "dst").glob("*.plot")
    data = plotter_data(root, farmer.address, rsync={"bwlimit_kbps": 4000})
    transfers = root / "transfers"
    agent = start_plotter(root, data, 1)
    try:
        wait_for(lambda: bool(our_pushes(transfers)), 30, "the push to start")
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        wait_for(lambda: not our_pushes(transfers), 60, "the push to end while the agent is down")
        assert plot.exists()  # nobody completed it yet: the source stays
        assert plot.name in landed(rsyncd.path)
        with FarmerClient(farmer.address, token=LOCAL_TOKEN) as fc:
            assert [r.plot_name for r in fc.list_reservations()] == [plot.name]  # not completed yet
        agent = start_plotter(root, data, 2)
        wait_for(lambda: not plot.exists(), 30, "the restarted agent to complete it and delete the source")
    finally:
        stop_process(agent)
        kill_pushes(transfers)
    assert {n: sha256(p) for n, p in landed(rsyncd.path).items()} == digests
    marked = [p.name for p in transfers.iterdir()]
    assert len(marked) == 1 and marked[0].endswith(".done"), marked
    with FarmerClient(farmer.address, token=LOCAL_TOKEN) as fc:
        assert fc.list_reservations() == ()
    assert "ended while the agent was down" in (root / "agent-2.out").read_text()
