"""`plotboss-cli archive [status] | pause | resume` and the archive line of `status`, the real CLI as a subprocess:

- against a real plotter agent (a process) without an archiver: DISABLED with the reason, pause refused (exit 1);
- against a plotter agent served in this process with tokens, whose archiver is the in-process fake behind the
  servicer's seam (ArchiverControl): every field shown and in --json, a read token cannot pause (PERMISSION_DENIED,
  the archiver never called), a control token can, the state shows in `status`; a fleet with an agent that is gone
  (exit 1, the other still shown) and --plotter-name.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from plotboss.auth import TokenSet
from plotboss.transport import Server, dial, serve
from plotboss.v1 import plotter_pb2, plotter_pb2_grpc
from plotter_agent.app import PlotterAgent
from plotter_agent.config import PlotterConfig
from testbed.agents import plotter_config, start_agent, write_yaml
from testbed.procs import FakeTable
from tests.archfake import PLOT_A, PLOT_B, FakeArchiver

CLI = Path(sys.executable).parent / "plotboss-cli"
READ_TOKEN = "read-" + "e5" * 16
CONTROL_TOKEN = "control-" + "f6" * 16


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False
    )


@dataclass
class Served:
    archiver: FakeArchiver
    address: str
    read_fleet: Path
    control_fleet: Path
    two_fleet: Path  # plotter-01 (read token) and plotter-02, where nothing listens


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    config = PlotterConfig.model_validate(plotter_config(tmp_path / "p", name="plotter-01"))
    agent = PlotterAgent(config, tmp_path / "plotter.yaml", table=FakeTable([]))
    fake = FakeArchiver()
    agent.servicer.archiver = fake  # the seam: what the agent's archiver loop will be
    server: Server = serve(
        agent.registrations(),
        "127.0.0.1:0",
        tls=None,
        tokens=TokenSet(read=(READ_TOKEN,), control=(CONTROL_TOKEN,)),
    )
    agent.start()
    address = f"127.0.0.1:{server.port}"
    (tmp_path / "read.token").write_text(READ_TOKEN + "\n")
    (tmp_path / "control.token").write_text(CONTROL_TOKEN + "\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"  # closed again: nothing listens there

    def fleet(name: str, token: str, *extra: dict[str, Any]) -> Path:
        member = {"name": "plotter-01", "address": address, "token_file": token}
        return write_yaml(tmp_path / name, {"version": 1, "plotters": [member, *extra]})

    try:
        yield Served(
            fake,
            address,
            fleet("read.yaml", "read.token"),
            fleet("control.yaml", "control.token"),
            fleet("two.yaml", "read.token", {"name": "plotter-02", "address": dead}),
        )
    finally:
        server.stop(0)
        agent.stop()


def test_archive_shows_everything_and_only_a_control_token_pauses(served: Served) -> None:
    r = run("--fleet", str(served.read_fleet), "archive", "--json")
    assert r.returncode == 0, r.stderr
    (p,) = json.loads(r.stdout)["plotters"]
    assert (p["name"], p["address"], p["ok"], p["error"]) == ("plotter-01", served.address, True, None)
    a = p["archive"]
    assert a["state"] == "running" and a["max_concurrent_transfers"] == 1 and a["plots_waiting"] == 3
    assert [t["plot_name"] for t in a["active"]] == [PLOT_A] and a["active"][0]["progress"] == 0.4
    assert [t["outcome"] for t in a["recent"]] == ["failed", "done"] and a["recent"][0]["plot_name"] == PLOT_B
    assert [d["path"] for d in a["dirs"]] == ["/mnt/dst/00", "/mnt/dst/01"]
    assert [(f["name"], f["reachable"]) for f in a["farmers"]] == [("farmer-01", True), ("farmer-02", False)]

    for args in (("archive",), ("archive", "status", "--plotter-name", "plotter-*")):
        r = run("--fleet", str(served.read_fleet), *args)
        assert r.returncode == 0, r.stderr
        out = r.stdout
        assert out.startswith(f"plotter-01 ({served.address})\n  state        running: max_concurrent_transfers")
        assert "in flight\n" in out and "████░░░░░░  40%" in out and "1.0 MiB/s" in out
        assert "/mnt/dst/00      2  26.7 MiB" in out
        assert "farmer-02  127.0.0.1:8472       0        0 B  UNREACHABLE since" in out
        assert "last results" in out and "rsync exit 10" in out and "retry in 20 s on another farmer" in out

    # a read token reads but cannot pause: refused before the servicer, the archiver never asked
    r = run("--fleet", str(served.read_fleet), "archive", "pause")
    assert r.returncode == 1 and "PERMISSION_DENIED" in r.stderr and "read token" in r.stderr, r.stderr
    assert r.stdout == "" and served.archiver.calls == []
    with dial(served.address, token=READ_TOKEN, timeout_s=10) as ch:
        stub = plotter_pb2_grpc.PlotterServiceStub(ch)
        assert stub.GetArchiveStatus(plotter_pb2.GetArchiveStatusRequest()).state == plotter_pb2.ARCHIVER_STATE_RUNNING
        for call in (
            lambda: stub.PauseArchiver(plotter_pb2.PauseArchiverRequest()),
            lambda: stub.ResumeArchiver(plotter_pb2.ResumeArchiverRequest()),
        ):
            with pytest.raises(grpc.RpcError) as e:
                call()
            assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert served.archiver.calls == []

    # a control token pauses; the state shows in `archive` and in the archive line of `status`
    r = run("--fleet", str(served.control_fleet), "archive", "pause")
    assert (r.returncode, r.stdout, r.stderr) == (0, "plotter-01: archiver paused\n", ""), r.stderr
    assert served.archiver.calls == ["pause"]
    r = run("--fleet", str(served.read_fleet), "status", "--json")
    assert r.returncode == 0, r.stderr
    (p,) = json.loads(r.stdout)["plotters"]
    assert p["archive"]["state"] == "paused" and p["jobs"] == []
    r = run("--fleet", str(served.read_fleet), "status")
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("archive: "))
    assert line.startswith("archive: paused, 1 in flight (40%), 3 plots waiting (40.1 MiB), last error ")
    assert line.endswith("plot-k18-2026-12-07-20-05-b2b2b2b2….plot: rsync exit 10: error in socket IO (code 10) at "
                         "clientserver.c(139)")  # fmt: skip
    r = run("--fleet", str(served.control_fleet), "archive", "resume", "--plotter-name", "plotter-01")
    assert (r.returncode, r.stdout) == (0, "plotter-01: archiver running\n"), r.stderr
    assert served.archiver.calls == ["pause", "resume"]

    # usage errors: exit 2, nothing asked
    r = run("--fleet", str(served.control_fleet), "archive", "--json", "pause")
    assert r.returncode == 2 and "--json goes with" in r.stderr
    r = run("--fleet", str(served.control_fleet), "archive", "pause", "--plotter-name", "plotter-09")
    assert r.returncode == 2 and "plotter-09" in r.stderr and "Traceback" not in r.stderr
    assert served.archiver.calls == ["pause", "resume"]


def test_a_fleet_with_an_agent_gone_exits_1_and_still_shows_the_other(served: Served) -> None:
    r = run("--fleet", str(served.two_fleet), "--timeout", "3", "archive", "--json")
    assert r.returncode == 1
    one, two = json.loads(r.stdout)["plotters"]
    assert one["ok"] and one["archive"]["state"] == "running"
    assert not two["ok"] and two["archive"] is None and two["error"].startswith("unreachable")
    assert "plotboss-cli: plotter-02 (" in r.stderr
    r = run("--fleet", str(served.two_fleet), "--timeout", "3", "archive")
    assert r.returncode == 1 and r.stdout.startswith("plotter-01 (") and "plotter-02" not in r.stdout
    r = run("--fleet", str(served.two_fleet), "archive", "--plotter-name", "plotter-01")
    assert r.returncode == 0 and "plotter-02" not in r.stdout + r.stderr


def test_a_real_agent_without_an_archiver(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    cfg = write_yaml(tmp_path / "plotter.yaml", plotter_config(tmp_path, name="plotter-01"))
    agent, port = start_agent("plotboss-plotter", cfg)
    procs.append(agent)
    address = f"127.0.0.1:{port}"
    r = run("--plotter", address, "archive", "--json")
    assert r.returncode == 0, r.stderr
    (p,) = json.loads(r.stdout)["plotters"]
    assert p["archive"]["state"] == "disabled" and "no farmers configured" in p["archive"]["reason"]
    assert p["archive"]["active"] == [] and p["archive"]["dirs"] == []
    r = run("--plotter", address, "archive")
    assert r.returncode == 0 and r.stdout.splitlines() == [
        f"{address} ({address})",
        "  state        disabled: no farmers configured (archiving.farmers), plots stay in the dst dirs",
    ]
    r = run("--plotter", address, "status")
    assert r.returncode == 0, r.stderr
    assert "archive: disabled: no farmers configured (archiving.farmers), plots stay in the dst dirs" in r.stdout
    for verb in ("pause", "resume"):  # the CLI finds the agent's local credential: refused for being disabled
        r = run("--plotter", address, "archive", verb)
        assert r.returncode == 1 and "FAILED_PRECONDITION" in r.stderr and "archiver is disabled" in r.stderr
        assert "Traceback" not in r.stderr
