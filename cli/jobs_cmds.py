"""Plot-job commands: status, details, dirs, kill, suspend, resume, logs (plotter agents; analyze: cli/analyze_cmds.py).

Read commands take ``--json`` (keys as DESIGN.md gives them). A job is named by a plot-id prefix or ``pid:N``; with
several plotters the CLI finds the one agent that has it. Exit status: 0 ok, 1 an agent failed or refused, 2 bad args.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import click
import grpc

from cli.app import cli
from cli.archive_view import archive_json, archive_line
from cli.completion import complete_job
from cli.jobs_view import (
    SORT_KEYS,
    STATE_NAMES,
    dir_json,
    dirs_table,
    job_json,
    phase_text,
    sort_jobs,
    status_table,
    suspects_lines,
    tmp_summary,
)
from cli.options import json_option, names_option
from cli.render import Printer, human_bytes, human_duration, print_json
from cli.sched_view import scheduler_json, scheduler_line
from cli.targets import (
    ClientOptions,
    Outcome,
    Target,
    call,
    describe_rpc_error,
    fan_out,
    report_failures,
    resolve_targets,
    select_by_name,
)
from plotboss.v1 import plotter_pb2, plotter_pb2_grpc

T = TypeVar("T")

JOB_NAME_RE = re.compile(r"^([0-9a-fA-F]{1,64}|pid:[0-9]{1,10})\Z")
FOLLOW_TIMEOUT_S = 7 * 24 * 3600.0


def _stub(channel: grpc.Channel) -> plotter_pb2_grpc.PlotterServiceStub:
    return plotter_pb2_grpc.PlotterServiceStub(channel)


def _opts(ctx: click.Context) -> ClientOptions:
    opts = ctx.obj
    assert isinstance(opts, ClientOptions)
    return opts


def _targets(ctx: click.Context, names: Sequence[str] = ()) -> list[Target]:
    return select_by_name(resolve_targets(_opts(ctx), "plotter"), names, "--plotter-name")


def _job_name(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not JOB_NAME_RE.match(value.strip()):
        raise click.BadParameter(f"{value!r}: give a plot-id prefix (hex digits) or pid:N")
    return value.strip().lower()


def _err(msg: str) -> None:
    click.echo(f"plotboss-cli: {msg}", err=True)


# -- locating one job across the fleet -------------------------------------------------------------------------------


def _locate(ctx: click.Context, name: str) -> tuple[Target, plotter_pb2.Job]:
    """The one plotter that has job ``name``; click errors (exit 1) when none or several have it."""
    opts = _opts(ctx)
    targets = _targets(ctx)
    outcomes = fan_out(targets, opts.timeout_s, lambda ch: _stub(ch).GetJob(plotter_pb2.GetJobRequest(job=name)).job)
    found = [(o.target, o.value) for o in outcomes if o.ok and o.value is not None]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        where = ", ".join(f"{t.name}: {j.plot_id or j.pid}" for t, j in found)
        raise click.ClickException(f"job {name!r} matches jobs on several plotters ({where}); give a longer prefix")
    errors = [o for o in outcomes if not o.ok]
    not_found = all(o.error and o.error.startswith("NOT_FOUND") for o in errors)
    if len(targets) == 1 or not not_found:
        msgs = "; ".join(f"{o.target.name}: {o.error}" for o in errors if not o.error or "NOT_FOUND" not in o.error)
        raise click.ClickException(msgs or (errors[0].error or "not found"))
    raise click.ClickException(f"no plotter has a job {name!r}")


def _control(
    ctx: click.Context, target: Target, fn: Callable[[plotter_pb2_grpc.PlotterServiceStub], T], timeout_s: float
) -> T:
    out = call(target, timeout_s, lambda ch: fn(_stub(ch)))
    if not out.ok or out.value is None:
        raise click.ClickException(f"{target.name}: {out.error}")
    return out.value


# -- status --------------------------------------------------------------------------------------------------------


class Extras(NamedTuple):
    """What `status` shows under a plotter's jobs, each None when the agent does not answer it (an agent without a
    scheduler or archiver still shows its jobs)."""

    scheduler: plotter_pb2.GetSchedulerStatusResponse | None
    archive: plotter_pb2.GetArchiveStatusResponse | None


def _optional(future: grpc.Future[T]) -> T | None:
    """An extra line's answer; None on any failure (the jobs, which the agent did answer, are still shown)."""
    try:
        return future.result()
    except grpc.RpcError:
        return None


