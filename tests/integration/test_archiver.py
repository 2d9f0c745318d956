"""The archiver in a real plotter agent (in this process) against a real farmer agent and rsync daemon: plots leave
the dst dir by themselves, land byte-identical, and a source goes only after its Complete."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from farmer_agent.app import FarmerAgent
from plotboss.config import parse_config
from plotter_agent.app import PlotterAgent
from plotter_agent.config import PlotterConfig
from plotter_agent.farmer_client import FarmerClient
from testbed.agents import LOCAL_TOKEN, InProcess
from testbed.rsyncd import RsyncDaemon
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
        assert a.archiver is not None
        wait_for(lambda: len(landed(rsyncd.path)) == 3 and not list((root / "dst").glob("*.plot")), 60, "3 plots")
        st = a.archiver.status()
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
        assert a.archiver is not None
        wait_for(lambda: not list((root / "dst").glob("*.plot")), 60, "both sources gone")
        st = a.archiver.status()
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
