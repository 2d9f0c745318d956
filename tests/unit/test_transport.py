"""Pure parts of plotboss.transport: addresses and the listen policy."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from plotboss.config import ServerTlsConfig
from plotboss.errors import ConfigError
from plotboss.transport import check_listen_policy, is_loopback_host, split_host_port


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:8470", ("127.0.0.1", 8470)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:65535", ("localhost", 65535)),
        ("farmer-01:8471", ("farmer-01", 8471)),
    ],
)
def test_split_host_port(address: str, expected: tuple[str, int]) -> None:
    assert split_host_port(address) == expected


@pytest.mark.parametrize(
    "address", ["127.0.0.1", ":8470", "host:", "host:port", "host:65536", "host:-1", "", "host:\u00b2", "host:\u0668"]
)
def test_split_host_port_refuses(address: str) -> None:
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        split_host_port(address)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.2", False),
        ("farmer-01", False),
        ("localhost.evil.example", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_listen_policy(caplog: pytest.LogCaptureFixture) -> None:
    tls = ServerTlsConfig(cert=Path("/c.pem"), key=Path("/k.pem"))
    with caplog.at_level(logging.WARNING, logger="plotboss.transport"):
        check_listen_policy("127.0.0.1:0", None, False, "x")
        check_listen_policy("[::1]:0", None, False, "x")
        check_listen_policy("0.0.0.0:8470", tls, False, "x")
        assert not caplog.records
        with pytest.raises(ConfigError) as exc:
            check_listen_policy("0.0.0.0:8470", None, False, "p.yaml: agent.listen")
        message = str(exc.value)
        assert message.startswith("p.yaml: agent.listen: refusing to listen on 0.0.0.0:8470 without TLS")
        assert "agent.tls" in message and "--insecure" in message and "127.0.0.1" in message
        with pytest.raises(ConfigError):
            check_listen_policy("[::]:0", None, False, "x")
        check_listen_policy("0.0.0.0:8470", None, True, "x", warn=False)
        assert not caplog.records
        check_listen_policy("0.0.0.0:8470", None, True, "x")
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "WITHOUT TLS" in caplog.records[0].getMessage()