def _jobs_and_extras(ch: grpc.Channel) -> tuple[plotter_pb2.ListJobsResponse, Extras]:
    """The three calls go out at once on the one channel: the extras cost no extra round trip."""
    stub = _stub(ch)
    sched = stub.GetSchedulerStatus.future(plotter_pb2.GetSchedulerStatusRequest())
    arch = stub.GetArchiveStatus.future(plotter_pb2.GetArchiveStatusRequest())
    jobs = stub.ListJobs(plotter_pb2.ListJobsRequest())  # on failure the channel's close ends the other two
    return jobs, Extras(_optional(sched), _optional(arch))


StatusAnswer = tuple[list[plotter_pb2.Job], Extras]


def status_ask(sort_key: str | None) -> Callable[[grpc.Channel], StatusAnswer]:
    """What `status` asks each plotter: its jobs (sorted by ``sort_key``), its scheduler's and archiver's status."""

    def ask(ch: grpc.Channel) -> StatusAnswer:
        listed, extras = _jobs_and_extras(ch)
        jobs = list(listed.jobs)
        return (sort_jobs(jobs, sort_key) if sort_key else jobs), extras

    return ask


def status_json(outcomes: Sequence[Outcome[StatusAnswer]]) -> dict[str, Any]:
    """`status --json`'s document (bench/load_bench.py calls this and status_ask in-process, as the command does)."""
    return {
        "plotters": [
            {
                **o.head(),
                "jobs": [job_json(j) for j in jobs],
                "scheduler": scheduler_json(extras.scheduler) if extras.scheduler else None,
                "archive": archive_json(extras.archive) if extras.archive else None,
            }
            for o in outcomes
            for jobs, extras in [o.value or ([], Extras(None, None))]
        ]
    }


@cli.command()
@click.option(
    "--sort",
    "sort_key",
    type=click.Choice(SORT_KEYS),
    default=None,
    help="Order each plotter's jobs: furthest phase, oldest, soonest ETA first, or by plotter program.",
)
@names_option
@json_option
@click.pass_context
def status(ctx: click.Context, sort_key: str | None, names: tuple[str, ...], as_json: bool) -> None:
    """Every plot job on the plotters: phase, progress, ETA, dirs, resources."""
    opts = _opts(ctx)
    outcomes = fan_out(_targets(ctx, names), opts.timeout_s, status_ask(sort_key))
    if as_json:
        print_json(status_json(outcomes))
    else:
        out = Printer()
        for o in outcomes:
            if o.value is None:
                continue
            jobs = o.value[0]
            out.heading(o.target.name, f" ({o.target.address}): {len(jobs)} jobs")
            if jobs:
                out.grid(status_table(jobs))
                out.grid(tmp_summary(jobs))
            if o.value[1].scheduler is not None:
                out.line(scheduler_line(o.value[1].scheduler))
            if o.value[1].archive is not None:
                out.line(archive_line(o.value[1].archive))
    ctx.exit(report_failures(outcomes))


# -- details -------------------------------------------------------------------------------------------------------


