"""The archiver in a real plotter agent (in this process) against a real farmer agent and rsync daemon: plots leave
the dst dir by themselves, land byte-identical, and a source goes only after its Complete."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from farmer_agent.app import FarmerAgent
from plotboss.config import parse_config
from plotter_agent.app import PlotterAgent
from plotter_agent.archive.records import rsync_processes
from plotter_agent.archive.recovery import find_transfers
from plotter_agent.config import PlotterConfig
from plotter_agent.farmer_client import FarmerClient
from testbed.agents import LOCAL_TOKEN, InProcess
from testbed.rsyncd import RsyncDaemon
from testbed.standin import start_chia_job
from tests.integration.archive_fixtures import (
    K18,
    in_process_farmer,
    landed,
    make_plots,
    name,
    plotter_data,
    sha256,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def farmer(tmp_path: Path, rsyncd: RsyncDaemon) -> Iterator[InProcess[FarmerAgent]]:
    yield from in_process_farmer(tmp_path, rsyncd)


def agent(root: Path, data: dict[str, object]) -> PlotterAgent:
    cfg = parse_config(data, PlotterConfig, "plotter.yaml")
    a = PlotterAgent(cfg, root / "plotter.yaml")
    a.start()
    return a


def test_plots_are_archived_by_themselves(tmp_path: Path, rsyncd: RsyncDaemon, farmer: InProcess[FarmerAgent]) -> None:
    root = tmp_path / "p"
    digests = make_plots(root / "dst", range(1, 4))
    a = agent(root, plotter_data(root, farmer.address))
    try:
        arch = a.archiver
        assert arch is not None
        wait_for(lambda: arch.status().archived_plots == 3, 60, "3 plots archived")
        st = arch.status()
        assert len(landed(rsyncd.path)) == 3 and not list((root / "dst").glob("*.plot"))
    finally:
        a.stop()
    got = landed(rsyncd.path)
    assert {n: sha256(p) for n, p in got.items()} == digests
    assert st.archived_plots == 3 and st.archived_bytes == 3 * K18
    assert [v.outcome for v in st.recent] == ["done"] * 3
    # every push log is marked handled
    logs = sorted(p.name for p in (root / "transfers").iterdir())
    assert logs and all(n.endswith(".done") for n in logs), logs
    with FarmerClient(farmer.address, token=LOCAL_TOKEN) as fc:
        assert fc.list_reservations() == ()


def test_a_plot_the_farmer_holds_whole_is_not_sent_again(
    tmp_path: Path, rsyncd: RsyncDaemon, farmer: InProcess[FarmerAgent]
) -> None:
    root = tmp_path / "p"
    digests = make_plots(root / "dst", range(1, 3))
    held = root / "dst" / name(1)
    (rsyncd.path / "d1").mkdir(parents=True, exist_ok=True)
    copy = rsyncd.path / "d1" / held.name  # landed before a crash: whole under its final name
    copy.write_bytes(held.read_bytes())
    before = os.stat(copy)
    a = agent(root, plotter_data(root, farmer.address))
    try:
        arch = a.archiver
        assert arch is not None
        wait_for(lambda: arch.status().archived_plots == 2, 60, "both plots archived")
        st = arch.status()
        assert not list((root / "dst").glob("*.plot"))
    finally:
        a.stop()
    after = os.stat(copy)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not written again
    assert {n: sha256(p) for n, p in landed(rsyncd.path).items()} == digests
    held_view = [v for v in st.recent if v.plot_name == held.name]
    assert held_view and "ConfirmPlot" in held_view[0].next_step and held_view[0].outcome == "done"
    assert not list((root / "transfers").glob(f"{held.name}.*"))  # no push of it ever began


def test_pause_survives_a_restart_and_stops_new_transfers(
    tmp_path: Path, rsyncd: RsyncDaemon, farmer: InProcess[FarmerAgent]
) -> None:
    root = tmp_path / "p"
    data = plotter_data(root, farmer.address)
    a = agent(root, data)
    try:
        assert a.archiver is not None
        assert a.archiver.pause().state == "paused"
    finally:
        a.stop()
    make_plots(root / "dst", range(1, 2))
    b = agent(root, data)
    try:
        assert b.archiver is not None
        st = b.archiver.status()
        assert st.state == "paused"
        wait_for(lambda: b.archiver is not None and b.archiver.status().pass_time is not None, 10, "a pass")
        assert list((root / "dst").glob("*.plot")) and not landed(rsyncd.path)
        b.archiver.resume()
        wait_for(lambda: not list((root / "dst").glob("*.plot")), 60, "the plot archived after resume")
    finally:
        b.stop()


def test_a_real_plot_finished_by_a_job_is_archived_byte_identical(
    tmp_path: Path, rsyncd: RsyncDaemon, farmer: InProcess[FarmerAgent], procs: list[subprocess.Popen[bytes]]
) -> None:
    """A chiapos k18 job writes into the dst dir while the agent runs; paused until it is done (to take its digest),
    then the archiver sends it by itself."""
    root = tmp_path / "p"
    data = plotter_data(root, farmer.address)
    a = agent(root, data)
    try:
        assert a.archiver is not None
        a.archiver.pause()
        job = start_chia_job(18, root / "tmp", root / "dst", root / "logs" / "job.log")
        procs.append(job)
        assert job.wait(timeout=180) == 0, (root / "logs" / "job.log").read_text(errors="replace")
        (plot,) = (root / "dst").glob("plot-k18-*.plot")
        digest = sha256(plot)
        a.archiver.resume()
        wait_for(lambda: not plot.exists(), 60, "the job's plot archived")
    finally:
        a.stop()
    assert {n: sha256(p) for n, p in landed(rsyncd.path).items()} == {plot.name: digest}


def test_an_abandoned_reservation_of_ours_is_released_and_the_plot_sent(
    tmp_path: Path, rsyncd: RsyncDaemon, farmer: InProcess[FarmerAgent]
) -> None:
    """The agent died between Reserve and starting rsync: its reservation is in force with no push. The restarted
    agent's Reserve answers ALREADY_EXISTS (reserved); it is ours and nobody works on it, so it is released."""
    root = tmp_path / "p"
    digests = make_plots(root / "dst", range(1, 2))
    (plot,) = (root / "dst").glob("*.plot")
    with FarmerClient(farmer.address, token=LOCAL_TOKEN) as fc:
        stale = fc.reserve(plot.name, K18, "plotter-01")
        a = agent(root, plotter_data(root, farmer.address))
        try:
            wait_for(lambda: not plot.exists(), 60, "the plot archived")
        finally:
            a.stop()
        assert fc.list_reservations() == ()
    assert {n: sha256(p) for n, p in landed(rsyncd.path).items()} == digests
    assert not (root / "transfers" / f"{plot.name}.{stale.id}.rsync.log").exists()


