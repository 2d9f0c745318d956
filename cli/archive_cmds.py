"""`plotboss-cli archive [status] | pause | resume`: the plotter agents' archivers (moving finished plots to farmers).

`archive` (or `archive status`) shows, per plotter, the archiver's state and reason, its transfers in flight with
progress bars, the plots waiting per dst dir, each farmer's reachability and the last results with their errors.
pause: start no new transfer (those in flight finish); resume: archive again. The state survives an agent restart.
pause/resume are control RPCs: they need a control token (or the agent's local credential).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeAlias

import click
import grpc

from cli.app import cli
from cli.archive_view import STATE_NAMES, archive_json, archive_report
from cli.options import json_option, names_option
from cli.render import Printer, print_json
from cli.targets import ClientOptions, Target, fan_out, report_failures, resolve_targets, select_by_name
from plotboss.v1 import plotter_pb2, plotter_pb2_grpc

_NAMES_KEY = "plotboss.archive.names"


def _targets(ctx: click.Context, names: Sequence[str]) -> list[Target]:
    opts = ctx.obj
    assert isinstance(opts, ClientOptions)
    chosen = (*ctx.meta.get(_NAMES_KEY, ()), *names)
    return select_by_name(resolve_targets(opts, "plotter"), chosen, "--plotter-name")


def _timeout(ctx: click.Context) -> float:
    opts = ctx.obj
    assert isinstance(opts, ClientOptions)
    return opts.timeout_s


def _show(ctx: click.Context, names: Sequence[str], as_json: bool) -> None:
    outcomes = fan_out(
        _targets(ctx, names),
        _timeout(ctx),
        lambda ch: plotter_pb2_grpc.PlotterServiceStub(ch).GetArchiveStatus(plotter_pb2.GetArchiveStatusRequest()),
    )
    if as_json:
        print_json(
            {"plotters": [{**o.head(), "archive": archive_json(o.value) if o.value else None} for o in outcomes]}
        )
    else:
        out, now = Printer(), time.time()
        for o in outcomes:
            if o.value is None:
                continue
            out.heading(o.target.name, f" ({o.target.address})")
            for part in archive_report(o.value, now):
                if isinstance(part, str):
                    out.line(part)
                else:
                    out.grid(part)
    ctx.exit(report_failures(outcomes))


@cli.group(invoke_without_command=True)
@names_option
@json_option
@click.pass_context
def archive(ctx: click.Context, names: tuple[str, ...], as_json: bool) -> None:
    """The archiver of each plotter: without a subcommand, its status (as `archive status`); pause, resume."""
    if ctx.invoked_subcommand is None:
        _show(ctx, names, as_json)
        return
    if as_json:
        raise click.UsageError("--json goes with `archive` alone or `archive status`")
    ctx.meta[_NAMES_KEY] = names


@archive.command("status")
@names_option
@json_option
@click.pass_context
def archive_status(ctx: click.Context, names: tuple[str, ...], as_json: bool) -> None:
    """State and reason, transfers in flight (progress, rate, ETA), plots waiting per dst dir, farmers, last results."""
    _show(ctx, names, as_json)


State: TypeAlias = plotter_pb2.ArchiverState


def _control(
    ctx: click.Context, names: Sequence[str], fn: Callable[[plotter_pb2_grpc.PlotterServiceStub], State]
) -> None:
    def one(ch: grpc.Channel) -> State:
        return fn(plotter_pb2_grpc.PlotterServiceStub(ch))

    outcomes = fan_out(_targets(ctx, names), _timeout(ctx), one)
    for o in outcomes:
        if o.value is not None:
            click.echo(f"{o.target.name}: archiver {STATE_NAMES.get(o.value, 'unknown')}")
    ctx.exit(report_failures(outcomes))


@archive.command("pause")
@names_option
@click.pass_context
def archive_pause(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Start no new transfer; transfers in flight finish. Kept across agent restarts."""
    _control(ctx, names, lambda s: s.PauseArchiver(plotter_pb2.PauseArchiverRequest()).state)


@archive.command("resume")
@names_option
@click.pass_context
def archive_resume(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Archive again after a pause."""
    _control(ctx, names, lambda s: s.ResumeArchiver(plotter_pb2.ResumeArchiverRequest()).state)
