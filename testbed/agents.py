"""The agents under test: minimal valid configs, launching plotter/farmer agents as real processes
(``start_agent``) or in this process on loopback (``serve_in_process``), and small gRPC helpers for calling them."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import grpc
import yaml

from plotboss.auth import TokenSet
from plotboss.plots import plot_size
from plotboss.transport import Server, ServiceRegistration, dial, serve
from plotboss.v1 import farmer_pb2, farmer_pb2_grpc, plotter_pb2, plotter_pb2_grpc
from testbed.children import stop_process

#: The local credential of in-process test servers without tokens (``TokenSet(local=(LOCAL_TOKEN,))``): as for a real
#: agent, control without tokens needs it (agents started as processes make their own; see plotboss.localcred).
LOCAL_TOKEN = "local-" + "d4" * 16


def plotter_config(root: Path, **agent: Any) -> dict[str, Any]:
    """A plotter.yaml mapping whose dirs live under ``root``; ``agent`` keys override the agent section."""
    for d in ("tmp", "dst", "logs"):
        (root / d).mkdir(parents=True, exist_ok=True)
    return {
        "version": 1,
        "agent": {"name": "plotter-test", "listen": "127.0.0.1:0", "grace_s": 2, **agent},
        "logging": {"plots": str(root / "logs")},
        "directories": {"tmp": [str(root / "tmp")], "dst": [str(root / "dst")]},
    }


def farmer_config(root: Path, **agent: Any) -> dict[str, Any]:
    """A farmer.yaml mapping with one drive dir under ``root`` (not a mount point, allowed on purpose)."""
    (root / "farm" / "d0").mkdir(parents=True, exist_ok=True)
    return {
        "version": 1,
        "agent": {"name": "farmer-test", "listen": "127.0.0.1:0", "grace_s": 2, **agent},
        "drives": {"paths": [str(root / "farm" / "*")], "allow_non_mount": True},
        "rsyncd": {"host": "127.0.0.1", "module": "plots", "path": str(root / "farm")},
    }


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def code_of(call: Callable[[], Any]) -> grpc.StatusCode:
    """Run one call; OK when it returns (a stream is read to its end), else the status code it failed with."""
    try:
        result = call()
        if hasattr(result, "__next__"):
            for _ in result:
                pass
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


def error_of(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    """Like code_of, with the status details ('' on success)."""
    try:
        call()
    except grpc.RpcError as e:
        return e.code(), e.details() or ""
    return grpc.StatusCode.OK, ""


# One representative read and control RPC of each service, all implemented: an allowed call answers OK, so a test
# can tell "allowed and done" from "past auth but failing" (UNIMPLEMENTED, INTERNAL). They are harmless on a test
# agent: listing; cleaning the orphans of a plotter whose dirs hold none; reserving space for a small plot on a
# farmer and releasing that reservation at once.
def plotter_read(channel: grpc.Channel, **kw: Any) -> Callable[[], Any]:
    stub = plotter_pb2_grpc.PlotterServiceStub(channel)
    return lambda: stub.ListJobs(plotter_pb2.ListJobsRequest(), **kw)


def plotter_control(channel: grpc.Channel, **kw: Any) -> Callable[[], Any]:
    stub = plotter_pb2_grpc.PlotterServiceStub(channel)
    return lambda: stub.CleanOrphans(plotter_pb2.CleanOrphansRequest(), **kw)


def farmer_read(channel: grpc.Channel, **kw: Any) -> Callable[[], Any]:
    stub = farmer_pb2_grpc.FarmerServiceStub(channel)
    return lambda: stub.ListDrives(farmer_pb2.ListDrivesRequest(), **kw)


def farmer_control(channel: grpc.Channel, **kw: Any) -> Callable[[], Any]:
    """Reserve room for a (fresh, k18-sized) plot and release it: two control RPCs, the code of the first that fails."""
    stub = farmer_pb2_grpc.FarmerServiceStub(channel)

    def call() -> Any:
        name = f"plot-k18-2021-01-01-00-00-{secrets.token_hex(32)}.plot"
        reserved = stub.Reserve(
            farmer_pb2.ReserveRequest(plot_name=name, size_bytes=plot_size(18), requester="plotter-test"), **kw
        )
        return stub.Release(farmer_pb2.ReleaseRequest(reservation_id=reserved.reservation.id), **kw)

    return call


# --- agents as real processes ---------------------------------------------------------------------------------------


def start_agent(
    console_script: str,
    config: Path,
    *extra: str,
    timeout_s: float = 20.0,
    output: Path | None = None,
    env: Mapping[str, str] | None = None,
    pipes: bool = False,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``plotboss-plotter``/``plotboss-farmer`` as a subprocess; wait until it reports its bound port.

    The agent's stdout and stderr go to ``output`` (default: the config path with suffix ``.out``), never to pipes
    nobody drains (a full pipe blocks a chatty agent). ``pipes=True`` gives pipes for a short-lived agent whose
    output the test reads with ``communicate()``. ``env`` is added to the environment.
    """
    if output is None and not pipes:
        output = config.with_suffix(".out")
    port_file = config.with_suffix(".port")
    port_file.unlink(missing_ok=True)
    exe = Path(sys.executable).parent / console_script
    sink = open(output, "wb") if output is not None else None  # noqa: SIM115  (the child keeps it open)
    try:
        proc = subprocess.Popen(
            [str(exe), "--config", str(config), "--port-file", str(port_file), *extra],
            stdout=sink or subprocess.PIPE,
            stderr=sink or subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, **env} if env else None,
        )
    finally:
        if sink is not None:
            sink.close()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return proc, int(port_file.read_text())
        if proc.poll() is not None:
            _out, err = proc.communicate()
            text = output.read_text(errors="replace") if output is not None else err.decode(errors="replace")
            raise RuntimeError(f"{console_script} exited {proc.returncode}: {text}")
        time.sleep(0.05)
    stop_process(proc)
    raise RuntimeError(f"{console_script} did not report a port within {timeout_s} s")


