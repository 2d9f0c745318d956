"""Fleet commands against real agents on loopback when some of them fail: one answers, one is frozen (SIGSTOP), one
is killed (SIGKILL) while the command waits on it, one is a real gRPC server that answers only after the deadline.
Every command ends within --timeout plus a margin, exits 1, and still shows the agent that answered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from plotboss.v1 import farmer_pb2, farmer_pb2_grpc, plotter_pb2, plotter_pb2_grpc
from testbed.agents import farmer_config, plotter_config, start_agent, write_yaml
from testbed.children import stop_process

CLI = Path(sys.executable).parent / "plotboss-cli"
TIMEOUT_S = 3.0
#: CLI start-up on a busy 2-core machine plus fan_out's margin; far below the 30 s the slow server sleeps.
BOUND_S = TIMEOUT_S + 7.0
LATE_S = 30.0


class LatePlotter(plotter_pb2_grpc.PlotterServiceServicer):
    """Answers every read only after LATE_S (or when released at teardown)."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def _late(self) -> None:
        self.release.wait(LATE_S)

    def ListJobs(self, request: Any, context: Any) -> plotter_pb2.ListJobsResponse:
        self._late()
        return plotter_pb2.ListJobsResponse()

    def ListDirs(self, request: Any, context: Any) -> plotter_pb2.ListDirsResponse:
        self._late()
        return plotter_pb2.ListDirsResponse()

    def AnalyzeLogs(self, request: Any, context: Any) -> plotter_pb2.AnalyzeLogsResponse:
        self._late()
        return plotter_pb2.AnalyzeLogsResponse()

    def GetJob(self, request: Any, context: Any) -> plotter_pb2.GetJobResponse:
        self._late()
        return plotter_pb2.GetJobResponse()


class LateFarmer(farmer_pb2_grpc.FarmerServiceServicer):
    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def ListDrives(self, request: Any, context: Any) -> farmer_pb2.ListDrivesResponse:
        self.release.wait(LATE_S)
        return farmer_pb2.ListDrivesResponse()

    def ListReservations(self, request: Any, context: Any) -> farmer_pb2.ListReservationsResponse:
        self.release.wait(LATE_S)
        return farmer_pb2.ListReservationsResponse()


@dataclass
class Fleet:
    file: Path
    plotters: list[subprocess.Popen[bytes]]  # plotter-01 ok, plotter-02 frozen, plotter-03 killed mid-command
    farmers: list[subprocess.Popen[bytes]]  # farmer-01 ok, farmer-02 frozen, farmer-03 killed mid-command

    def freeze(self) -> None:
        for p in (*self.plotters[1:], *self.farmers[1:]):
            os.kill(p.pid, signal.SIGSTOP)

    def kill_later(self, proc: subprocess.Popen[bytes], after_s: float) -> threading.Timer:
        """SIGKILL ``proc`` (frozen, so the CLI is waiting on it) ``after_s`` into the command, unless already dead."""

        def kill() -> None:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)

        t = threading.Timer(after_s, kill)
        t.start()
        return t


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    release = threading.Event()
    late = grpc.server(ThreadPoolExecutor(max_workers=8))
    servicer = LatePlotter(release)  # type: ignore[abstract]  # the stubs mark every RPC abstract; the rest are unused
    plotter_pb2_grpc.add_PlotterServiceServicer_to_server(servicer, late)
    farmer = LateFarmer(release)  # type: ignore[abstract]  # the stubs mark every RPC abstract; the rest are unused
    farmer_pb2_grpc.add_FarmerServiceServicer_to_server(farmer, late)
    late_port = late.add_insecure_port("127.0.0.1:0")
    late.start()
    plotters: list[subprocess.Popen[bytes]] = []
    farmers: list[subprocess.Popen[bytes]] = []
    try:
        entries: dict[str, list[dict[str, str]]] = {"plotters": [], "farmers": []}
        for i in range(3):
            name = f"plotter-0{i + 1}"
            cfg = write_yaml(tmp_path / name / "plotter.yaml", plotter_config(tmp_path / name, name=name))
            proc, port = start_agent("plotboss-plotter", cfg)
            plotters.append(proc)
            entries["plotters"].append({"name": name, "address": f"127.0.0.1:{port}"})
            name = f"farmer-0{i + 1}"
            cfg = write_yaml(tmp_path / name / "farmer.yaml", farmer_config(tmp_path / name, name=name))
            proc, port = start_agent("plotboss-farmer", cfg)
            farmers.append(proc)
            entries["farmers"].append({"name": name, "address": f"127.0.0.1:{port}"})
        entries["plotters"].append({"name": "plotter-04", "address": f"127.0.0.1:{late_port}"})
        entries["farmers"].append({"name": "farmer-04", "address": f"127.0.0.1:{late_port}"})
        file = write_yaml(tmp_path / "fleet.yaml", {"version": 1, **entries})
        yield Fleet(file, plotters, farmers)
    finally:
        release.set()
        late.stop(0)
        for p in (*plotters, *farmers):
            stop_process(p)


