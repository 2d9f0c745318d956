"""The feeds behind `plotboss-cli watch` against real plotter and farmer agents (subprocesses on loopback), without a
terminal: one TCP connection per agent for the whole run (never a new channel per refresh), the agent's dirs and
drives, an agent going away and coming back on the same port, and the command's refusals (exit 2, no traceback)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import psutil
import pytest

from cli.targets import Target
from cli.watch_feeds import FarmerFeed, PlotterFeed
from cli.watch_view import enum_name
from plotboss.transport import dial
from plotboss.v1 import plotter_pb2, plotter_pb2_grpc
from plotter_agent.app import PlotterAgent
from plotter_agent.config import PlotterConfig
from testbed.agents import farmer_config, plotter_config, serve_in_process, start_agent, write_yaml
from testbed.clock import VirtualClock
from testbed.procs import FakeTable, proc
from tests.conftest import SAMPLES

CLI = Path(sys.executable).parent / "plotboss-cli"


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def client_sides(port: int) -> set[tuple[int, str]]:
    """(local port, state) of every TCP connection on this machine to 127.0.0.1:port from its client side, closed ones
    in TIME_WAIT included (they stay for a minute): a channel opened and closed per poll leaves one per poll."""
    out = set()
    for c in psutil.net_connections(kind="tcp"):
        if c.raddr and c.laddr and c.raddr.port == port and c.raddr.ip in ("127.0.0.1", "::ffff:127.0.0.1"):
            out.add((c.laddr.port, c.status))
    return out


def my_connections(port: int) -> set[int]:
    """Local ports of this process's established TCP connections to 127.0.0.1:port."""
    return {
        c.laddr.port
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    }