# --- agents in this process -----------------------------------------------------------------------------------------


class Agent(Protocol):
    """What plotter_agent.app.PlotterAgent and farmer_agent.app.FarmerAgent both are."""

    def registrations(self) -> list[ServiceRegistration]: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


A = TypeVar("A", bound=Agent)


@dataclass
class InProcess(Generic[A]):
    """An agent object serving on 127.0.0.1 from this process (no TLS, no tokens: control needs ``LOCAL_TOKEN``, as
    a real agent's needs its local credential); ``stop`` ends both."""

    agent: A
    server: Server

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def stop(self) -> None:
        self.server.stop(0)
        self.agent.stop()


def serve_in_process(agent: A, *, max_workers: int = 32) -> InProcess[A]:
    """Serve ``agent`` (built by the caller, with whatever seams it needs) on 127.0.0.1:0, then start it."""
    server = serve(
        agent.registrations(), "127.0.0.1:0", tls=None, tokens=TokenSet(local=(LOCAL_TOKEN,)), max_workers=max_workers
    )
    agent.start()
    return InProcess(agent, server)


# --- asking a plotter agent about its jobs --------------------------------------------------------------------------


def list_jobs(address: str) -> tuple[set[int], set[int], float, float] | str:
    """One ListJobs call straight to the agent: (pids of jobs, pids of jobs with a plot id, snapshot_time, poll_cpu
    seconds), or what went wrong."""
    channel = dial(address, timeout_s=5.0)
    try:
        resp = plotter_pb2_grpc.PlotterServiceStub(channel).ListJobs(plotter_pb2.ListJobsRequest())
    except grpc.RpcError as e:
        return f"ListJobs: {e.code()}: {e.details()}"
    finally:
        channel.close()
    snap = resp.snapshot_time.seconds + resp.snapshot_time.nanos / 1e9
    cpu = resp.poll_cpu.seconds + resp.poll_cpu.nanos / 1e9 if resp.HasField("poll_cpu") else float("nan")
    return {j.pid for j in resp.jobs}, {j.pid for j in resp.jobs if j.plot_id}, snap, cpu


def wait_for_jobs(address: str, pids: Sequence[int], timeout_s: float) -> tuple[float, str | None]:
    """Until the agent's ListJobs shows the jobs ``pids``, each with its plot id. Returns (seconds, problem or None)."""
    t0 = time.monotonic()
    last = "no answer yet"
    while time.monotonic() - t0 < timeout_s:
        got = list_jobs(address)
        if isinstance(got, str):
            last = got
        elif set(pids) <= got[1]:
            return time.monotonic() - t0, None
        else:
            last = f"{len(set(pids) & got[0])} of our jobs listed, {len(set(pids) & got[1])} with a plot id"
        time.sleep(0.25)
    return time.monotonic() - t0, last
