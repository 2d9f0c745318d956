"""`plotboss-cli analyze`: phase-time statistics over plot logs, on the plotter agents (their log dirs) or over log
files on this machine (LOG... / --dir DIR), with the agent's own parser and statistics (plotter_agent.analyze).

Local form, what counts as bad input: a LOG that does not exist or cannot be read, a --dir that cannot be listed, a
bad --since or --by: exit 2, naming it. A file (named or found in a dir) that is readable but is no known plotter's
log, and a file in a dir that cannot be read, is skipped and said so on stderr (and under "skipped" in --json);
exit 2 only when every file was skipped, as then there is nothing to analyse.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from cli.analyze_view import PB_KEY, csv_rows, group_json, group_of, groups_grid, iso, parse_since
from cli.app import cli
from cli.jobs_view import PLOTTER_KINDS
from cli.render import Printer, print_json
from cli.targets import ClientOptions, Outcome, fan_out, report_failures, resolve_targets, select_by_name
from plotboss.rpc import to_timestamp
from plotboss.v1 import plotter_pb2, plotter_pb2_grpc
from plotter_agent import analyze as stats
from plotter_agent.analyze import DEFAULT_BY, GROUP_KEYS, GroupKey, GroupStats, Skipped, logs_in, read_logs
from plotter_agent.logparse import Plotter

#: At most this many skipped files are named on stderr (all of them are in --json).
SKIPPED_SHOWN = 20


def _by(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[GroupKey, ...]:
    keys: list[GroupKey] = []
    for value in values:
        for part in value.split(","):
            key = part.strip().lower()
            if key not in GROUP_KEYS:
                raise click.BadParameter(f"{part!r}: group by {', '.join(GROUP_KEYS)} (comma-separated or repeated)")
            if key not in keys:
                keys.append(key)
    return tuple(keys) or DEFAULT_BY


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_since(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _local_files(logs: Sequence[Path], dirs: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for log in logs:
        if not log.exists():
            raise click.BadParameter(f"{log}: no such file", param_hint="LOG")
        if not log.is_file():
            raise click.BadParameter(f"{log}: not a file (use --dir for a directory of logs)", param_hint="LOG")
        try:
            log.open("rb").close()
        except OSError as e:
            raise click.BadParameter(f"{log}: cannot read: {e.strerror or e}", param_hint="LOG") from None
        files.append(log)
    for d in dirs:
        try:
            files.extend(logs_in(d))
        except OSError as e:
            raise click.BadParameter(f"{d}: cannot list: {e.strerror or e}", param_hint="--dir") from None
    return list(dict.fromkeys(files))


def _report_skipped(skipped: Sequence[Skipped]) -> None:
    for s in skipped[:SKIPPED_SHOWN]:
        click.echo(f"plotboss-cli: skipped {s.path}: {s.reason}", err=True)
    if len(skipped) > SKIPPED_SHOWN:
        click.echo(f"plotboss-cli: skipped {len(skipped) - SKIPPED_SHOWN} more files", err=True)


def _write_csv(rows: list[list[str]]) -> None:
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(("source", "plotter", "mode", "k", "tmp_dir", "phase", "count", "mean_s", "median_s", "min_s", "max_s"))
    w.writerows(rows)


@cli.command()
@click.argument("logs", nargs=-1, type=click.Path(path_type=Path, dir_okay=True), metavar="[LOG]...")
@click.option(
    "--dir", "dirs", multiple=True, type=click.Path(path_type=Path), metavar="DIR", help="Analyse the logs in DIR here."
)
@click.option("--since", callback=_since, default=None, metavar="DATE", help="Only plots started since (or 7d, 36h).")
@click.option(
    "--by",
    multiple=True,
    callback=_by,
    metavar="KEYS",
    help="Group by any of plotter,mode,k,tmp (default: plotter,mode,k).",
)
@click.option("-k", "k", type=click.IntRange(min=18, max=50), default=None, help="Only plots of this k.")
@click.option(
    "--plotter-kind", "kind", type=click.Choice(sorted(PLOTTER_KINDS)), default=None, help="Only this plotter."
)
@click.option(
    "--plotter-name", "names", multiple=True, metavar="NAME", help="Only these plotter agents (shell pattern)."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--csv", "as_csv", is_flag=True, help="One CSV row per group and phase.")
@click.pass_context
def analyze(
    ctx: click.Context,
    logs: tuple[Path, ...],
    dirs: tuple[Path, ...],
    since: float | None,
    by: tuple[GroupKey, ...],
    k: int | None,
    kind: str | None,
    names: tuple[str, ...],
    as_json: bool,
    as_csv: bool,
) -> None:
    """Phase times (count, mean, median, min, max) over completed plot logs, grouped by plotter, mode, k (--by).

    With LOG files or --dir DIR: over those files on this machine, no agent needed. Otherwise: over the log dir of
    every plotter agent.
    """
    if as_json and as_csv:
        raise click.UsageError("--json and --csv: give one")
    if (logs or dirs) and names:
        raise click.UsageError("--plotter-name picks agents; local files (LOG, --dir) need none")
    if logs or dirs:
        _local(ctx, logs, dirs, since, by, k, kind, as_json, as_csv)
    else:
        _remote(ctx, since, by, k, kind, names, as_json, as_csv)


def _local(
    ctx: click.Context,
    logs: Sequence[Path],
    dirs: Sequence[Path],
    since: float | None,
    by: tuple[GroupKey, ...],
    k: int | None,
    kind: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    files = _local_files(logs, dirs)
    infos, skipped = read_logs(files)
    _report_skipped(skipped)
    if files and not infos:
        raise click.UsageError(f"none of the {len(files)} files is a plot log (see above)")
    groups, incomplete = stats.analyze(infos, k=k, plotter=Plotter(kind) if kind else None, since=since, by=by)
    if as_json:
        print_json(
            {
                "by": list(by),
                "since": iso(since),
                "logs": len(infos),
                "incomplete_logs": incomplete,
                "skipped": [{"path": str(s.path), "reason": s.reason} for s in skipped],
                "groups": [group_json(g) for g in groups],
            }
        )
    elif as_csv:
        _write_csv(csv_rows("local", groups))
    else:
        out = Printer()
        out.heading("local", f": {len(infos)} logs, {incomplete} incomplete, {len(skipped)} skipped")
        out.grid(groups_grid(groups, by))
    ctx.exit(0)


def _remote(
    ctx: click.Context,
    since: float | None,
    by: tuple[GroupKey, ...],
    k: int | None,
    kind: str | None,
    names: tuple[str, ...],
    as_json: bool,
    as_csv: bool,
) -> None:
    opts = ctx.obj
    assert isinstance(opts, ClientOptions)
    req = plotter_pb2.AnalyzeLogsRequest(
        k=k or 0,
        plotter=PLOTTER_KINDS[kind] if kind else plotter_pb2.PLOTTER_KIND_UNSPECIFIED,
        since=to_timestamp(since),
        by=[PB_KEY[key] for key in by],
    )

    def ask(ch: Any) -> tuple[list[GroupStats], int] | None:
        resp = plotter_pb2_grpc.PlotterServiceStub(ch).AnalyzeLogs(req)
        if not resp.by and (since is not None or by != DEFAULT_BY):
            return None  # an agent that predates --since/--by ignored them: its answer would mislead
        return [group_of(g, by) for g in resp.groups], resp.incomplete_logs

    outcomes = [
        o if o.value is not None or not o.ok else Outcome(o.target, None, "this agent predates --since/--by")
        for o in fan_out(select_by_name(resolve_targets(opts, "plotter"), names, "--plotter-name"), opts.timeout_s, ask)
    ]
    if as_json:
        print_json(
            {
                "by": list(by),
                "since": iso(since),
                "plotters": [
                    {
                        **o.head(),
                        "incomplete_logs": o.value[1] if o.value is not None else 0,
                        "groups": [group_json(g) for g in o.value[0]] if o.value is not None else [],
                    }
                    for o in outcomes
                ],
            }
        )
    elif as_csv:
        _write_csv([row for o in outcomes if o.value is not None for row in csv_rows(o.target.name, o.value[0])])
    else:
        out = Printer()
        for o in outcomes:
            if o.value is None:
                continue
            out.heading(o.target.name, f": {o.value[1]} incomplete logs")
            out.grid(groups_grid(o.value[0], by))
    ctx.exit(report_failures(outcomes))