@pytest.mark.slow
def test_feeds_keep_one_connection_and_follow_agents_away_and_back(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    pcfg = write_yaml(tmp_path / "plotter.yaml", plotter_config(tmp_path / "p", name="plotter-01", poll_s=0.5))
    fcfg = write_yaml(tmp_path / "farmer.yaml", farmer_config(tmp_path / "f", name="farmer-01"))
    plotter, pport = start_agent("plotboss-plotter", pcfg)
    farmer, fport = start_agent("plotboss-farmer", fcfg)
    procs += [plotter, farmer]
    # what was there before we dialled (a connection an earlier holder of the port left in TIME_WAIT)
    before_p, before_f = client_sides(pport), client_sides(fport)
    pfeed = PlotterFeed(Target("plotter", "plotter-01", f"127.0.0.1:{pport}", None, None), 0.2, 5.0, time.time)
    ffeed = FarmerFeed(Target("farmer", "farmer-01", f"127.0.0.1:{fport}", None, None), 0.2, 5.0, time.time)
    try:
        wait_for("the plotter's dirs", lambda: bool(pfeed.snap().dirs))
        wait_for("the farmer's drives", lambda: bool(ffeed.snap().drives))
        p, f = pfeed.snap(), ffeed.snap()
        assert p.reach.seen and p.reach.down_since is None
        assert {d.path for d in p.dirs} >= {str(tmp_path / "p" / "tmp"), str(tmp_path / "p" / "dst")}
        assert [d.path for d in f.drives] == [str(tmp_path / "f" / "farm" / "d0")]
        # one connection per agent, the same one across many polls (0.2 s apart): the stream and the polls share it
        first_p, first_f = my_connections(pport), my_connections(fport)
        assert len(first_p) == 1 and len(first_f) == 1, (first_p, first_f)
        polled = [0]

        def many_polls() -> bool:
            polled[0] += 1
            assert my_connections(pport) == first_p and my_connections(fport) == first_f
            return polled[0] >= 20  # ~ 1 s: five polls of each agent

        wait_for("polls on the same connections", many_polls)
        # and no connection was opened and closed between the samples (only we dial these fresh ports)
        assert client_sides(pport) - before_p == {(*first_p, psutil.CONN_ESTABLISHED)}
        assert client_sides(fport) - before_f == {(*first_f, psutil.CONN_ESTABLISHED)}

        # the scheduler and archiver lines hold what the agent answers (asked here on the test's own channel); an
        # agent without them (UNIMPLEMENTED) has none and is not taken as down for it
        channel = dial(f"127.0.0.1:{pport}")
        try:
            stub = plotter_pb2_grpc.PlotterServiceStub(channel)
            for got, ask in (
                (p.scheduler, lambda: stub.GetSchedulerStatus(plotter_pb2.GetSchedulerStatusRequest())),
                (p.archive, lambda: stub.GetArchiveStatus(plotter_pb2.GetArchiveStatusRequest())),
            ):
                try:
                    direct = ask()
                except grpc.RpcError as e:
                    assert e.code() == grpc.StatusCode.UNIMPLEMENTED and got is None
                else:
                    assert got is not None and enum_name(got, "state") == enum_name(direct, "state")
        finally:
            channel.close()

        # the farmer goes away: its feed says since when; it comes back on the same port and is up again
        farmer.kill()
        farmer.wait(10)
        t_kill = time.time()
        wait_for("the farmer down", lambda: ffeed.snap().reach.down_since is not None, 20)
        down = ffeed.snap().reach
        assert down.down_since is not None and t_kill - 1 <= down.down_since <= time.time()
        assert down.error and down.error.startswith("unreachable")
        assert pfeed.snap().reach.down_since is None  # the plotter is still up
        farmer, port = start_agent("plotboss-farmer", fcfg, "--listen", f"127.0.0.1:{fport}")
        procs.append(farmer)
        assert port == fport
        wait_for("the farmer up again", lambda: ffeed.snap().reach.down_since is None, 30)
        assert ffeed.snap().drives and len(my_connections(fport)) == 1

        # the plotter likewise: its jobs stream and polls come back on the channel it had
        plotter.kill()
        plotter.wait(10)
        wait_for("the plotter down", lambda: pfeed.snap().reach.down_since is not None, 20)
        plotter, port = start_agent("plotboss-plotter", pcfg, "--listen", f"127.0.0.1:{pport}")
        procs.append(plotter)
        wait_for("the plotter up again", lambda: pfeed.snap().reach.down_since is None, 30)
        wait_for("one connection to the plotter again", lambda: len(my_connections(pport)) == 1, 10)
    finally:
        pfeed.close()
        ffeed.close()


def test_jobs_are_polled_while_the_agent_refuses_the_watch_stream(tmp_path: Path) -> None:
    """An agent at its cap of streams answers WatchJobs with RESOURCE_EXHAUSTED: the feed lists the jobs instead."""
    config = PlotterConfig.model_validate(plotter_config(tmp_path))
    log = tmp_path / "logs" / "job.log"
    log.write_bytes((SAMPLES / "chiapos-2.0.12-k18.plot.log").read_bytes()[:3000])  # a k18 job in phase 1
    cmd = ("python3", "/v/bin/chia", "plots", "create", "-k", "18", "-t", str(tmp_path / "tmp"), "-d", "/d")
    table = FakeTable([proc(10, cmd, fds=((1, str(log)), (2, str(log))), create_time=1000.0)])
    agent = PlotterAgent(config, tmp_path / "plotter.yaml", table=table, clock=VirtualClock(5000.0))
    served = serve_in_process(agent, max_workers=11)  # room for one stream (11 - 8 spare - 2 health watches)
    holder = dial(served.address, timeout_s=60)
    feed = None
    try:
        held = plotter_pb2_grpc.PlotterServiceStub(holder).WatchJobs(plotter_pb2.WatchJobsRequest())
        for _first in held:  # the one stream the agent allows is ours from its first message
            break
        feed = f = PlotterFeed(Target("plotter", "plotter-01", served.address, None, None), 0.2, 5.0, time.time)
        wait_for("the job, listed", lambda: [j.pid for j in f.snap().jobs] == [10], 20)
        assert feed.poll_jobs and feed.snap().reach.down_since is None
    finally:
        if feed is not None:
            feed.close()
        holder.close()
        served.stop()


def test_watch_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), *args, "watch"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )

    r = run("--plotter", "127.0.0.1:1")  # no terminal
    assert r.returncode == 2 and "watch needs a terminal" in r.stderr and "Traceback" not in r.stderr
    r = run()
    assert r.returncode == 2 and "no agents to watch" in r.stderr
    r = run("--fleet", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "missing.yaml" in r.stderr and "Traceback" not in r.stderr
    empty = write_yaml(tmp_path / "fleet.yaml", {"version": 1})
    r = run("--fleet", str(empty))
    assert r.returncode == 2 and "lists no plotters and no farmers" in r.stderr
    r = run("--plotter", "not-an-address")
    assert r.returncode == 2 and "--plotter" in r.stderr and "Traceback" not in r.stderr