@cli.command()
@click.argument("job", callback=_job_name, shell_complete=complete_job)
@json_option
@click.pass_context
def details(ctx: click.Context, job: str, as_json: bool) -> None:
    """Everything the agent knows about one JOB (plot-id prefix or pid:N)."""
    target, j = _locate(ctx, job)
    data = job_json(j)
    if as_json:
        print_json({"plotter": {"name": target.name, "address": target.address}, "job": data})
        return
    out = Printer()
    out.heading(j.plot_id or f"pid:{j.pid}", f" on {target.name}")
    for key, value in data.items():
        if key == "cmdline":
            value = " ".join(value)
        elif key.endswith("_bytes") and isinstance(value, int):
            value = f"{value} ({human_bytes(value)})"
        elif key in ("wall_s", "eta_s", "user_s", "sys_s", "iowait_s") and value is not None:
            value = f"{value} ({human_duration(value)})"
        out.line(f"  {key:22} {value if value is not None else '-'}")


# -- dirs ----------------------------------------------------------------------------------------------------------


def _orphan_total(dirs: Sequence[plotter_pb2.Dir]) -> tuple[int, int]:
    """(files, bytes) of orphans, counting a dir listed under two roles once."""
    seen: dict[str, tuple[int, int]] = {}
    for d in dirs:
        seen.setdefault(d.path, (d.orphan_files, d.orphan_bytes))
    return sum(f for f, _b in seen.values()), sum(b for _f, b in seen.values())


@cli.command()
@click.option("--clean-orphans", is_flag=True, help="Remove orphan temp files (after confirmation).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@names_option
@json_option
@click.pass_context
def dirs(ctx: click.Context, clean_orphans: bool, yes: bool, names: tuple[str, ...], as_json: bool) -> None:
    """The tmp, tmp2 and dst dirs: space, jobs, complete plots, orphan temp files."""
    if yes and not clean_orphans:
        raise click.UsageError("--yes goes with --clean-orphans")
    opts = _opts(ctx)
    outcomes = fan_out(
        _targets(ctx, names), opts.timeout_s, lambda ch: _stub(ch).ListDirs(plotter_pb2.ListDirsRequest())
    )
    if as_json and not clean_orphans:
        print_json(
            {
                "plotters": [
                    {**o.head(), "dirs": [dir_json(d) for d in o.value.dirs] if o.value is not None else []}
                    for o in outcomes
                ]
            }
        )
        ctx.exit(report_failures(outcomes))
    out = Printer()
    if not as_json:
        for o in outcomes:
            if o.value is not None:
                out.heading(o.target.name, f" ({o.target.address})")
                out.grid(dirs_table(o.value.dirs))
                for line in suspects_lines(o.value.dirs):
                    out.line(line)
    rc = report_failures(outcomes)
    if not clean_orphans:
        ctx.exit(rc)
    results: list[dict[str, Any]] = []
    for o in outcomes:
        if o.value is None:
            continue
        files, total = _orphan_total(o.value.dirs)
        if files == 0:
            results.append({"name": o.target.name, "removed_files": [], "removed_bytes": 0})
            continue
        if not yes and not click.confirm(
            f"Remove {files} orphan temp files ({human_bytes(total)}) on {o.target.name}?", err=True
        ):
            raise click.Abort()
        cleaned = call(
            o.target,
            opts.timeout_s,
            lambda ch, total=total: _stub(ch).CleanOrphans(plotter_pb2.CleanOrphansRequest(expected_bytes=total)),  # type: ignore[misc]
        )
        if cleaned.value is None:
            _err(f"{o.target.name}: {cleaned.error}")
            rc = 1
            continue
        results.append(
            {
                "name": o.target.name,
                "removed_files": list(cleaned.value.removed_files),
                "removed_bytes": cleaned.value.removed_bytes,
            }
        )
        if not as_json:
            out.line(
                f"{o.target.name}: removed {len(cleaned.value.removed_files)} files "
                f"({human_bytes(cleaned.value.removed_bytes)})"
            )
    if as_json:
        print_json({"cleaned": results})
    ctx.exit(rc)


# -- control -------------------------------------------------------------------------------------------------------


@cli.command()
@click.argument("job", callback=_job_name, shell_complete=complete_job)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--grace",
    "grace_s",
    type=click.IntRange(min=1, max=600),
    default=None,
    help="Seconds between SIGTERM and SIGKILL (default: the agent's kill_grace_s).",
)
@click.pass_context
def kill(ctx: click.Context, job: str, yes: bool, grace_s: int | None) -> None:
    """Kill JOB (SIGTERM, then SIGKILL) and delete its temp files (never a finished plot)."""
    target, j = _locate(ctx, job)
    label = j.plot_id or f"pid:{j.pid}"
    if not yes and not click.confirm(
        f"Kill job {label} (pid {j.pid}, phase {phase_text(j.phase) or '?'}) on {target.name} "
        "and delete its temp files?",
        err=True,
    ):
        raise click.Abort()
    name = j.plot_id or f"pid:{j.pid}"
    timeout = _opts(ctx).timeout_s + (grace_s or 60) + 15
    res = _control(
        ctx, target, lambda s: s.KillJob(plotter_pb2.KillJobRequest(job=name, grace_s=grace_s or 0)), timeout
    )
    if j.plot_id:
        done = f"removed {len(res.removed_files)} temp files ({human_bytes(res.removed_bytes)})"
    else:
        done = "its plot id was not known, so no temp file was removed (see `dirs` for orphans)"
    click.echo(f"killed {label} (pid {j.pid}); {done}")


