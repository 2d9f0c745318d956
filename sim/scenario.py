"""What a simulation runs: the plotters (each with its scheduler config, phase-time model, dir sizes and link), the
farmers (drives, reservation rules, link), the period, the faults to inject, and the archiver's rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from farmer_agent.ledger import Ledger
from farmer_agent.reservation import Rules
from plotboss.config import parse_config
from plotter_agent.archive.farmers import FarmerRules
from plotter_agent.archive.outcome import OutcomeRules
from plotter_agent.archive.source import SourceRules
from plotter_agent.config import PlotterConfig
from plotter_agent.schedconfig import SchedulerConfig, scheduler_config
from sim.jobmodel import PhaseModel

GB = 10**9
DAY = 86400.0


@dataclass(frozen=True)
class PlotterSpec:
    name: str
    sched: SchedulerConfig
    model: PhaseModel
    #: the size of each configured dir (tmp, tmp2, dst) by its path
    dir_bytes: Mapping[str, int]
    link_bps: float = 125e6
    max_transfers: int = 1
    poll_s: float = 20.0
    #: the farmers this plotter sends to, by name (None: all of the scenario's)
    farmers: tuple[str, ...] | None = None
    #: farmers to try first, in this order (``choose_farmer``'s priority; empty: by room alone)
    priority: tuple[str, ...] = ()


@dataclass(frozen=True)
class FarmerSpec:
    name: str
    drives: int
    drive_bytes: int
    rules: Rules = field(default_factory=Rules)
    link_bps: float = 1.25e9
    #: each drive's own size (overrides ``drives`` x ``drive_bytes``): a real farmer's drives, room as they are now
    sizes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Faults:
    """Fleet-wide rates (events per simulated day) and sizes of the injected faults."""

    farmer_outages_per_day: float = 0.0
    outage_hours: tuple[float, float] = (1.0, 6.0)
    drive_failures_per_day: float = 0.0
    #: the chance that a push dies part way (rsync 12, 23, 30 or killed by a signal)
    transfer_fail_p: float = 0.0
    plotter_restarts_per_day: float = 0.0
    farmer_restarts_per_day: float = 0.0
    restart_down_s: float = 60.0


@dataclass(frozen=True)
class Scenario:
    plotters: tuple[PlotterSpec, ...]
    farmers: tuple[FarmerSpec, ...] = ()
    days: float = 1.0
    seed: int = 1
    #: per-job spread of the phase times (the standard deviation of a job's factor)
    jitter: float = 0.05
    drive_bps: float = 250e6
    faults: Faults = field(default_factory=Faults)
    source_rules: SourceRules = field(default_factory=SourceRules)
    farmer_rules: FarmerRules = field(default_factory=FarmerRules)
    outcome_rules: OutcomeRules = field(default_factory=OutcomeRules)
    #: how often a held reservation is renewed (None: a third of the farmer's lease)
    renew_every_s: float | None = None
    ledger_factory: Callable[..., Ledger] = Ledger
    #: the virtual clock's start (epoch seconds: plot names carry its date)
    t0: float = 1_796_688_000.0
    extra: Mapping[str, Any] = field(default_factory=dict)


def plotter_config(data: Mapping[str, Any], label: str = "plotter.yaml") -> PlotterConfig:
    return parse_config(dict(data), PlotterConfig, label)


def sched_of(cfg: PlotterConfig) -> SchedulerConfig:
    """The scheduler's view of a config, each configured dir its own filesystem (the simulation has no devices)."""
    sched = scheduler_config(cfg, device=lambda _p: None)
    if sched is None:
        from plotboss.errors import ConfigError

        raise ConfigError("plotter config: no plotting section: the scheduler would start nothing")
    return sched
