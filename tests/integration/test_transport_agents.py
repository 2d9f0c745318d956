"""Both agents as real subprocesses: health, reflection, the listen policy, graceful shutdown."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from plotboss.localcred import local_token
from plotboss.transport import OPEN_STREAMS, dial
from plotboss.v1 import farmer_pb2, farmer_pb2_grpc, plotter_pb2, plotter_pb2_grpc
from testbed.agents import farmer_config, plotter_config, start_agent, write_yaml
from testbed.children import stop_process

SERVICES = {"plotter": "plotboss.v1.PlotterService", "farmer": "plotboss.v1.FarmerService"}
SCRIPTS = {"plotter": "plotboss-plotter", "farmer": "plotboss-farmer"}


def _config(kind: str, root: Path, **agent: object) -> Path:
    data = plotter_config(root, **agent) if kind == "plotter" else farmer_config(root, **agent)
    return write_yaml(root / f"{kind}.yaml", data)


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """A plotter and a farmer without TLS or tokens, on 127.0.0.1; kind -> port."""
    started: list[subprocess.Popen[bytes]] = []
    ports: dict[str, int] = {}
    try:
        for kind in ("plotter", "farmer"):
            root = tmp_path_factory.mktemp(kind)
            proc, port = start_agent(SCRIPTS[kind], _config(kind, root), output=root / "agent.out")
            started.append(proc)
            ports[kind] = port
        yield ports
    finally:
        for p in started:
            stop_process(p)


@pytest.mark.parametrize("kind", ["plotter", "farmer"])
def test_health_serving_overall_and_per_service(agents: dict[str, int], kind: str) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{agents[kind]}") as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        for service in ("", SERVICES[kind]):
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING, service
        with pytest.raises(grpc.RpcError) as exc:
            stub.Check(health_pb2.HealthCheckRequest(service="plotboss.v1.NoSuchService"), timeout=5)
        assert exc.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("kind", ["plotter", "farmer"])
def test_reflection_lists_the_service(agents: dict[str, int], kind: str) -> None:
    with dial(f"127.0.0.1:{agents[kind]}", timeout_s=5) as ch:
        db = ProtoReflectionDescriptorDatabase(ch)
        services = set(db.get_services())
        assert SERVICES[kind] in services
        assert "grpc.health.v1.Health" in services
        other = SERVICES["farmer" if kind == "plotter" else "plotter"]
        assert other not in services
        # reflection serves the full descriptor, so grpcurl can call the RPCs
        fd = db.FindFileContainingSymbol(SERVICES[kind])
        assert fd.package == "plotboss.v1"
        assert SERVICES[kind].rsplit(".", 1)[1] in [s.name for s in fd.service]


@pytest.mark.parametrize("kind", ["plotter", "farmer"])
def test_non_loopback_listen_without_tls_is_refused(tmp_path: Path, kind: str) -> None:
    config = _config(kind, tmp_path)
    exe = Path(sys.executable).parent / SCRIPTS[kind]
    run = subprocess.run(
        [str(exe), "--config", str(config), "--listen", "0.0.0.0:0", "--port-file", str(tmp_path / "port")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2, run.stderr
    assert "refusing to listen on 0.0.0.0:0 without TLS" in run.stderr
    assert "agent.tls" in run.stderr and "--insecure" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "port").exists()  # nothing started


def test_non_loopback_listen_in_config_is_refused_naming_the_file(tmp_path: Path) -> None:
    config = _config("farmer", tmp_path, listen="0.0.0.0:0")
    exe = Path(sys.executable).parent / SCRIPTS["farmer"]
    run = subprocess.run([str(exe), "--config", str(config)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    assert f"{config}: agent.listen: refusing to listen on 0.0.0.0:0 without TLS" in run.stderr


@pytest.mark.parametrize("kind", ["plotter", "farmer"])
def test_insecure_starts_warns_and_stops_on_sigterm(tmp_path: Path, kind: str) -> None:
    # pipes, not an output file: the warning must be on stderr (the agent says little, the pipes cannot fill)
    proc, port = start_agent(SCRIPTS[kind], _config(kind, tmp_path), "--listen", "0.0.0.0:0", "--insecure", pipes=True)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=8)
        assert proc.returncode == 0
        assert time.monotonic() - t0 < 5
    finally:
        stop_process(proc)
    stderr = err.decode()
    warnings = [line for line in stderr.splitlines() if "WARNING" in line]
    tls = [line for line in warnings if "TLS" in line]
    assert len(tls) == 1, stderr  # warned once, at start
    assert "WITHOUT TLS (--insecure)" in tls[0] and "0.0.0.0:0" in tls[0]
    # and, without tokens, that anyone who can reach it may read (control needs the local credential)
    (open_reads,) = [line for line in warnings if "no tokens configured" in line]
    assert "anyone who can reach this address may call the read RPCs" in open_reads
    assert "Traceback" not in stderr
    assert b"listening on 0.0.0.0:" in out


def test_sigint_also_exits_cleanly(tmp_path: Path) -> None:
    proc, port = start_agent(SCRIPTS["plotter"], _config("plotter", tmp_path), output=tmp_path / "agent.out")
    try:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=8) == 0
    finally:
        stop_process(proc)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch, pytest.raises(grpc.RpcError) as exc:
        health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=1)
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE


def test_open_health_watches_have_their_own_small_pool(agents: dict[str, int]) -> None:
    """Health Watch needs no credential; counted with the other streams, a client without a token could hold every
    stream slot and lock out authenticated watches (a review did exactly that with 24 watches)."""
    with grpc.insecure_channel(f"127.0.0.1:{agents['plotter']}") as ch:
        health = health_pb2_grpc.HealthStub(ch)
        watches = [health.Watch(health_pb2.HealthCheckRequest(), timeout=30) for _ in range(OPEN_STREAMS)]
        try:
            for w in watches:
                assert next(iter(w)).status == health_pb2.HealthCheckResponse.SERVING
            extra = health.Watch(health_pb2.HealthCheckRequest(), timeout=10)
            with pytest.raises(grpc.RpcError) as exc:
                next(iter(extra))
            assert exc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "health watches" in (exc.value.details() or "")
            # the watches that need a credential (open here: no tokens configured) still get a slot
            jobs = plotter_pb2_grpc.PlotterServiceStub(ch).WatchJobs(plotter_pb2.WatchJobsRequest(), timeout=10)
            assert next(iter(jobs)) is not None
            jobs.cancel()  # type: ignore[no-untyped-call]
        finally:
            for w in watches:
                w.cancel()


def test_a_huge_bad_name_is_still_invalid_argument(agents: dict[str, int]) -> None:
    """The error quotes only the start of a bad name: quoted whole, 100 KB of details overflowed the client's
    trailer limit and INVALID_ARGUMENT arrived as RESOURCE_EXHAUSTED. (60 KB: just under what an agent accepts in
    one request, far over the 16 KiB trailer limit.)"""
    address = f"127.0.0.1:{agents['farmer']}"
    with dial(address, token=local_token(address), timeout_s=10) as ch:
        stub = farmer_pb2_grpc.FarmerServiceStub(ch)
        with pytest.raises(grpc.RpcError) as exc:
            stub.Reserve(farmer_pb2.ReserveRequest(plot_name="x" * 60_000, size_bytes=2**20, requester="p"), timeout=10)
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert len(exc.value.details() or "") < 400
