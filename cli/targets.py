"""Which agents a CLI call talks to (fleet file or ad-hoc addresses), and fan-out over them in parallel."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import grpc

from plotboss.errors import ConfigError
from plotboss.transport import DEFAULT_TIMEOUT_S, dial, split_host_port

if TYPE_CHECKING:
    from cli.fleet import Member
    from plotboss.config import ClientTlsConfig, SecretSource

# The config models (pydantic) are imported where they are used: ad-hoc `--plotter HOST:PORT` calls without
# --token-file/--tls-ca never need them, and importing pydantic and building the models costs more start-up time than
# the call itself.

T = TypeVar("T")
Kind = Literal["plotter", "farmer"]


@dataclass(frozen=True)
class Target:
    kind: Kind
    name: str
    address: str
    token: str | None
    tls: ClientTlsConfig | None

    def channel(self, timeout_s: float) -> grpc.Channel:
        return dial(self.address, token=self.token, tls=self.tls, timeout_s=timeout_s)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    target: Target
    value: T | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def head(self) -> dict[str, Any]:
        """The keys every agent entry of --json output starts with."""
        return {"name": self.target.name, "address": self.target.address, "ok": self.ok, "error": self.error}


def report_failures(outcomes: Sequence[Outcome[Any]]) -> int:
    """Say on stderr which agents failed and why; the exit status: 1 when any did, else 0."""
    import click

    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        click.echo(f"plotboss-cli: {o.target.name} ({o.target.address}): {o.error}", err=True)
    return 1 if failed else 0


@dataclass(frozen=True)
class ClientOptions:
    fleet: Path | None
    plotters: tuple[str, ...]
    farmers: tuple[str, ...]
    token_file: Path | None
    tls_ca: Path | None
    tls_cert: Path | None
    tls_key: Path | None
    timeout_s: float = DEFAULT_TIMEOUT_S


def _token(source: SecretSource, label: str) -> str:
    from plotboss.config import read_token

    return read_token(source, label)


def _local_token(address: str) -> str | None:
    """With no token given: the local credential of an agent without tokens on this machine, when ``address`` is a
    loopback one and this user can read it (plotboss.localcred); otherwise the call goes without."""
    from plotboss.localcred import local_token

    return local_token(address)


def _check_readable(path: Path | None, label: str) -> None:
    """Read a TLS file now, so a missing one is a config error naming the option or field (exit 2), not a failed
    call per agent."""
    if path is None:
        return
    from plotboss.small_files import read_small_file

    try:
        read_small_file(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{label}: cannot read {path}: {getattr(e, 'strerror', None) or e}") from None


def _member_target(kind: Kind, m: Member, label: str, base: Path) -> Target:
    """A fleet member as a target; its relative paths are relative to the fleet file's dir (``base``)."""
    from plotboss.config import ClientTlsConfig, SecretSource

    def rel(p: Path | None) -> Path | None:
        return None if p is None else base / p

    token: str | None = None
    if m.token is not None:
        src = m.token if m.token.file is None else SecretSource(file=rel(m.token.file))
        token = _token(src, f"{label}.token")
    elif m.token_file is not None:
        token = _token(SecretSource(file=rel(m.token_file)), f"{label}.token_file")
    tls = None
    if token is None:
        token = _local_token(m.address)
    if m.tls_ca is not None:
        tls = ClientTlsConfig(
            ca=base / m.tls_ca, cert=rel(m.tls_cert), key=rel(m.tls_key), server_name=m.tls_server_name
        )
        for field, path in (("tls_ca", tls.ca), ("tls_cert", tls.cert), ("tls_key", tls.key)):
            _check_readable(path, f"{label}.{field}")
    return Target(kind=kind, name=m.name, address=m.address, token=token, tls=tls)


