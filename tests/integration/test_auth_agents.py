"""Bearer tokens and the no-token policy, against both agents as real subprocesses.

A refused call is UNAUTHENTICATED / PERMISSION_DENIED with the reason; an allowed one is OK (the representative RPCs
are implemented ones, so a call that got past auth but failed there is caught too).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from plotboss.localcred import local_token
from plotboss.transport import dial
from plotboss.v1 import plotter_pb2, plotter_pb2_grpc
from testbed.agents import (
    code_of,
    error_of,
    farmer_config,
    farmer_control,
    farmer_read,
    plotter_config,
    plotter_control,
    plotter_read,
    start_agent,
    write_yaml,
)
from testbed.children import stop_process

READ_TOKEN = "read-" + "a1" * 16
CONTROL_TOKEN = "control-" + "b2" * 16
SCRIPTS = {"plotter": "plotboss-plotter", "farmer": "plotboss-farmer"}
RPCS: dict[str, tuple[Callable[..., Callable[[], Any]], Callable[..., Callable[[], Any]]]] = {
    "plotter": (plotter_read, plotter_control),
    "farmer": (farmer_read, farmer_control),
}
KINDS = ["plotter", "farmer"]


def _config(kind: str, root: Path, **agent: Any) -> Path:
    data = plotter_config(root, **agent) if kind == "plotter" else farmer_config(root, **agent)
    return write_yaml(root / f"{kind}.yaml", data)


@pytest.fixture(scope="module")
def token_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """Both agents with tokens: the plotter reads its read token from a file and its control token from an env var,
    the farmer the other way round. kind -> port."""
    started: list[subprocess.Popen[bytes]] = []
    ports: dict[str, int] = {}
    try:
        for kind in KINDS:
            root = tmp_path_factory.mktemp(f"{kind}-tokens")
            file_role, env_role = ("read", "control") if kind == "plotter" else ("control", "read")
            values = {"read": READ_TOKEN, "control": CONTROL_TOKEN}
            (root / "token").write_text(values[file_role] + "\n")
            var = f"PLOTBOSS_TEST_{kind.upper()}_TOKEN"
            tokens = {file_role: [{"file": str(root / "token")}], env_role: [{"env": var}]}
            proc, port = start_agent(
                SCRIPTS[kind],
                _config(kind, root, tokens=tokens),
                output=root / "agent.out",
                env={var: values[env_role]},
            )
            started.append(proc)
            ports[kind] = port
        yield ports
    finally:
        for p in started:
            stop_process(p)


def _channel(port: int, token: str | None = None, host: str = "127.0.0.1") -> grpc.Channel:
    return dial(f"{host}:{port}", token=token, timeout_s=5)


@pytest.mark.parametrize("kind", KINDS)
def test_no_token_is_unauthenticated(token_agents: dict[str, int], kind: str) -> None:
    read, control = RPCS[kind]
    with _channel(token_agents[kind]) as ch:
        for rpc in (read, control):
            code, details = error_of(rpc(ch))
            assert code == grpc.StatusCode.UNAUTHENTICATED
            assert "requires a bearer token" in details


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("token", ["wrong-" + "c3" * 16, READ_TOKEN[:-1], CONTROL_TOKEN + "x"])
def test_wrong_token_is_unauthenticated(token_agents: dict[str, int], kind: str, token: str) -> None:
    read, control = RPCS[kind]
    with _channel(token_agents[kind], token) as ch:
        for rpc in (read, control):
            code, details = error_of(rpc(ch))
            assert code == grpc.StatusCode.UNAUTHENTICATED
            assert "not one this agent knows" in details


@pytest.mark.parametrize("kind", KINDS)
def test_read_token_reads_but_cannot_control(token_agents: dict[str, int], kind: str) -> None:
    read, control = RPCS[kind]
    with _channel(token_agents[kind], READ_TOKEN) as ch:
        assert code_of(read(ch)) == grpc.StatusCode.OK
        code, details = error_of(control(ch))
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert "is a control RPC" in details and "read token" in details


@pytest.mark.parametrize("kind", KINDS)
def test_control_token_can_read_and_control(token_agents: dict[str, int], kind: str) -> None:
    read, control = RPCS[kind]
    with _channel(token_agents[kind], CONTROL_TOKEN) as ch:
        assert code_of(read(ch)) == grpc.StatusCode.OK
        assert code_of(control(ch)) == grpc.StatusCode.OK


def test_server_stream_is_checked_too(token_agents: dict[str, int]) -> None:
    def watch(ch: grpc.Channel) -> Callable[[], Any]:
        stub = plotter_pb2_grpc.PlotterServiceStub(ch)
        return lambda: stub.WatchJobs(plotter_pb2.WatchJobsRequest(), timeout=1)

    with _channel(token_agents["plotter"]) as ch:
        assert code_of(watch(ch)) == grpc.StatusCode.UNAUTHENTICATED
    with _channel(token_agents["plotter"], READ_TOKEN) as ch:
        stream = plotter_pb2_grpc.PlotterServiceStub(ch).WatchJobs(plotter_pb2.WatchJobsRequest(), timeout=10)
        first = next(iter(stream))  # the current jobs at once (an error would raise here)
        assert first.HasField("snapshot_time")
        stream.cancel()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("kind", KINDS)
def test_health_is_open_without_token(token_agents: dict[str, int], kind: str) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{token_agents[kind]}") as ch:
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert resp.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_needs_a_read_token(token_agents: dict[str, int]) -> None:
    port = token_agents["farmer"]
    with _channel(port) as ch, pytest.raises(grpc.RpcError) as exc:
        ProtoReflectionDescriptorDatabase(ch).get_services()
    assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # dial() puts the token on the bidirectional reflection stream as well
    with _channel(port, READ_TOKEN) as ch:
        assert "plotboss.v1.FarmerService" in ProtoReflectionDescriptorDatabase(ch).get_services()


# --- token sources that are wrong: exit 2 naming the field, nothing started ---------------------------------------


def _run_agent(kind: str, config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / SCRIPTS[kind]
    port_file = config.with_suffix(".port")
    run = subprocess.run(
        [str(exe), "--config", str(config), "--port-file", str(port_file)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert not port_file.exists(), "the agent started although its tokens are wrong"
    return run


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "is empty"), ("\n\n", "is empty"), ("tooshort\n", "at least 16 characters")],
)
@pytest.mark.parametrize("kind", KINDS)
def test_bad_token_file_exits_2_naming_the_field(tmp_path: Path, kind: str, content: str, message: str) -> None:
    (tmp_path / "control.token").write_text(content)
    tokens = {"read": [{"value": READ_TOKEN}], "control": [{"file": str(tmp_path / "control.token")}]}
    config = _config(kind, tmp_path, tokens=tokens)
    run = _run_agent(kind, config)
    assert run.returncode == 2
    assert f"{config}: agent.tokens.control[0]: " in run.stderr
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_missing_token_file_and_unset_env_exit_2(tmp_path: Path) -> None:
    config = _config("plotter", tmp_path, tokens={"read": [{"file": str(tmp_path / "nope.token")}]})
    run = _run_agent("plotter", config)
    assert run.returncode == 2
    assert f"{config}: agent.tokens.read[0]: cannot read file {tmp_path / 'nope.token'}" in run.stderr

    config = _config("farmer", tmp_path, tokens={"control": [{"env": "PLOTBOSS_TEST_UNSET_TOKEN"}]})
    env = {k: v for k, v in os.environ.items() if k != "PLOTBOSS_TEST_UNSET_TOKEN"}
    run = _run_agent("farmer", config, env=env)
    assert run.returncode == 2
    assert f"{config}: agent.tokens.control[0]: environment variable PLOTBOSS_TEST_UNSET_TOKEN is empty" in run.stderr


# --- no tokens: read is open, control only with the local credential (or mTLS, see test_tls_agents) ---------------


def _local_addresses() -> list[str]:
    """This machine's non-loopback, non-link-local addresses (from `hostname -I`)."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    addrs = []
    for word in out.split():
        try:
            ip = ipaddress.ip_address(word)
        except ValueError:
            continue
        if not (ip.is_loopback or ip.is_link_local):
            addrs.append(str(ip))
    return addrs