def run(fleet: Fleet, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    r = subprocess.run(
        [str(CLI), "--fleet", str(fleet.file), "--timeout", str(TIMEOUT_S), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return r, time.monotonic() - t0


def check_rows(entries: list[dict[str, Any]], kind: str) -> None:
    by_name = {e["name"]: e for e in entries}
    assert list(by_name) == [f"{kind}-0{i}" for i in (1, 2, 3, 4)], list(by_name)
    assert by_name[f"{kind}-01"]["ok"] is True and by_name[f"{kind}-01"]["error"] is None
    assert by_name[f"{kind}-02"]["error"] == "no answer before the deadline (--timeout)"  # frozen
    assert by_name[f"{kind}-03"]["error"].startswith("unreachable")  # killed while the CLI waited on it
    assert by_name[f"{kind}-04"]["error"] == "no answer before the deadline (--timeout)"  # answers too late
    assert not any(by_name[f"{kind}-0{i}"]["ok"] for i in (2, 3, 4))


@pytest.mark.slow
def test_every_fleet_command_is_bounded_and_shows_who_answered(fleet: Fleet) -> None:
    fleet.freeze()
    for args, key, kind in (
        (("status", "--json"), "plotters", "plotter"),
        (("dirs", "--json"), "plotters", "plotter"),
        (("analyze", "--json"), "plotters", "plotter"),
        (("drives", "--json"), "farmers", "farmer"),
        (("reservations", "--json"), "farmers", "farmer"),
    ):
        # the -03 agent of each kind is killed during the first command of its kind; later ones find it dead
        killer = fleet.kill_later(fleet.plotters[2] if kind == "plotter" else fleet.farmers[2], 1.0)
        r, took = run(fleet, *args)
        killer.join()
        assert took < BOUND_S, (args, took)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
        check_rows(json.loads(r.stdout)[key], kind)
    text_commands: tuple[tuple[tuple[str, ...], str], ...] = (
        (("status",), "plotter"),
        (("dirs",), "plotter"),
        (("drives",), "farmer"),
        (("reservations",), "farmer"),
        (("analyze", "--csv"), "plotter"),
    )
    for cmd, kind in text_commands:
        r, took = run(fleet, *cmd)
        assert took < BOUND_S, (cmd, took)
        assert r.returncode == 1, (cmd, r.stdout, r.stderr)
        assert f"{kind}-01" in r.stdout or cmd[0] == "analyze"  # (plotter-01's log dir is empty: a CSV header only)
        for i in (2, 3, 4):
            assert f"plotboss-cli: {kind}-0{i} (" in r.stderr, (cmd, r.stderr)
    # a job control command looks the job up on every plotter: bounded too, exit 1, naming who failed
    r, took = run(fleet, "suspend", "abcdef")
    assert took < BOUND_S and r.returncode == 1, (took, r.stderr)
    assert "plotter-02: no answer before the deadline" in r.stderr and "plotter-04" in r.stderr


@pytest.mark.slow
def test_plotter_name_picks_agents(fleet: Fleet) -> None:
    fleet.freeze()
    r, took = run(fleet, "status", "--json", "--plotter-name", "plotter-01")
    assert r.returncode == 0, r.stderr
    assert [p["name"] for p in json.loads(r.stdout)["plotters"]] == ["plotter-01"]
    assert took < BOUND_S
    r, _ = run(fleet, "dirs", "--json", "--plotter-name", "plotter-0[14]")
    assert r.returncode == 1
    assert [(p["name"], p["ok"]) for p in json.loads(r.stdout)["plotters"]] == [
        ("plotter-01", True),
        ("plotter-04", False),
    ]
    r, _ = run(fleet, "status", "--plotter-name", "plotter-99")
    assert r.returncode == 2
    assert "--plotter-name 'plotter-99': no such agent (known: plotter-01, plotter-02" in r.stderr


def test_a_large_fleet_of_late_agents_is_one_deadline_not_several(tmp_path: Path) -> None:
    """70 agents that all answer late: every call starts at once, so the command takes one --timeout, not one per
    batch of a thread pool (with 32 threads: three batches, 3 x --timeout)."""
    release = threading.Event()
    late = grpc.server(ThreadPoolExecutor(max_workers=80), maximum_concurrent_rpcs=None)
    servicer = LatePlotter(release)  # type: ignore[abstract]  # the stubs mark every RPC abstract; the rest are unused
    plotter_pb2_grpc.add_PlotterServiceServicer_to_server(servicer, late)
    port = late.add_insecure_port("127.0.0.1:0")
    late.start()
    try:
        members = [{"name": f"plotter-{i:02d}", "address": f"127.0.0.1:{port}"} for i in range(70)]
        file = write_yaml(tmp_path / "fleet.yaml", {"version": 1, "plotters": members})
        fleet = Fleet(file, [], [])
        r, took = run(fleet, "status", "--json")
        assert r.returncode == 1, r.stderr
        rows = json.loads(r.stdout)["plotters"]
        assert [p["name"] for p in rows] == [m["name"] for m in members]
        assert {p["error"] for p in rows} == {"no answer before the deadline (--timeout)"}
        assert took < 2 * TIMEOUT_S + 2.0, took  # one deadline and start-up, not three deadlines
    finally:
        release.set()
        late.stop(0)
