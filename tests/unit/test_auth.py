"""The RPC role table, token semantics and peer classification (pure parts of plotboss.auth)."""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest

from plotboss.auth import RPC_ROLES, Role, TokenSet, bearer_from_metadata, is_loopback_peer, resolve_tokens
from plotboss.config import MIN_TOKEN_LENGTH, SecretSource, TokensConfig
from plotboss.errors import ConfigError
from plotboss.v1 import farmer_pb2, plotter_pb2

READ = "r" * 20 + "-read-token"
CONTROL = "c" * 20 + "-control-token"


def _service_methods() -> list[str]:
    out = []
    for module, service in ((plotter_pb2, "PlotterService"), (farmer_pb2, "FarmerService")):
        desc = module.DESCRIPTOR.services_by_name[service]
        out += [f"/{desc.full_name}/{m.name}" for m in desc.methods]
    return out


def test_every_rpc_of_both_services_is_classified() -> None:
    methods = _service_methods()
    assert len(methods) >= 20  # both services are really there
    missing = [m for m in methods if m not in RPC_ROLES]
    assert not missing, f"add these RPCs to plotboss.auth.RPC_ROLES: {missing}"


def test_role_table_has_no_stale_entries_and_agent_rpcs_are_never_open() -> None:
    methods = set(_service_methods())
    for name, role in RPC_ROLES.items():
        if name.startswith("/plotboss.v1."):
            assert name in methods, f"{name} is in RPC_ROLES but in no service descriptor"
            assert role in (Role.READ, Role.CONTROL), name


@pytest.mark.parametrize(
    ("rpc", "role"),
    [
        ("/plotboss.v1.PlotterService/ListJobs", Role.READ),
        ("/plotboss.v1.PlotterService/KillJob", Role.CONTROL),
        ("/plotboss.v1.PlotterService/PauseScheduler", Role.CONTROL),
        ("/plotboss.v1.FarmerService/ListDrives", Role.READ),
        ("/plotboss.v1.FarmerService/Reserve", Role.CONTROL),
        ("/grpc.health.v1.Health/Check", Role.OPEN),
    ],
)
def test_representative_classifications(rpc: str, role: Role) -> None:
    assert RPC_ROLES[rpc] == role


def test_role_of_semantics() -> None:
    tokens = TokenSet(read=(READ,), control=(CONTROL,))
    assert tokens.enabled
    assert tokens.role_of(READ) == Role.READ
    assert tokens.role_of(CONTROL) == Role.CONTROL
    assert tokens.role_of("") is None
    assert tokens.role_of(READ[:-1]) is None  # a prefix is not the token
    assert tokens.role_of(READ + "x") is None
    assert tokens.role_of(READ.upper()) is None
    # a token listed under both roles grants the stronger one
    both = TokenSet(read=(CONTROL,), control=(CONTROL,))
    assert both.role_of(CONTROL) == Role.CONTROL
    assert not TokenSet().enabled
    assert TokenSet().role_of(READ) is None


def test_role_of_compares_every_token_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    tokens = TokenSet(read=(READ, READ + "2"), control=(CONTROL,))
    assert tokens.role_of(CONTROL) == Role.CONTROL
    # no early exit: every configured token was compared, whatever matched first
    assert len(calls) == 3
    assert {b for _a, b in calls} == {READ.encode(), (READ + "2").encode(), CONTROL.encode()}


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (None, None),
        ((), None),
        ((("x-other", "1"),), None),
        ((("authorization", "Bearer abc"),), "abc"),
        ((("authorization", "bearer  abc "),), "abc"),
        ((("authorization", b"Bearer abc"),), "abc"),
        ((("authorization", "Basic abc"),), ""),  # present but unusable: counts as a wrong token, not a missing one
        ((("authorization", "Bearer"),), ""),
    ],
)
def test_bearer_from_metadata(metadata: object, expected: str | None) -> None:
    assert bearer_from_metadata(metadata) == expected


@pytest.mark.parametrize(
    ("peer", "loopback"),
    [
        ("ipv4:127.0.0.1:5555", True),
        ("ipv4:127.3.2.1:5555", True),
        ("ipv6:%5B::1%5D:5555", True),  # how grpc >= 1.5x writes IPv6 peers
        ("ipv6:[::1]:5555", True),
        ("ipv6:%5B::ffff:127.0.0.1%5D:5555", True),
        ("unix:/run/plotboss.sock", True),
        ("ipv4:192.0.2.7:5555", False),
        ("ipv4:10.127.0.1:5555", False),
        ("ipv6:%5Bfd00::2%5D:5555", False),
        ("ipv6:%5B::ffff:192.0.2.7%5D:5555", False),
        ("ipv6:%5Bfe80::1%25eth0%5D:5555", False),
        ("ipv4:127.0.0.1.evil.example:5555", False),
        ("garbage", False),
        ("", False),
    ],
)
def test_loopback_peer(peer: str, loopback: bool) -> None:
    assert is_loopback_peer(peer) is loopback


def test_resolve_tokens_from_file_env_and_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "read.token"
    f.write_text(READ + "\n")
    monkeypatch.setenv("PLOTBOSS_TEST_CONTROL", CONTROL)
    cfg = TokensConfig(
        read=[SecretSource(file=f)],
        control=[SecretSource(env="PLOTBOSS_TEST_CONTROL"), SecretSource(value="v" * MIN_TOKEN_LENGTH)],
    )
    assert resolve_tokens(cfg, "x.yaml: agent.tokens") == TokenSet(
        read=(READ,), control=(CONTROL, "v" * MIN_TOKEN_LENGTH)
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("  \n", "is empty"),
        ("short", f"at least {MIN_TOKEN_LENGTH} characters"),
        ("a" * 20 + " " + "b" * 20, "without white space"),
        ("\u00e9" * 20, "printable ASCII"),  # gRPC metadata is ASCII: such a token could never be sent
        (b"\xff\xfe0123456789abcdef0123", "not UTF-8 text"),  # e.g. made with head -c 32 /dev/urandom
    ],
)
def test_resolve_tokens_refuses_bad_files(tmp_path: Path, content: str | bytes, message: str) -> None:
    f = tmp_path / "t"
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    cfg = TokensConfig(read=[SecretSource(value=READ)], control=[SecretSource(file=f)])
    with pytest.raises(ConfigError) as exc:
        resolve_tokens(cfg, "p.yaml: agent.tokens")
    assert str(exc.value).startswith("p.yaml: agent.tokens.control[0]: ")
    assert message in str(exc.value)


def test_resolve_tokens_missing_file_and_unset_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLOTBOSS_TEST_UNSET", raising=False)
    with pytest.raises(ConfigError, match=r"^p.yaml: agent.tokens.read\[0\]: cannot read file .*nope"):
        resolve_tokens(TokensConfig(read=[SecretSource(file=tmp_path / "nope")]), "p.yaml: agent.tokens")
    with pytest.raises(ConfigError, match=r"^p.yaml: agent.tokens.read\[0\]: environment variable PLOTBOSS_TEST_UNSET"):
        resolve_tokens(TokensConfig(read=[SecretSource(env="PLOTBOSS_TEST_UNSET")]), "p.yaml: agent.tokens")
