"""`plotboss-cli archive`, `archive pause|resume` and `status` against a real plotter agent (a process) that archives to
a real farmer agent behind a real rsync daemon on loopback: a transfer in flight with its progress, then its result,
a pause that lets the transfer in flight finish and starts no other, and a resume that archives the rest.

The pushes are held to 400 KiB/s (``--bwlimit``) so that a k18-sized plot (3.6 MiB) is in flight for ~9 s: long
enough for the CLI to see it on a loaded machine; every wait polls with a bound, nothing is asserted after a sleep.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from farmer_agent.app import FarmerAgent
from testbed.agents import InProcess, start_agent, write_yaml
from testbed.rsyncd import RsyncDaemon
from tests.integration.archive_fixtures import (
    K18,
    in_process_farmer,
    landed,
    make_plots,
    plotter_data,
    sha256,
    wait_for,
)

pytestmark = pytest.mark.slow
CLI = Path(sys.executable).parent / "plotboss-cli"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False
    )


@pytest.fixture
def farmer(tmp_path: Path, rsyncd: RsyncDaemon) -> Iterator[InProcess[FarmerAgent]]:
    yield from in_process_farmer(tmp_path, rsyncd)


def archive(address: str) -> dict[str, Any]:
    r = run("--plotter", address, "archive", "--json")
    assert r.returncode == 0, r.stderr
    (p,) = json.loads(r.stdout)["plotters"]
    assert p["ok"] and p["name"] == address
    status: dict[str, Any] = p["archive"]
    return status


def test_a_transfer_in_flight_then_its_result_pause_and_resume(
    tmp_path: Path, rsyncd: RsyncDaemon, farmer: InProcess[FarmerAgent], procs: list[subprocess.Popen[bytes]]
) -> None:
    root = tmp_path / "p"
    digests = make_plots(root / "dst", range(1, 4))
    dst = str((root / "dst").resolve())
    config = write_yaml(tmp_path / "plotter.yaml", plotter_data(root, farmer.address, rsync={"bwlimit_kbps": 400}))
    agent, port = start_agent("plotboss-plotter", config)
    procs.append(agent)
    address = f"127.0.0.1:{port}"

    # a transfer in flight: what --json, the text report and status's line show of it
    seen: list[dict[str, Any]] = []

    def in_flight() -> bool:
        st = archive(address)
        seen[:] = [st]
        return bool(st["active"]) and 0 < st["active"][0]["transferred_bytes"] < K18

    wait_for(in_flight, 60, "a transfer in flight with some bytes sent")
    st = seen[0]
    assert st["state"] == "running" and st["max_concurrent_transfers"] == 1
    (t,) = st["active"]
    assert t["plot_name"] in digests and t["dst_dir"] == dst and t["source_path"] == f"{dst}/{t['plot_name']}"
    assert t["farmer"] == "farmer-01" and t["drive_path"].startswith(str(rsyncd.path))
    assert t["size_bytes"] == K18 and t["outcome"] == "in_progress" and t["end_time"] is None
    assert 0 < t["progress"] < 1 and t["start_time"] is not None
    assert [(f["name"], f["address"], f["reachable"]) for f in st["farmers"]] == [("farmer-01", farmer.address, True)]
    assert [d["path"] for d in st["dirs"]] == [dst]
    r = run("--plotter", address, "archive")
    assert r.returncode == 0, r.stderr
    assert "in flight\n" in r.stdout and "farmer-01:" in r.stdout and "%" in r.stdout, r.stdout
    assert "farmer-01  " in r.stdout and "reachable" in r.stdout
    r = run("--plotter", address, "status")
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("archive: "))
    assert line.startswith("archive: running, ") and "plots waiting" in line, line

    # pause (the agent's local credential: the CLI on its machine): the transfer in flight ends, no other starts
    r = run("--plotter", address, "archive", "pause")
    assert (r.returncode, r.stdout) == (0, f"{address}: archiver paused\n"), r.stderr
    wait_for(lambda: not archive(address)["active"], 120, "the transfer in flight to end")
    st = archive(address)
    assert st["state"] == "paused" and st["archived_plots"] >= 1 and st["plots_waiting"] >= 1
    done = st["recent"][0]
    assert done["outcome"] == "done" and done["error"] is None and done["end_time"] >= done["start_time"]
    assert done["transferred_bytes"] == K18 and done["eta_s"] is None
    got = landed(rsyncd.path)
    assert done["plot_name"] in got and sha256(got[done["plot_name"]]) == digests[done["plot_name"]]
    assert not (root / "dst" / done["plot_name"]).exists()  # deleted after the farmer's Complete
    r = run("--plotter", address, "archive")
    assert r.returncode == 0 and "last results" in r.stdout and " done " in r.stdout, r.stdout
    waiting = {p.name for p in (root / "dst").glob("*.plot")}
    assert waiting and len(landed(rsyncd.path)) == 3 - len(waiting)
    r = run("--plotter", address, "status", "--json")
    assert json.loads(r.stdout)["plotters"][0]["archive"]["state"] == "paused"

    # resume: the rest are archived, byte-identical
    r = run("--plotter", address, "archive", "resume")
    assert (r.returncode, r.stdout) == (0, f"{address}: archiver running\n"), r.stderr
    wait_for(lambda: len(landed(rsyncd.path)) == 3 and not archive(address)["active"], 180, "every plot archived")
    st = archive(address)
    assert st["state"] == "running" and st["archived_plots"] == 3 and st["archived_bytes"] == 3 * K18
    assert st["plots_waiting"] == 0 and [t["outcome"] for t in st["recent"][:3]] == ["done"] * 3
    assert {n: sha256(p) for n, p in landed(rsyncd.path).items()} == digests
