"""`plotboss-cli scheduler pause|resume|drain|status`: the plotter agents' job scheduler, without editing config.

pause: start no new job (running ones go on); drain: let running jobs finish, start none, then paused; resume:
schedule again. The state survives an agent restart. Control commands need a control token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import click
import grpc

from cli.app import cli
from cli.render import Printer, print_json
from cli.sched_view import STATE_NAMES, scheduler_json, scheduler_report
from cli.targets import ClientOptions, Target, fan_out, report_failures, resolve_targets
from plotboss.v1 import plotter_pb2, plotter_pb2_grpc

State: TypeAlias = plotter_pb2.SchedulerState


def _opts(ctx: click.Context) -> ClientOptions:
    opts = ctx.obj
    assert isinstance(opts, ClientOptions)
    return opts


def _targets(ctx: click.Context) -> list[Target]:
    return resolve_targets(_opts(ctx), "plotter")


@cli.group()
def scheduler() -> None:
    """The job scheduler of each plotter: status, pause, resume, drain."""


@scheduler.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def scheduler_status(ctx: click.Context, as_json: bool) -> None:
    """What each scheduler decided last and why: the reason per tmp dir, the last start, the config's load time."""
    outcomes = fan_out(
        _targets(ctx),
        _opts(ctx).timeout_s,
        lambda ch: plotter_pb2_grpc.PlotterServiceStub(ch).GetSchedulerStatus(plotter_pb2.GetSchedulerStatusRequest()),
    )
    if as_json:
        print_json(
            {
                "plotters": [
                    {**o.head(), "scheduler": scheduler_json(o.value) if o.value is not None else None}
                    for o in outcomes
                ]
            }
        )
    else:
        out = Printer()
        for o in outcomes:
            if o.value is not None:
                out.heading(o.target.name, f" ({o.target.address})")
                for line in scheduler_report(o.value):
                    out.line(line)
    ctx.exit(report_failures(outcomes))


def _control(ctx: click.Context, verb: str, fn: Callable[[plotter_pb2_grpc.PlotterServiceStub], State]) -> None:
    def one(ch: grpc.Channel) -> State:
        return fn(plotter_pb2_grpc.PlotterServiceStub(ch))

    outcomes = fan_out(_targets(ctx), _opts(ctx).timeout_s, one)
    for o in outcomes:
        if o.value is not None:
            click.echo(f"{o.target.name}: scheduler {STATE_NAMES.get(o.value, 'unknown')}")
    ctx.exit(report_failures(outcomes))


@scheduler.command("pause")
@click.pass_context
def scheduler_pause(ctx: click.Context) -> None:
    """Start no new job; running jobs go on."""
    _control(ctx, "pause", lambda s: s.PauseScheduler(plotter_pb2.PauseSchedulerRequest()).state)


@scheduler.command("resume")
@click.pass_context
def scheduler_resume(ctx: click.Context) -> None:
    """Schedule again after a pause or drain."""
    _control(ctx, "resume", lambda s: s.ResumeScheduler(plotter_pb2.ResumeSchedulerRequest()).state)


@scheduler.command("drain")
@click.pass_context
def scheduler_drain(ctx: click.Context) -> None:
    """Let running jobs finish and start none; paused once none is left."""
    _control(ctx, "drain", lambda s: s.DrainScheduler(plotter_pb2.DrainSchedulerRequest()).state)
