"""Small fleets of the simulation: the same code as the full-scale benchmark, in seconds. The invariants hold with the
real decisions, also under faults, and break when a decision is broken on purpose (the checks can fail)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from farmer_agent.drives import DriveInfo
from farmer_agent.ledger import Ledger
from farmer_agent.reservation import Rules
from sim.build import fleet
from sim.fleet import simulate
from sim.report import Report
from sim.scenario import Faults, Scenario


def small(**kw: Any) -> Scenario:
    args: dict[str, Any] = dict(plotters=4, farmers=2, drives=4, plots_per_drive=4, days=6)
    args.update(kw)
    return fleet(**args)


def assert_clean(r: Report) -> None:
    assert (r.overfills, r.writer_violations, r.lost, r.duplicated, r.deleted_before_complete) == (0, 0, 0, 0, 0)


def test_a_small_farm_fills_with_no_violation() -> None:
    r = simulate(small())
    assert_clean(r)
    assert r.farm_capacity_plots == 2 * 4 * 4
    assert r.plots_on_farm == r.farm_capacity_plots and r.capacity_filled == 1.0
    assert r.plots_archived == r.plots_on_farm
    # once the farm is full the dst dirs fill and the schedulers wait on dst space
    assert r.plotter_hours_lost_dst_full > 0
    assert r.farm_full_at_day is not None and r.farm_full_at_day < 6
    assert r.transfer_slot_use > 0.5
    assert r.events > 0 and r.wall_s >= 0
    p = r.per_plotter[0]
    assert p.plots_made > 0 and p.wait_s.get("dst_space", 0) > 0 and p.peak_tmp_bytes


def test_runs_are_deterministic_for_a_seed() -> None:
    a, b = simulate(small(seed=3)), simulate(small(seed=3))

    def strip(r: Report) -> dict[str, Any]:
        return {k: v for k, v in r.as_dict().items() if k not in ("wall_s", "cpu_s", "events_per_s")}

    assert strip(a) == strip(b)


def test_faults_are_survived_without_violations() -> None:
    faults = Faults(
        farmer_outages_per_day=3,
        outage_hours=(0.5, 3),
        drive_failures_per_day=0.5,
        transfer_fail_p=0.2,
        plotter_restarts_per_day=3,
        farmer_restarts_per_day=3,
    )
    r = simulate(small(plotters=6, farmers=3, drives=4, plots_per_drive=5, days=8, faults=faults, seed=5))
    assert_clean(r)
    assert r.faults.get("transfer_died", 0) > 0 and r.faults.get("farmer_outage", 0) > 0
    assert r.faults.get("plotter_restart", 0) > 0 and r.faults.get("farmer_restart", 0) > 0
    assert r.transfer_failures > 0
    assert r.capacity_filled >= 0.9


class IgnoresReservations(Ledger):
    """A broken ledger: the space promised to transfers in flight is not counted."""

    def reserved_bytes(self, info: DriveInfo) -> int:
        return 0


def test_ignoring_reservations_overfills_drives() -> None:
    # several writers per drive: only the reserved-space accounting keeps them from promising the same bytes twice
    # like plotters without jitter finish their first plots together: eight pushes at once for six places
    rules = Rules(lease_s=300.0, max_writers_per_drive=4)
    base = small(plotters=8, farmers=1, drives=2, plots_per_drive=3, rules=rules, days=1, speeds=(1.0, 1.0))
    base = replace(base, jitter=0.0)
    good = simulate(base)
    assert_clean(good)
    broken = simulate(replace(base, ledger_factory=IgnoresReservations))
    assert broken.overfills > 0


def test_ignoring_the_writer_limit_is_reported() -> None:
    def loose(rules: Rules, *a: Any, **kw: Any) -> Ledger:
        return Ledger(replace(rules, max_writers_per_drive=8), *a, **kw)

    base = replace(small(plotters=8, farmers=1, drives=2, plots_per_drive=6, days=1, speeds=(1.0, 1.0)), jitter=0.0)
    assert simulate(base).writer_violations == 0
    assert simulate(replace(base, ledger_factory=loose)).writer_violations > 0
