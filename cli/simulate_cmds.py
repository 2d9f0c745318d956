"""`plotboss-cli simulate`: what a plotter config will do, before a plot is started (sim/whatif.py runs the real
scheduler and archiver decisions in a simulation).

Phase times: learned from a log dir here (``--logs DIR``, the plotter's ``logging.plots`` or a copy), or from a
plotter agent's AnalyzeLogs (``--phases-from NAME``, an agent of --plotter/--fleet), else the agent's default step
shares over a typical total (said so). Farmers: those of --fleet/--farmer with ``--farmers`` (their drives as
ListDrives shows them now), else a farm that never fills. Bad input (config, --size, --logs): exit 2 naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from cli.app import cli
from cli.render import Grid, Printer, human_bytes, print_json
from cli.targets import ClientOptions, fan_out, report_failures, resolve_targets, select_by_name
from plotboss.config import load_config
from plotboss.errors import ConfigError
from plotter_agent.config import PlotterConfig
from plotter_agent.logparse import Plotter
from sim.jobmodel import PhaseModel, default_model, from_log_dir, from_phase_means
from sim.scenario import FarmerSpec, sched_of
from sim.whatif import WhatIf, dir_sizes, parse_size, what_if


def _sizes(values: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        path, eq, size = v.rpartition("=")
        if not eq or not path:
            raise ConfigError(f"--size {v!r}: expected PATH=SIZE (e.g. /mnt/dst=4T)")
        out[path] = parse_size(size, f"--size {path}")
    return out


def _mode(cfg: PlotterConfig) -> tuple[Plotter, str | None, int]:
    sched = sched_of(cfg)
    job = sched.job
    mode = None
    if job.plotter is Plotter.BLADEBIT:
        mode = "disk" if job.mode.startswith("diskplot") else "cuda" if job.mode == "cudaplot" else "ram"
    return job.plotter, mode, job.spec.k


def _model(opts: ClientOptions, cfg: PlotterConfig, logs: Path | None, phases_from: str | None) -> PhaseModel:
    plotter, mode, k = _mode(cfg)
    if logs is not None:
        return from_log_dir(logs, plotter, mode, k)
    if phases_from is not None:
        return _remote_model(opts, phases_from, plotter, mode, k)
    return default_model(plotter, mode, k)


def _remote_model(opts: ClientOptions, name: str, plotter: Plotter, mode: str | None, k: int) -> PhaseModel:
    from cli.analyze_view import group_of
    from plotboss.v1 import plotter_pb2, plotter_pb2_grpc

    targets = select_by_name(resolve_targets(opts, "plotter"), [name], "--phases-from")
    outcomes = fan_out(
        targets,
        opts.timeout_s,
        lambda ch: plotter_pb2_grpc.PlotterServiceStub(ch).AnalyzeLogs(
            plotter_pb2.AnalyzeLogsRequest(), timeout=opts.timeout_s
        ),
    )
    if report_failures(outcomes):
        raise click.exceptions.Exit(1)
    groups = [group_of(g, ("plotter", "mode", "k")) for o in outcomes for g in o.value.groups]  # type: ignore[union-attr]
    same = [g for g in groups if g.plotter is plotter and g.mode == mode and g.k is not None]
    if not same:
        raise ConfigError(f"--phases-from {name}: its logs have no finished {plotter.value} plot")
    best = min(same, key=lambda g: (abs((g.k or k) - k), -g.count))
    means = {p.major: p.mean_s for p in best.phases if 1 <= p.major <= 4}
    src = f"AnalyzeLogs of {name} ({best.count} logs, k{best.k})"
    return from_phase_means(plotter, mode, best.k or k, means, src).scaled(k)


def _farmers(opts: ClientOptions) -> tuple[FarmerSpec, ...]:
    from plotboss.v1 import farmer_pb2, farmer_pb2_grpc

    targets = resolve_targets(opts, "farmer")
    outcomes = fan_out(
        targets,
        opts.timeout_s,
        lambda ch: farmer_pb2_grpc.FarmerServiceStub(ch).ListDrives(
            farmer_pb2.ListDrivesRequest(), timeout=opts.timeout_s
        ),
    )
    if report_failures(outcomes):
        raise click.exceptions.Exit(1)
    out = []
    usable = (farmer_pb2.DRIVE_STATE_OK, farmer_pb2.DRIVE_STATE_FULL)
    for o in outcomes:
        assert o.value is not None
        rooms = tuple(
            max(0, d.free_bytes - d.reserved_bytes) for d in o.value.drives if d.state in usable
        )  # room as it is now: the plots already there are not the simulation's
        if rooms:
            out.append(FarmerSpec(o.target.name, len(rooms), 0, sizes=rooms))
    if not out:
        raise ConfigError("--farmers: no farmer has a usable drive")
    return tuple(out)


def _run(
    opts: ClientOptions,
    path: Path,
    logs: Path | None,
    phases_from: str | None,
    sizes: dict[str, int],
    farmers: tuple[FarmerSpec, ...],
    days: float,
    seed: int,
    link_mbps: float,
) -> WhatIf:
    cfg = load_config(path, PlotterConfig)
    if cfg.plotting is None:
        raise ConfigError(f"{path}: plotting: missing (the scheduler would start nothing to simulate)")
    model = _model(opts, cfg, logs, phases_from)
    return what_if(
        cfg,
        str(path),
        model,
        dir_sizes(cfg, str(path), sizes),
        farmers=farmers,
        days=days,
        seed=seed,
        link_bps=link_mbps * 1e6 / 8,
    )


def _show(w: WhatIf) -> None:
    out = Printer()
    out.heading(w.label, f": {w.plots_per_day:.1f} plots/day over {w.days:g} simulated days")
    out.line(f"  job time   {w.mean_job_s / 3600:.2f} h on average (phase times: {w.model_source})")
    out.line(f"  bottleneck {w.bottleneck}")
    g = Grid(("tmp dir", "size", "peak use"), frozenset({"size", "peak use"}))
    for d, size in w.tmp_bytes.items():
        g.add_row(d, human_bytes(size), human_bytes(w.peak_tmp_bytes.get(d, 0)))
    out.grid(g)
    waits = Grid(("the scheduler waited for", "hours", "of the time"), frozenset({"hours", "of the time"}))
    for kind, hours in w.wait_h.items():
        waits.add_row(kind, f"{hours:.1f}", f"{100 * hours * 3600 / (w.days * 86400):.0f} %")
    if waits.rows:
        out.grid(waits)
    out.line(
        f"  archived {w.plots_archived} plots; longest wait of a plot in dst {w.longest_dst_wait_s / 60:.0f} min; "
        f"transfer slots in use while plots waited {100 * w.transfer_slot_use:.0f} %"
    )


def _compare(a: WhatIf, b: WhatIf) -> None:
    out = Printer()
    g = Grid(("", a.label, b.label), frozenset({a.label, b.label}))
    g.add_row("plots/day", f"{a.plots_per_day:.1f}", f"{b.plots_per_day:.1f}")
    g.add_row("job time (h)", f"{a.mean_job_s / 3600:.2f}", f"{b.mean_job_s / 3600:.2f}")
    g.add_row("bottleneck", a.bottleneck_kind, b.bottleneck_kind)
    for kind in dict.fromkeys([*a.wait_h, *b.wait_h]):
        g.add_row(f"waited: {kind} (h)", f"{a.wait_h.get(kind, 0.0):.1f}", f"{b.wait_h.get(kind, 0.0):.1f}")
    g.add_row(
        "peak tmp (sum of dirs)",
        human_bytes(sum(a.peak_tmp_bytes.values())),
        human_bytes(sum(b.peak_tmp_bytes.values())),
    )
    g.add_row("longest wait in dst (min)", f"{a.longest_dst_wait_s / 60:.0f}", f"{b.longest_dst_wait_s / 60:.0f}")
    out.grid(g)
    change = (b.plots_per_day / a.plots_per_day - 1) * 100 if a.plots_per_day else 0.0
    out.line(f"{b.label} makes {change:+.0f} % plots/day against {a.label}")


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--logs", type=click.Path(path_type=Path), default=None, help="Learn phase times from the logs in DIR.")
@click.option("--phases-from", default=None, metavar="NAME", help="Learn phase times from this plotter agent's logs.")
@click.option("--size", "sizes", multiple=True, metavar="PATH=SIZE", help="A dir's size (500G, 4T); repeatable.")
@click.option("--farmers", "use_farmers", is_flag=True, help="Send plots to the --fleet/--farmer farmers' drives.")
@click.option("--days", type=click.FloatRange(min=0.01, max=366), default=7.0, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the phase-time jitter.")
@click.option("--link-mbps", type=click.FloatRange(min=1), default=1000.0, show_default=True, help="Plotter link.")
@click.option("--compare", "other", type=click.Path(path_type=Path), default=None, help="A second config to compare.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def simulate(
    ctx: click.Context,
    config: Path,
    logs: Path | None,
    phases_from: str | None,
    sizes: tuple[str, ...],
    use_farmers: bool,
    days: float,
    seed: int,
    link_mbps: float,
    other: Path | None,
    as_json: bool,
) -> None:
    """What CONFIG (a plotter.yaml) will do: plots/day, peak tmp use per tmp dir, how long the scheduler waits and
    why, and the bottleneck, from a simulation that runs the agent's own scheduler and archiver decisions.

    Dirs that exist here are taken at their file system's size; give others with --size PATH=SIZE.
    """
    opts = ctx.obj
    assert isinstance(opts, ClientOptions)
    if logs is not None and phases_from is not None:
        raise click.UsageError("--logs and --phases-from: give one")
    given = _sizes(sizes)
    farmers = _farmers(opts) if use_farmers else ()
    runs = [_run(opts, config, logs, phases_from, given, farmers, days, seed, link_mbps)]
    if other is not None:
        runs.append(_run(opts, other, logs, phases_from, given, farmers, days, seed, link_mbps))
    if as_json:
        data: dict[str, Any] = runs[0].as_dict()
        if len(runs) > 1:
            data = {"runs": [r.as_dict() for r in runs]}
        print_json(data)
    else:
        for r in runs:
            _show(r)
        if len(runs) > 1:
            _compare(runs[0], runs[1])
    ctx.exit(0)