@pytest.fixture(scope="module")
def open_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """Both agents without tokens on [::]:0 (every address, IPv4 and IPv6) with --insecure. kind -> port."""
    started: list[subprocess.Popen[bytes]] = []
    ports: dict[str, int] = {}
    try:
        for kind in KINDS:
            root = tmp_path_factory.mktemp(f"{kind}-open")
            proc, port = start_agent(
                SCRIPTS[kind], _config(kind, root), "--listen", "[::]:0", "--insecure", output=root / "agent.out"
            )
            started.append(proc)
            ports[kind] = port
        yield ports
    finally:
        for p in started:
            stop_process(p)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "localhost"])
def test_without_tokens_loopback_controls_only_with_the_local_credential(
    open_agents: dict[str, int], kind: str, host: str
) -> None:
    read, control = RPCS[kind]
    token = local_token(f"{host}:{open_agents[kind]}")
    assert token is not None  # root (these tests) can read the credential of its own agent
    with _channel(open_agents[kind], host=host) as ch:
        assert code_of(read(ch)) == grpc.StatusCode.OK
        code, details = error_of(control(ch))
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert "local credential" in details and "no tokens configured" in details
    with _channel(open_agents[kind], "wrong-" + "e5" * 16, host=host) as ch:
        assert code_of(control(ch)) == grpc.StatusCode.PERMISSION_DENIED
    with _channel(open_agents[kind], token, host=host) as ch:
        assert code_of(read(ch)) == grpc.StatusCode.OK
        assert code_of(control(ch)) == grpc.StatusCode.OK


@pytest.mark.parametrize("kind", KINDS)
def test_without_tokens_control_is_refused_from_other_hosts(open_agents: dict[str, int], kind: str) -> None:
    addrs = _local_addresses()
    if not addrs:
        pytest.skip("this machine has no non-loopback address to call the agent from (hostname -I shows none)")
    read, control = RPCS[kind]
    token = local_token(f"127.0.0.1:{open_agents[kind]}")  # the local credential is taken from loopback only, too
    for addr in addrs:
        host = f"[{addr}]" if ":" in addr else addr
        with _channel(open_agents[kind], token, host=host) as ch:
            assert code_of(read(ch)) == grpc.StatusCode.OK, addr
            code, details = error_of(control(ch))
            assert code == grpc.StatusCode.PERMISSION_DENIED, addr
            assert "no tokens configured" in details and "agent.tokens.control" in details
