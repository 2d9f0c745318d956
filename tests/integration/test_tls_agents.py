"""Server TLS and mutual TLS against real agents, with certificates made for the session (trustme)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc

from plotboss.config import ClientTlsConfig
from plotboss.localcred import local_token
from plotboss.transport import dial
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
from testbed.certs import TlsFiles
from testbed.children import stop_process
from tests.integration.test_auth_agents import _local_addresses


def _health(channel: grpc.Channel) -> Any:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)


@pytest.fixture(scope="module")
def tls_agents(tmp_path_factory: pytest.TempPathFactory, tls_files: TlsFiles) -> Iterator[dict[str, int]]:
    """A plotter with server TLS and a farmer with mutual TLS, neither with tokens, both on 0.0.0.0:0 (allowed
    without --insecure because TLS is configured). name -> port."""
    started: list[subprocess.Popen[bytes]] = []
    ports: dict[str, int] = {}
    server_tls = {"cert": str(tls_files.server_cert), "key": str(tls_files.server_key)}
    try:
        root = tmp_path_factory.mktemp("plotter-tls")
        config = write_yaml(root / "plotter.yaml", plotter_config(root, listen="0.0.0.0:0", tls=server_tls))
        proc, ports["tls"] = start_agent("plotboss-plotter", config, output=root / "agent.out")
        started.append(proc)
        assert "WITHOUT TLS" not in (root / "agent.out").read_text()

        root = tmp_path_factory.mktemp("farmer-mtls")
        mtls = {**server_tls, "client_ca": str(tls_files.ca)}
        config = write_yaml(root / "farmer.yaml", farmer_config(root, listen="0.0.0.0:0", tls=mtls))
        proc, ports["mtls"] = start_agent("plotboss-farmer", config, output=root / "agent.out")
        started.append(proc)
        yield ports
    finally:
        for p in started:
            stop_process(p)


def _client(tls_files: TlsFiles, *, ca: Path | None = None, cert: bool = False) -> ClientTlsConfig:
    return ClientTlsConfig(
        ca=ca or tls_files.ca,
        cert=tls_files.client_cert if cert else None,
        key=tls_files.client_key if cert else None,
    )


def test_server_tls_with_the_right_ca(tls_agents: dict[str, int], tls_files: TlsFiles) -> None:
    address = f"127.0.0.1:{tls_agents['tls']}"
    with dial(address, tls=_client(tls_files), timeout_s=5) as ch:
        assert _health(ch).status == health_pb2.HealthCheckResponse.SERVING
        assert code_of(plotter_read(ch)) == grpc.StatusCode.OK
        # without tokens, being on loopback is not enough to control (every local user is), over TLS as well
        assert code_of(plotter_control(ch)) == grpc.StatusCode.PERMISSION_DENIED
    # the agent's local credential is
    with dial(address, token=local_token(address), tls=_client(tls_files), timeout_s=5) as ch:
        assert code_of(plotter_control(ch)) == grpc.StatusCode.OK


@pytest.mark.parametrize("which", ["tls", "mtls"])
def test_client_trusting_the_wrong_ca_cannot_connect(
    tls_agents: dict[str, int], tls_files: TlsFiles, which: str
) -> None:
    tls = _client(tls_files, ca=tls_files.other_ca, cert=which == "mtls")
    with dial(f"127.0.0.1:{tls_agents[which]}", tls=tls, timeout_s=3) as ch:
        code, _ = error_of(lambda: _health(ch))
    assert code == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("which", ["tls", "mtls"])
def test_plaintext_client_cannot_talk_to_a_tls_agent(tls_agents: dict[str, int], which: str) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{tls_agents[which]}") as ch:
        code, _ = error_of(lambda: _health(ch))
    assert code == grpc.StatusCode.UNAVAILABLE


def test_mtls_without_a_client_certificate_is_refused(tls_agents: dict[str, int], tls_files: TlsFiles) -> None:
    with dial(f"127.0.0.1:{tls_agents['mtls']}", tls=_client(tls_files), timeout_s=3) as ch:
        code, _ = error_of(lambda: _health(ch))
    assert code == grpc.StatusCode.UNAVAILABLE


def test_mtls_with_a_certificate_from_another_ca_is_refused(
    tls_agents: dict[str, int], tls_files: TlsFiles, tmp_path: Path
) -> None:
    stranger = trustme.CA().issue_cert("stranger@elsewhere")
    stranger.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    stranger.private_key_pem.write_to_path(str(tmp_path / "c.key"))
    tls = ClientTlsConfig(ca=tls_files.ca, cert=tmp_path / "c.pem", key=tmp_path / "c.key")
    with dial(f"127.0.0.1:{tls_agents['mtls']}", tls=tls, timeout_s=3) as ch:
        code, _ = error_of(lambda: _health(ch))
    assert code == grpc.StatusCode.UNAVAILABLE


def test_mtls_with_the_client_certificate_works(tls_agents: dict[str, int], tls_files: TlsFiles) -> None:
    with dial(f"127.0.0.1:{tls_agents['mtls']}", tls=_client(tls_files, cert=True), timeout_s=5) as ch:
        assert _health(ch).status == health_pb2.HealthCheckResponse.SERVING
        assert code_of(farmer_read(ch)) == grpc.StatusCode.OK
        assert code_of(farmer_control(ch)) == grpc.StatusCode.OK


def test_from_another_host_mtls_clients_may_control_server_tls_clients_may_not(
    tls_agents: dict[str, int], tls_files: TlsFiles
) -> None:
    addrs = [a for a in _local_addresses() if ":" not in a]
    if not addrs:
        pytest.skip("this machine has no non-loopback IPv4 address to call the agents from (hostname -I)")
    for addr in addrs:
        # the server certificate names 127.0.0.1/localhost: verify it as "localhost" while connecting to addr
        server_tls = ClientTlsConfig(ca=tls_files.ca, server_name="localhost")
        with dial(f"{addr}:{tls_agents['tls']}", tls=server_tls, timeout_s=5) as ch:
            assert code_of(plotter_read(ch)) == grpc.StatusCode.OK
            code, details = error_of(plotter_control(ch))
            assert code == grpc.StatusCode.PERMISSION_DENIED, addr
            assert "mutual-TLS" in details
        mtls = ClientTlsConfig(
            ca=tls_files.ca, cert=tls_files.client_cert, key=tls_files.client_key, server_name="localhost"
        )
        with dial(f"{addr}:{tls_agents['mtls']}", tls=mtls, timeout_s=5) as ch:
            assert code_of(farmer_read(ch)) == grpc.StatusCode.OK
            assert code_of(farmer_control(ch)) == grpc.StatusCode.OK


# --- TLS files that are wrong: exit 2 naming the config file and the field --------------------------------------


def _run_farmer(config: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "plotboss-farmer"
    port_file = config.with_suffix(".port")
    run = subprocess.run(
        [str(exe), "--config", str(config), "--port-file", str(port_file)], capture_output=True, text=True, timeout=30
    )
    assert not port_file.exists()
    assert "Traceback" not in run.stderr
    return run


def test_missing_tls_file_exits_2(tmp_path: Path, tls_files: TlsFiles) -> None:
    tls = {"cert": str(tmp_path / "nope.pem"), "key": str(tls_files.server_key)}
    config = write_yaml(tmp_path / "farmer.yaml", farmer_config(tmp_path, tls=tls))
    run = _run_farmer(config)
    assert run.returncode == 2
    assert f"{config}: agent.tls.cert: cannot read {tmp_path / 'nope.pem'}" in run.stderr


def test_non_pem_tls_file_exits_2(tmp_path: Path, tls_files: TlsFiles) -> None:
    (tmp_path / "ca.txt").write_text("not a certificate\n")
    tls = {"cert": str(tls_files.server_cert), "key": str(tls_files.server_key), "client_ca": str(tmp_path / "ca.txt")}
    config = write_yaml(tmp_path / "farmer.yaml", farmer_config(tmp_path, tls=tls))
    run = _run_farmer(config)
    assert run.returncode == 2
    assert f"{config}: agent.tls.client_ca: {tmp_path / 'ca.txt'} is not a PEM file" in run.stderr


def test_key_of_another_certificate_exits_2(tmp_path: Path, tls_files: TlsFiles) -> None:
    trustme.CA().issue_cert("localhost").private_key_pem.write_to_path(str(tmp_path / "other.key"))
    tls = {"cert": str(tls_files.server_cert), "key": str(tmp_path / "other.key")}
    config = write_yaml(tmp_path / "farmer.yaml", farmer_config(tmp_path, tls=tls))
    run = _run_farmer(config)
    assert run.returncode == 2
    assert f"{config}: agent.listen: cannot listen on 127.0.0.1:0" in run.stderr
    assert "agent.tls.cert and" in run.stderr
