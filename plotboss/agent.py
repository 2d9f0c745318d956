"""The entry-point skeleton both agents share: options, config loading, serving, signals, exit codes.

Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 2 for a config or argument problem (nothing started),
1 for an unexpected failure. Nothing below ``run_agent`` exits or configures logging.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Protocol, cast

import click

from plotboss import __version__
from plotboss.auth import resolve_tokens
from plotboss.config import AgentSection, StrictModel, load_config
from plotboss.errors import ConfigError
from plotboss.localcred import LocalCredential
from plotboss.transport import ServiceRegistration, check_listen_policy, is_loopback_host, serve

log = logging.getLogger(__name__)


class Agent(Protocol):
    """What an agent gives the skeleton: its services, and a background loop to start and stop."""

    def registrations(self) -> list[ServiceRegistration]: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class HasAgentSection(Protocol):
    """Every agent config has an ``agent`` section."""

    @property
    def agent(self) -> AgentSection: ...


@dataclass(frozen=True)
class AgentSpec:
    prog: str
    config_model: type[StrictModel]
    build: Callable[[StrictModel, Path], Agent]


class _DropUnparsableRequests(logging.Filter):
    """grpc logs a full traceback for every request it cannot parse (the client gets INTERNAL "Exception deserializing
    request!"): any client could flood the log with them. Kept at --log-level debug only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Exception deserializing"):
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("grpc._common").addFilter(_DropUnparsableRequests())


def _publish_local(local: LocalCredential, port: int, host: str) -> None:
    """Write the local credential and say at start what a client without tokens can do here."""
    try:
        path = local.publish(port)
    except OSError as e:
        log.warning(
            "no tokens configured, and the local credential cannot be written (%s): control RPCs are refused except "
            "from mutual-TLS clients; configure agent.tokens, or set %s to a dir only this user can write",
            e.strerror or e,
            "PLOTBOSS_RUNTIME_DIR",
        )
    else:
        log.info(
            "no tokens configured: control RPCs need the local credential %s (only uid %d can read it; plotboss-cli on "
            "this machine uses it by itself) or mutual TLS",
            path,
            os.geteuid(),
        )
    who = "any local user" if is_loopback_host(host) else "anyone who can reach this address"
    log.warning(
        "no tokens configured: %s may call the read RPCs (jobs, their logs, dirs, drives, reservations); "
        "configure agent.tokens to require a token for them too",
        who,
    )


def run_agent(spec: AgentSpec, argv: Sequence[str] | None = None) -> int:
    """Parse options, load config, serve until SIGTERM/SIGINT. Returns the exit status."""

    @click.command(name=spec.prog, context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--config", "config_path", required=True, type=click.Path(path_type=Path), help="YAML config file.")
    @click.option("--listen", default=None, help="HOST:PORT to listen on (overrides agent.listen; port 0 = any).")
    @click.option("--insecure", is_flag=True, help="Allow a non-loopback listen address without TLS, on purpose.")
    @click.option("--port-file", type=click.Path(path_type=Path), default=None, help="Write the bound port here.")
    @click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
    @click.version_option(__version__, prog_name=spec.prog)
    def command(config_path: Path, listen: str | None, insecure: bool, port_file: Path | None, log_level: str) -> int:
        _setup_logging(log_level)
        # Handlers first: a SIGTERM while the config loads or the agent is built (its first scan can take a while)
        # must end in the same clean shutdown as one that comes later, not kill the process half-started.
        stop = threading.Event()

        def _on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s, shutting down", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        # SIGHUP asks an agent that can (it has `reload`) to read its config again; never the default, which exits
        hup = threading.Event()
        signal.signal(signal.SIGHUP, lambda _s, _f: hup.set())
        try:
            cfg = load_config(config_path, spec.config_model)
            section = cast(HasAgentSection, cfg).agent
            addr = listen or section.listen
            label = "--listen" if listen else f"{config_path}: agent.listen"
            check_listen_policy(addr, section.tls, insecure, label, warn=False)
            tokens = resolve_tokens(section.tokens, f"{config_path}: agent.tokens")
            local = None
            if not tokens.enabled:  # control needs a credential even on loopback: make one only our user can read
                local = LocalCredential()
                where = f"plotboss-cli on this machine reads it from {local.base}/agent-PORT.token"
                tokens = replace(tokens, local=(local.token,), local_where=where)
            agent = spec.build(cfg, config_path)
            # the policy was checked above, before building the agent; serve checks again and warns
            server = serve(
                agent.registrations(),
                addr,
                tls=section.tls,
                tokens=tokens,
                insecure=insecure,
                label=label,
                tls_label=f"{config_path}: agent.tls",
            )
        except ConfigError as e:
            click.echo(f"{spec.prog}: {e}", err=True)
            return 2
        if stop.is_set():  # asked to stop while starting: nothing was started but the server
            server.stop(0)
            log.info("stopped before starting")
            return 0
        try:
            agent.start()
        except ConfigError as e:  # e.g. a drive or dir the agent finds unusable once it looks at the machine
            server.stop(0)
            click.echo(f"{spec.prog}: {e}", err=True)
            return 2
        click.echo(f"{spec.prog} {section.name} listening on {server.address}", err=False)
        sys.stdout.flush()
        try:
            if local is not None:
                _publish_local(local, server.port, server.host)
            if port_file is not None:
                try:
                    port_file.write_text(f"{server.port}\n")
                except OSError as e:  # whoever waits for the port would wait forever: stop rather than run unseen
                    server.stop(0)
                    agent.stop()
                    click.echo(f"{spec.prog}: --port-file: cannot write {port_file}: {e.strerror or e}", err=True)
                    return 2
            try:
                while not stop.wait(0.2):
                    if hup.is_set():
                        hup.clear()
                        reload = getattr(agent, "reload", None)
                        if reload is not None:
                            log.info("received SIGHUP, reloading %s", config_path)
                            reload()
                        else:
                            log.info("received SIGHUP: this agent has nothing to reload")
            finally:
                server.stop(section.grace_s)
                agent.stop()
                log.info("stopped")
        finally:
            if local is not None:
                local.withdraw()
        return 0

    try:
        rc = command.main(args=list(argv) if argv is not None else None, prog_name=spec.prog, standalone_mode=False)
    except click.exceptions.Abort:
        return 1
    except click.ClickException as e:
        e.show()
        return 2
    return int(rc) if isinstance(rc, int) else 0
