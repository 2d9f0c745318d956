"""The simulation's report: what the fleet made and archived, how full the farm got, the invariants' violations,
where time went, and the simulation's own speed. A JSON-ready dict and a rich table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.fleet import Fleet

DAY = 86400.0


@dataclass(frozen=True)
class PlotterReport:
    name: str
    plots_started: int
    plots_made: int
    plots_per_day: float
    mean_job_s: float
    #: seconds the scheduler waited, by why (stagger, tmp space, dst space, ...): one wait can have several whys
    wait_s: dict[str, float]
    dst_full_only_s: float
    peak_tmp_bytes: dict[str, int]
    longest_dst_wait_s: float


@dataclass(frozen=True)
class Report:
    days: float
    plotters: int
    farmers: int
    drives: int
    plots_started: int
    plots_made: int
    plots_archived: int
    plots_on_farm: int
    farm_capacity_plots: int
    capacity_filled: float
    farm_full_at_day: float | None
    overfills: int
    writer_violations: int
    lost: int
    duplicated: int
    deleted_before_complete: int
    lost_with_failed_drives: int
    plotter_hours_lost_dst_full: float
    transfer_slot_use: float
    longest_dst_wait_s: float
    transfer_failures: int
    #: plots parked at the end: a farmer holds them already (not sent again, the source kept: see outcome.Park)
    parked: int
    given_up: int
    faults: dict[str, int]
    wall_s: float
    #: CPU seconds the simulation took (on a shared machine the wall time also counts the others' load)
    cpu_s: float
    events: int
    events_per_s: float
    per_plotter: list[PlotterReport] = field(default_factory=list)

    def as_dict(self, *, with_plotters: bool = True) -> dict[str, Any]:
        d = asdict(self)
        if not with_plotters:
            d.pop("per_plotter")
        return d

    @property
    def violations(self) -> int:
        return self.overfills + self.writer_violations + self.lost + self.duplicated + self.deleted_before_complete


def build_report(fleet: Fleet, wall_s: float, cpu_s: float = 0.0) -> Report:
    sc = fleet.sc
    days = sc.days
    per = []
    for pl in fleet.plotters:
        st = pl.stats
        per.append(
            PlotterReport(
                name=pl.name,
                plots_started=st.started,
                plots_made=st.finished,
                plots_per_day=st.finished / days if days else 0.0,
                mean_job_s=sum(st.job_seconds) / len(st.job_seconds) if st.job_seconds else 0.0,
                wait_s={k: round(v, 1) for k, v in st.wait_s.items() if v > 0},
                dst_full_only_s=round(st.dst_only_s, 1),
                peak_tmp_bytes=dict(st.peak_tmp),
                longest_dst_wait_s=round(st.longest_dst_wait_s, 1),
            )
        )
    cap = fleet.live_capacity()
    on_farm = sum(len(d.plots) for f in fleet.farmers for d in f.drives if not d.failed)
    v = fleet.violations
    dst_over = sum(pl.stats.dst_overfills for pl in fleet.plotters)
    return Report(
        days=days,
        plotters=len(fleet.plotters),
        farmers=len(fleet.farmers),
        drives=sum(len(f.drives) for f in fleet.farmers),
        plots_started=fleet.plots_started,
        plots_made=len(fleet.made),
        plots_archived=fleet.deleted,
        plots_on_farm=on_farm,
        farm_capacity_plots=cap,
        capacity_filled=round(on_farm / cap, 5) if cap else 0.0,
        farm_full_at_day=round((fleet.full_at - sc.t0) / DAY, 2) if fleet.full_at is not None else None,
        overfills=v["overfills"] + dst_over,
        writer_violations=v["writer_violations"],
        lost=v["lost"],
        duplicated=v["duplicated"],
        deleted_before_complete=v["deleted_before_complete"],
        lost_with_failed_drives=fleet.lost_with_drives,
        plotter_hours_lost_dst_full=round(sum(pl.stats.dst_only_s for pl in fleet.plotters) / 3600, 1),
        transfer_slot_use=round(fleet.slot_used_s / fleet.slot_possible_s, 4) if fleet.slot_possible_s else 1.0,
        longest_dst_wait_s=round(max((pl.stats.longest_dst_wait_s for pl in fleet.plotters), default=0.0), 1),
        transfer_failures=fleet.transfer_failures,
        parked=sum(len(pl.archiver.parked) for pl in fleet.plotters if pl.archiver is not None),
        given_up=fleet.given_up,
        faults=dict(fleet.faults_injected),
        wall_s=round(wall_s, 2),
        cpu_s=round(cpu_s, 2),
        events=fleet.engine.events,
        events_per_s=round(fleet.engine.events / wall_s) if wall_s > 0 else 0.0,
        per_plotter=per,
    )


def report_table(r: Report) -> Any:
    """The fleet figures as a rich table (two columns: what, value)."""
    from rich.table import Table

    t = Table(title=f"simulation: {r.plotters} plotters, {r.farmers} farmers, {r.drives} drives, {r.days:g} days")
    t.add_column("figure")
    t.add_column("value", justify="right")
    rows: list[tuple[str, str]] = [
        ("plots started / made", f"{r.plots_started} / {r.plots_made}"),
        ("plots archived (source deleted after Complete)", str(r.plots_archived)),
        (
            "farm filled (plots placed / capacity)",
            f"{r.plots_on_farm} / {r.farm_capacity_plots} = {100 * r.capacity_filled:.2f} %",
        ),
        ("farm 99.5 % full at day", "-" if r.farm_full_at_day is None else f"{r.farm_full_at_day:.2f}"),
        ("overfills / writer violations", f"{r.overfills} / {r.writer_violations}"),
        ("lost / duplicated / deleted before Complete", f"{r.lost} / {r.duplicated} / {r.deleted_before_complete}"),
        ("plots lost with failed drives", str(r.lost_with_failed_drives)),
        ("plotter hours lost (dst full)", f"{r.plotter_hours_lost_dst_full:.1f}"),
        ("transfer slots in use while plots wait", f"{100 * r.transfer_slot_use:.1f} %"),
        ("longest wait of a plot in dst", f"{r.longest_dst_wait_s / 3600:.2f} h"),
        ("pushes failed / plots parked / given up", f"{r.transfer_failures} / {r.parked} / {r.given_up}"),
        ("faults injected", ", ".join(f"{k} {v}" for k, v in sorted(r.faults.items())) or "none"),
        ("simulation wall / CPU time", f"{r.wall_s:.1f} s / {r.cpu_s:.1f} s"),
        ("events / events per wall second", f"{r.events} / {r.events_per_s:.0f}"),
    ]
    for a, b in rows:
        t.add_row(a, b)
    return t
