"""The plotboss-cli click group: global options shared by every command.

Commands live in modules by subject (cli/jobs_cmds.py, cli/farmer_cmds.py, cli/config_cmds.py, ...) and register on
``cli`` here. Exit status: 0 ok, 1 an agent refused or could not be reached, 2 bad arguments or config.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import click

from cli.targets import ClientOptions
from plotboss import __version__
from plotboss.transport import DEFAULT_TIMEOUT_S

#: The modules that register commands on ``cli``. They are imported when needed, not at start-up: a command's module
#: pulls in its own dependencies (rich tables, the farmer or plotter stubs, pydantic models for config commands), and
#: `plotboss-cli status` should not pay for the others' (start-up time is most of a status call; see bench/README.md).
COMMAND_MODULES = (
    "cli.jobs_cmds",
    "cli.farmer_cmds",
    "cli.config_cmds",
    "cli.sched_cmds",
    "cli.archive_cmds",
    "cli.analyze_cmds",
    "cli.completion",
    "cli.watch",
    "cli.simulate_cmds",
)

#: Where each command lives: a fast path only. A command missing here is still found (every module is imported, as
#: for `--help`), just with the slower start.
COMMAND_HOME = {
    **dict.fromkeys(("status", "details", "dirs", "kill", "suspend", "resume", "logs"), "cli.jobs_cmds"),
    "analyze": "cli.analyze_cmds",
    "completion": "cli.completion",
    **dict.fromkeys(("drives", "reservations"), "cli.farmer_cmds"),
    "config": "cli.config_cmds",
    "scheduler": "cli.sched_cmds",
    "archive": "cli.archive_cmds",
    "watch": "cli.watch",
}


def load_command_modules() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name)


class LazyGroup(click.Group):
    """A group whose commands are registered by modules imported on first use (see COMMAND_MODULES)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None and cmd_name in COMMAND_HOME:
            importlib.import_module(COMMAND_HOME[cmd_name])
            cmd = super().get_command(ctx, cmd_name)
        if cmd is None:
            load_command_modules()
            cmd = super().get_command(ctx, cmd_name)
        return cmd

    def list_commands(self, ctx: click.Context) -> list[str]:
        load_command_modules()
        return super().list_commands(ctx)


MIN_TIMEOUT_S = 0.1
#: A day. `inf`, `nan` and `1e308` were accepted, and every call then failed at once (no deadline grpc can represent).
MAX_TIMEOUT_S = 86400.0


def _check_timeout(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if not math.isfinite(value) or not MIN_TIMEOUT_S <= value <= MAX_TIMEOUT_S:
        raise click.BadParameter(f"{value:g} is not a number of seconds from {MIN_TIMEOUT_S:g} to {MAX_TIMEOUT_S:g}")
    return value


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--fleet", type=click.Path(path_type=Path), default=None, help="Fleet file (fleet.yaml).")
@click.option("--plotter", "plotters", multiple=True, metavar="HOST:PORT", help="A plotter agent (repeatable).")
@click.option("--farmer", "farmers", multiple=True, metavar="HOST:PORT", help="A farmer agent (repeatable).")
@click.option("--token-file", type=click.Path(path_type=Path), default=None, help="Bearer token for ad-hoc agents.")
@click.option("--tls-ca", type=click.Path(path_type=Path), default=None, help="CA to trust (enables TLS).")
@click.option("--tls-cert", type=click.Path(path_type=Path), default=None, help="Client certificate (mutual TLS).")
@click.option("--tls-key", type=click.Path(path_type=Path), default=None, help="Client key (mutual TLS).")
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    callback=_check_timeout,
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    help=f"Deadline of each call, in seconds ({MIN_TIMEOUT_S:g}..{MAX_TIMEOUT_S:g}).",
)
@click.version_option(__version__, prog_name="plotboss-cli")
@click.pass_context
def cli(
    ctx: click.Context,
    fleet: Path | None,
    plotters: tuple[str, ...],
    farmers: tuple[str, ...],
    token_file: Path | None,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    timeout_s: float,
) -> None:
    """Query and control plotboss plotter and farmer agents, one or a whole fleet."""
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if tls_cert is not None and tls_ca is None:
        # without a CA there is no TLS at all: the certificate would be ignored and the token sent in plaintext
        raise click.UsageError("--tls-cert/--tls-key need --tls-ca (the CA that signed the agent's certificate)")
    ctx.obj = ClientOptions(
        fleet=fleet,
        plotters=plotters,
        farmers=farmers,
        token_file=token_file,
        tls_ca=tls_ca,
        tls_cert=tls_cert,
        tls_key=tls_key,
        timeout_s=timeout_s,
    )
