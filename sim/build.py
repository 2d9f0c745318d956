"""Scenarios made from a few numbers: a fleet of like plotters and like farmers (tests, the benchmark, a quick
what-if). Each plotter runs a real plotter.yaml's scheduling through ``plotter_agent.config`` and ``schedconfig``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from farmer_agent.reservation import Rules
from plotboss.plots import plot_size
from plotter_agent.logparse import Plotter
from sim.farmer import BLOCK
from sim.jobmodel import PhaseModel, default_model
from sim.scenario import GB, FarmerSpec, Faults, PlotterSpec, Scenario, plotter_config, sched_of


def plotter_yaml(
    name: str, *, k: int = 32, tmp: int = 2, scheduling: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A plotter.yaml as a dict: ``tmp`` tmp dirs, one dst dir, chia at ``k``."""
    return {
        "version": 1,
        "agent": {"name": name},
        "directories": {"tmp": [f"/{name}/tmp{i}" for i in range(tmp)], "dst": [f"/{name}/dst"]},
        "scheduling": {"global_max_jobs": 6, "global_stagger_m": 45, "tmpdir_max_jobs": 3, **(scheduling or {})},
        "logging": {"plots": f"/{name}/logs"},
        "plotting": {"type": "chia", "chia": {"executable": "chia", "k": k}},
    }


def like_plotters(
    n: int,
    *,
    k: int = 32,
    model: PhaseModel | None = None,
    tmp_bytes: int = 1000 * GB,
    dst_plots: int = 12,
    speeds: tuple[float, float] = (0.8, 1.25),
    scheduling: Mapping[str, Any] | None = None,
    link_bps: float = 125e6,
    max_transfers: int = 1,
    poll_s: float = 20.0,
) -> tuple[PlotterSpec, ...]:
    """``n`` plotters of one config, their speeds spread evenly over ``speeds`` (a fleet is never uniform)."""
    base = model or default_model(Plotter.CHIA, None, k)
    out = []
    for i in range(n):
        name = f"plotter-{i + 1:03d}"
        cfg = plotter_config(plotter_yaml(name, k=k, scheduling=scheduling), f"{name}.yaml")
        sched = sched_of(cfg)
        speed = speeds[0] + (speeds[1] - speeds[0]) * (i / max(1, n - 1))
        sizes = dict.fromkeys(sched.tmp, tmp_bytes)
        sizes.update(dict.fromkeys(sched.dst, dst_plots * plot_size(k) + plot_size(k) // 2))
        out.append(PlotterSpec(name, sched, base.scaled(k, speed), sizes, link_bps, max_transfers, poll_s))
    return tuple(out)


def like_farmers(
    n: int, drives: int, plots_per_drive: int, *, k: int = 32, rules: Rules | None = None, link_bps: float = 1.25e9
) -> tuple[FarmerSpec, ...]:
    """``n`` farmers of ``drives`` drives each, every drive holding ``plots_per_drive`` plots above its floor."""
    rules = rules or Rules()
    per = -(-plot_size(k) // BLOCK) * BLOCK
    size = rules.min_free_bytes + plots_per_drive * per + per // 2
    return tuple(FarmerSpec(f"farmer-{i + 1:02d}", drives, size, rules, link_bps) for i in range(n))


def fleet(
    plotters: int,
    farmers: int,
    drives: int,
    plots_per_drive: int,
    days: float,
    *,
    k: int = 32,
    seed: int = 1,
    faults: Faults | None = None,
    rules: Rules | None = None,
    **plotter_kw: Any,
) -> Scenario:
    return Scenario(
        plotters=like_plotters(plotters, k=k, **plotter_kw),
        farmers=like_farmers(farmers, drives, plots_per_drive, k=k, rules=rules or Rules(lease_s=300.0)),
        days=days,
        seed=seed,
        faults=faults or Faults(),
    )


def with_faults(sc: Scenario, faults: Faults) -> Scenario:
    return replace(sc, faults=faults)