def _set_state(
    ctx: click.Context, job: str, send: Callable[[plotter_pb2_grpc.PlotterServiceStub, str], plotter_pb2.Job]
) -> None:
    """Suspend or resume JOB through ``send`` and print the state the agent reports after it."""
    target, j = _locate(ctx, job)
    name = j.plot_id or f"pid:{j.pid}"
    state = _control(ctx, target, lambda s: send(s, name).state, _opts(ctx).timeout_s)
    click.echo(f"{name}: {STATE_NAMES.get(state, 'unknown')}")


@cli.command()
@click.argument("job", callback=_job_name, shell_complete=complete_job)
@click.pass_context
def suspend(ctx: click.Context, job: str) -> None:
    """Suspend JOB (SIGSTOP)."""
    _set_state(ctx, job, lambda s, name: s.SuspendJob(plotter_pb2.SuspendJobRequest(job=name)).job)


@cli.command()
@click.argument("job", callback=_job_name, shell_complete=complete_job)
@click.pass_context
def resume(ctx: click.Context, job: str) -> None:
    """Resume a suspended JOB (SIGCONT)."""
    _set_state(ctx, job, lambda s, name: s.ResumeJob(plotter_pb2.ResumeJobRequest(job=name)).job)


# -- logs ----------------------------------------------------------------------------------------------------------


@cli.command()
@click.argument("job", callback=_job_name, shell_complete=complete_job)
@click.option("-f", "--follow", is_flag=True, help="Keep printing what the job appends, until it ends.")
@click.option("-n", "--lines", type=click.IntRange(min=1, max=100000), default=20, show_default=True)
@click.pass_context
def logs(ctx: click.Context, job: str, follow: bool, lines: int) -> None:
    """Print JOB's log, streamed through its agent (the CLI may run on another machine)."""
    target, j = _locate(ctx, job)
    name = j.plot_id or f"pid:{j.pid}"
    timeout = FOLLOW_TIMEOUT_S if follow else _opts(ctx).timeout_s
    try:
        channel = target.channel(timeout)
    except Exception as e:  # ConfigError from TLS files
        raise click.ClickException(f"{target.name}: {e}") from None
    out = sys.stdout.buffer
    try:
        for msg in _stub(channel).TailLog(plotter_pb2.TailLogRequest(job=name, lines=lines, follow=follow)):
            out.write(msg.data)
            out.flush()
    except grpc.RpcError as e:
        raise click.ClickException(f"{target.name}: {describe_rpc_error(e)}") from None
    except KeyboardInterrupt:
        pass
    finally:
        channel.close()