def resolve_targets(opts: ClientOptions, kind: Kind) -> list[Target]:
    """The agents of ``kind`` named by --plotter/--farmer, else by the fleet file. ConfigError if none."""
    adhoc = opts.plotters if kind == "plotter" else opts.farmers
    if adhoc:
        token = None
        if opts.token_file is not None:
            from plotboss.config import SecretSource

            token = _token(SecretSource(file=opts.token_file), "--token-file")
        tls = None
        if opts.tls_ca is not None:
            from plotboss.config import ClientTlsConfig

            tls = ClientTlsConfig(ca=opts.tls_ca, cert=opts.tls_cert, key=opts.tls_key)
            for option, path in (("--tls-ca", tls.ca), ("--tls-cert", tls.cert), ("--tls-key", tls.key)):
                _check_readable(path, option)
        out = []
        for addr in adhoc:
            try:
                split_host_port(addr)
            except ConfigError as e:
                raise ConfigError(f"--{kind} {e}") from None
            out.append(Target(kind=kind, name=addr, address=addr, token=token or _local_token(addr), tls=tls))
        return out
    if opts.fleet is None:
        raise ConfigError(f"no {kind}s to talk to: pass --{kind} HOST:PORT or --fleet FILE")
    from cli.fleet import FleetConfig
    from plotboss.config import load_config

    fleet = load_config(opts.fleet, FleetConfig)
    members = fleet.plotters if kind == "plotter" else fleet.farmers
    if not members:
        raise ConfigError(f"{opts.fleet}: {kind}s: the fleet file lists no {kind}s")
    section = "plotters" if kind == "plotter" else "farmers"
    base = opts.fleet.parent
    return [_member_target(kind, m, f"{opts.fleet}: {section}[{i}]", base) for i, m in enumerate(members)]


def describe_rpc_error(err: grpc.RpcError) -> str:
    """A one-line, user-facing description of a failed call."""
    code = err.code() if hasattr(err, "code") else None
    details = err.details() if hasattr(err, "details") else str(err)
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"unreachable: {details}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "no answer before the deadline (--timeout)"
    name = code.name if code is not None else "ERROR"
    return f"{name}: {details}"


def call(target: Target, timeout_s: float, fn: Callable[[grpc.Channel], T]) -> Outcome[T]:
    """Run ``fn`` against one agent; RPC failures become an Outcome with an error, never an exception."""
    try:
        channel = target.channel(timeout_s)
    except ConfigError as e:
        return Outcome(target, None, str(e))
    try:
        return Outcome(target, fn(channel), None)
    except grpc.RpcError as e:
        return Outcome(target, None, describe_rpc_error(e))
    finally:
        channel.close()


#: How long past --timeout fan_out waits for a call that has not returned (its deadline should have ended it).
FAN_OUT_MARGIN_S = 2.0


def fan_out(targets: list[Target], timeout_s: float, fn: Callable[[grpc.Channel], T]) -> list[Outcome[T]]:
    """Call every target at once, each in its own thread with its own deadline (``timeout_s``); results in the
    targets' order. Returns within ``timeout_s`` plus FAN_OUT_MARGIN_S whatever the agents do: a call still running
    then (its deadline did not end it) is an error row, and its daemon thread is left to die with the process."""
    if len(targets) == 1:
        return [call(targets[0], timeout_s, fn)]
    import threading  # only a fleet needs threads (and their import)
    import time

    results: list[Outcome[T] | None] = [None] * len(targets)

    def run(i: int) -> None:
        results[i] = call(targets[i], timeout_s, fn)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(targets))]
    for t in threads:
        t.start()
    end = time.monotonic() + timeout_s + FAN_OUT_MARGIN_S
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    return [
        r if r is not None else Outcome(targets[i], None, "no answer before the deadline (--timeout); call abandoned")
        for i, r in enumerate(results)
    ]


def select_by_name(targets: list[Target], patterns: Sequence[str], option: str) -> list[Target]:
    """The targets whose name matches one of the shell-style ``patterns`` (all when none are given); ConfigError
    naming ``option`` when a pattern matches no target."""
    if not patterns:
        return targets
    from fnmatch import fnmatchcase

    for pat in patterns:
        if not any(fnmatchcase(t.name, pat) for t in targets):
            known = ", ".join(t.name for t in targets)
            raise ConfigError(f"{option} {pat!r}: no such agent (known: {known})")
    return [t for t in targets if any(fnmatchcase(t.name, pat) for pat in patterns)]
