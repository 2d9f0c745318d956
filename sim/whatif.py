"""What a plotter config will do, before a plot is started: one plotter simulated with its real scheduler config and
the phase times learned from its logs, and the answer a user reads (``plotboss-cli simulate``): plots per day, peak
tmp use per tmp dir, how long the scheduler waited and why, and where the bottleneck is.

Dir sizes come from the dirs themselves when they exist on this machine (their file system's size), else from
``--size PATH=SIZE``. Plots leave the dst dirs to the farmers given (a fleet file's, as their ListDrives shows their
drives now), or, without any, to a farm with room for everything at the plotter's link speed.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from farmer_agent.reservation import Rules
from plotboss.errors import ConfigError
from plotboss.plots import plot_size
from plotter_agent.config import PlotterConfig
from sim.fleet import simulate
from sim.jobmodel import PhaseModel
from sim.report import Report
from sim.scenario import DAY, FarmerSpec, PlotterSpec, Scenario, sched_of

_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(i?)b?\s*$", re.IGNORECASE)

#: what each wait kind means, for the bottleneck line
BOTTLENECK = {
    "max_jobs": "global_max_jobs: the plotter runs as many jobs as allowed (raise it if CPU, RAM and tmp allow)",
    "stagger": "global_stagger_m: starts wait for the stagger (a shorter one starts jobs sooner)",
    "tmp_phase": "tmpdir_stagger_phase_*: each tmp dir waits for its jobs to reach the stagger phase",
    "tmp_jobs": "tmpdir_max_jobs: every tmp dir has its most jobs",
    "tmp_space": "tmp space: no tmp dir has room for another job's peak",
    "tmp2_space": "tmp2 space: the tmp2 dir has no room for another job",
    "dst_space": "dst space: plots leave the dst dirs slower than they are made (archiving, or the farm is full)",
    "other": "a tmp or dst dir that cannot be read",
}


def parse_size(text: str, what: str) -> int:
    """``500G``, ``1.8T``, ``2TiB``, ``1000000`` (bytes); G/T are powers of 1000, Gi/Ti of 1024."""
    m = _SIZE_RE.match(text)
    if m is None:
        raise ConfigError(f"{what}: {text!r} is not a size (e.g. 500G, 1.8T, 2TiB)")
    power = "kmgtp".find(m[2].lower()) + 1 if m[2] else 0
    base = 1024 if m[3] else 1000
    return int(float(m[1]) * base**power)


def dir_sizes(cfg: PlotterConfig, label: str, given: Mapping[str, int]) -> dict[str, int]:
    """The size of each configured dir: ``given`` (by path), else its file system's size here; ConfigError naming
    the field when neither is known."""
    sched = sched_of(cfg)
    norm = {os.path.normpath(os.path.abspath(p)): v for p, v in given.items()}
    out: dict[str, int] = {}
    roles = [("directories.tmp", p) for p in sched.tmp] + [("directories.dst", p) for p in sched.dst]
    if sched.tmp2 is not None:
        roles.append(("directories.tmp2", sched.tmp2))
    for fld, path in roles:
        if path in norm:
            out[path] = norm[path]
            continue
        try:
            st = os.statvfs(path)
        except OSError:
            raise ConfigError(
                f"{label}: {fld}: {path} is not on this machine; give its size with --size {path}=SIZE"
            ) from None
        out[path] = st.f_blocks * st.f_frsize
    return out


@dataclass(frozen=True)
class WhatIf:
    label: str
    days: float
    plots_per_day: float
    mean_job_s: float
    model_source: str
    #: peak bytes of temp files per tmp dir, and each dir's size
    peak_tmp_bytes: dict[str, int]
    tmp_bytes: dict[str, int]
    #: hours the scheduler waited, by why (one wait can have several whys)
    wait_h: dict[str, float]
    bottleneck: str
    bottleneck_kind: str
    plots_archived: int
    longest_dst_wait_s: float
    transfer_slot_use: float
    report: Report = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": self.label,
            "days": self.days,
            "plots_per_day": round(self.plots_per_day, 2),
            "mean_job_s": round(self.mean_job_s, 1),
            "phase_times": self.model_source,
            "peak_tmp_bytes": self.peak_tmp_bytes,
            "tmp_bytes": self.tmp_bytes,
            "wait_s": {k: round(v * 3600, 1) for k, v in self.wait_h.items()},
            "bottleneck": self.bottleneck_kind,
            "bottleneck_text": self.bottleneck,
            "plots_archived": self.plots_archived,
            "longest_dst_wait_s": self.longest_dst_wait_s,
            "transfer_slot_use": self.transfer_slot_use,
            "violations": self.report.violations,
        }


def virtual_farm(link_bps: float, days: float, model: PhaseModel, k: int) -> tuple[FarmerSpec, ...]:
    """A farm that never fills: room for every plot the period could make, writers to spare."""
    plots = math.ceil(days * DAY / max(model.total_s, 1.0)) * 64 + 8
    per_drive = plot_size(k) * (plots // 4 + 2)
    return (FarmerSpec("farm", 4, per_drive, Rules(lease_s=600.0, max_writers_per_drive=4), link_bps),)


def what_if(
    cfg: PlotterConfig,
    label: str,
    model: PhaseModel,
    sizes: Mapping[str, int],
    *,
    farmers: Sequence[FarmerSpec] = (),
    days: float = 7.0,
    seed: int = 1,
    link_bps: float = 125e6,
    jitter: float = 0.05,
) -> WhatIf:
    sched = sched_of(cfg)
    k = sched.job.spec.k
    max_transfers = cfg.archiving.max_concurrent_transfers
    spec = PlotterSpec(
        cfg.agent.name,
        sched,
        model.scaled(k),
        dict(sizes),
        link_bps,
        max_transfers,
        cfg.scheduling.polling_time_s,
    )
    farm = tuple(farmers) or virtual_farm(link_bps, days, model, k)
    r = simulate(Scenario(plotters=(spec,), farmers=farm, days=days, seed=seed, jitter=jitter))
    p = r.per_plotter[0]
    period = days * DAY
    wait_h = {kind: s / 3600 for kind, s in sorted(p.wait_s.items(), key=lambda kv: -kv[1])}
    top = next(iter(wait_h), None)
    if top is None or wait_h[top] * 3600 < 0.05 * period:
        kind, text = "none", "none: a job starts as soon as one ends (the plotter itself, CPU and disks, sets the pace)"
    else:
        kind, text = top, BOTTLENECK.get(top, top)
    return WhatIf(
        label=label,
        days=days,
        plots_per_day=p.plots_made / days,
        mean_job_s=p.mean_job_s,
        model_source=spec.model.source,
        peak_tmp_bytes=p.peak_tmp_bytes,
        tmp_bytes={t: sizes[t] for t in sched.tmp},
        wait_h=wait_h,
        bottleneck=text,
        bottleneck_kind=kind,
        plots_archived=r.plots_archived,
        longest_dst_wait_s=r.longest_dst_wait_s,
        transfer_slot_use=r.transfer_slot_use,
        report=r,
    )
