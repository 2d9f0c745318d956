"""What one listening agent accepts: request sizes, and its port to itself (real agents, real processes)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import psutil
import pytest

from plotboss.transport import MAX_REQUEST_BYTES
from testbed.agents import farmer_config, plotter_config, start_agent, write_yaml
from testbed.children import stop_process

TOKEN = "r" * 32
MiB = 1024 * 1024
READ_METHOD = {"plotter": "/plotboss.v1.PlotterService/ListJobs", "farmer": "/plotboss.v1.FarmerService/ListDrives"}


def _config(kind: str, root: Path, **agent: object) -> Path:
    make = plotter_config if kind == "plotter" else farmer_config
    return write_yaml(root / f"{kind}.yaml", make(root, **agent))


def _padded_request(size: int) -> bytes:
    """An empty request message (ListJobsRequest, ListDrivesRequest) carrying an unknown field of ``size`` bytes:
    valid protobuf that any agent would parse (and keep in memory) if it accepted it."""
    key = bytes([(100 << 3 | 2) & 0x7F | 0x80, (100 << 3 | 2) >> 7])
    length = bytearray()
    n = size
    while True:
        byte = n & 0x7F
        n >>= 7
        length.append(byte | (0x80 if n else 0))
        if not n:
            break
    return key + bytes(length) + b"\0" * size


def _code(channel: grpc.Channel, method: str, request: bytes, token: str | None) -> str:
    call = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    md: tuple[tuple[str, str | bytes], ...] | None = (("authorization", f"Bearer {token}"),) if token else None
    try:
        call(request, metadata=md, timeout=30)
    except grpc.RpcError as e:
        return e.code().name
    return "OK"


@pytest.mark.parametrize("kind", ["plotter", "farmer"])
def test_oversized_requests_are_refused_and_do_not_balloon_the_agent(tmp_path: Path, kind: str) -> None:
    """Before: 15 MiB requests were accepted (cap 16 MiB), and without a token took an agent from 59 MiB to 1.2 GiB."""
    (tmp_path / "token").write_text(TOKEN)
    config = _config(kind, tmp_path, tokens={"read": [{"file": str(tmp_path / "token")}]})
    proc, port = start_agent(f"plotboss-{kind}", config)
    method = READ_METHOD[kind]
    try:
        agent = psutil.Process(proc.pid)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            assert _code(ch, method, _padded_request(100), TOKEN) == "OK"  # a real request, padded a little
            assert _code(ch, method, _padded_request(MAX_REQUEST_BYTES - 100), TOKEN) == "OK"
            before = agent.memory_info().rss
            big = _padded_request(15 * MiB)
            with ThreadPoolExecutor(4) as pool:  # 4 at a time: the test's own copies stay bounded
                codes = list(pool.map(lambda i: _code(ch, method, big, TOKEN if i % 2 else None), range(16)))
            after = agent.memory_info().rss
        assert codes[1::2] == ["RESOURCE_EXHAUSTED"] * 8  # with a token: over the size cap
        # without one: refused before the request is read (or, past the cap, as it arrives)
        assert set(codes[0::2]) <= {"UNAUTHENTICATED", "RESOURCE_EXHAUSTED"}
        assert after - before < 64 * MiB, f"RSS grew by {(after - before) / MiB:.0f} MiB"
    finally:
        stop_process(proc)


def test_a_second_agent_on_a_taken_port_exits_2_naming_the_address(tmp_path: Path) -> None:
    """Before: gRPC's default SO_REUSEPORT let the second agent start too, and the two split the connections."""
    first, port = start_agent("plotboss-plotter", _config("plotter", tmp_path / "a"))
    try:
        second_config = _config("plotter", tmp_path / "b")
        exe = Path(sys.executable).parent / "plotboss-plotter"
        second = subprocess.Popen(
            [str(exe), "--config", str(second_config), "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _out, err = second.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            stop_process(second)
            pytest.fail(f"a second agent started on 127.0.0.1:{port}, where another agent listens")
        assert second.returncode == 2
        assert f"--listen: cannot listen on 127.0.0.1:{port}" in err.decode()
        assert b"Traceback" not in err
    finally:
        stop_process(first)


@pytest.mark.parametrize("kind", ["plotter", "farmer"])
def test_unparsable_requests_leave_no_traceback_in_the_log(tmp_path: Path, kind: str) -> None:
    """Before: grpc logged a full traceback for each one, so any client could flood the agent's log."""
    out = tmp_path / "agent.out"
    proc, port = start_agent(f"plotboss-{kind}", _config(kind, tmp_path), output=out)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            for method in (READ_METHOD[kind], "/grpc.health.v1.Health/Check"):
                for _ in range(3):
                    assert _code(ch, method, b"\xff\xff\xff", None) == "INTERNAL"
            assert _code(ch, READ_METHOD[kind], b"", None) == "OK"  # the agent is fine
    finally:
        stop_process(proc)
    log = out.read_text()
    assert "Traceback" not in log and "deserializing" not in log, log