def test_a_killed_push_resumes_on_its_reservation(
    tmp_path: Path, rsyncd: RsyncDaemon, farmer: InProcess[FarmerAgent]
) -> None:
    """SIGKILL of rsync mid-push: the archiver pushes again to the same reservation (resuming from the partial dir)
    and completes it; nothing lands twice, the first run's log is marked failed, the second's done."""
    root = tmp_path / "p"
    digests = make_plots(root / "dst", range(1, 2), k=20)
    (plot,) = (root / "dst").glob("*.plot")
    transfers = root / "transfers"
    a = agent(root, plotter_data(root, farmer.address, rsync={"bwlimit_kbps": 2000}))
    try:
        wait_for(lambda: bool(find_transfers(rsync_processes(), str(transfers))), 30, "the push to start")
        ((pid, first),) = find_transfers(rsync_processes(), str(transfers))
        time.sleep(1.0)
        os.kill(pid, signal.SIGKILL)
        arch = a.archiver
        assert arch is not None
        wait_for(lambda: arch.status().archived_plots == 1, 60, "the resumed push to complete")
        st = arch.status()
        assert not plot.exists()
    finally:
        a.stop()
    assert {n: sha256(p) for n, p in landed(rsyncd.path).items()} == digests
    logs = sorted(p.name for p in transfers.iterdir())
    assert len(logs) == 2 and all(n.startswith(f"{plot.name}.{first.reservation_id}.rsync.log.") for n in logs), logs
    assert f".{pid}.failed" in " ".join(logs) and sum(n.endswith(".done") for n in logs) == 1
    assert [v.outcome for v in st.recent] == ["done", "failed"] and "killed by signal 9" in st.recent[1].error
