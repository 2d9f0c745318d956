#!/usr/bin/env python3
"""Benchmark: the fleet simulation at full scale, driving the real decision code (see README, "Simulation").

Run from the repository root:  .venv/bin/python bench/sim_bench.py   (--help for options; --json for the report)

200 plotters (chia k32, two 1 TB tmp dirs, a dst dir for 12 plots, 1 Gb/s links, speeds spread 0.8x..1.25x of the
phase times learned from a real k32 log), 40 farmers of 60 drives (2,400 drives, 10 Gb/s links, 250 MB/s per drive),
each drive holding 32 plots above its floor, 30 simulated days, leases of 300 s renewed every 100 s. The farm is
sized to fill before the period ends. With ``--faults`` (the default): farmer outages of 1-6 h, drive failures,
pushes that die part way, plotter-agent and farmer-agent restarts.

Targets (exit status 1 when one is missed): >= 99.5 % of the farm filled, 0 overfills, 0 writer violations, 0 lost,
duplicated or early-deleted plots, >= 90 % of the possible parallel transfers in use while plots wait, under 600 s
of wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sim.build import fleet  # noqa: E402
from sim.fleet import Fleet, simulate  # noqa: E402
from sim.report import report_table  # noqa: E402
from sim.scenario import Faults  # noqa: E402

FAULTS = Faults(
    farmer_outages_per_day=2.0,
    drive_failures_per_day=1.0,
    transfer_fail_p=0.01,
    plotter_restarts_per_day=4.0,
    farmer_restarts_per_day=2.0,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--plotters", type=int, default=200)
    ap.add_argument("--farmers", type=int, default=40)
    ap.add_argument("--drives", type=int, default=60, help="drives per farmer")
    ap.add_argument("--plots-per-drive", type=int, default=32)
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-faults", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--progress", action="store_true", help="a line on stderr per simulated day")
    args = ap.parse_args(argv)
    sc = fleet(
        args.plotters,
        args.farmers,
        args.drives,
        args.plots_per_drive,
        args.days,
        seed=args.seed,
        faults=Faults() if args.no_faults else FAULTS,
    )
    t0 = time.perf_counter()

    def progress(f: Fleet) -> None:
        day = (f.engine.now - sc.t0) / 86400
        print(
            f"day {day:4.1f}: {len(f.made)} plots made, {f.placed} placed of {f.live_cap}, {f.engine.events} events, "
            f"{time.perf_counter() - t0:.0f} s wall, {time.process_time():.0f} s CPU",
            file=sys.stderr,
            flush=True,
        )

    r = simulate(sc, progress if args.progress else None)
    total = time.perf_counter() - t0
    if args.json:
        print(json.dumps(r.as_dict(with_plotters=False), indent=2))
    else:
        from rich.console import Console

        Console().print(report_table(r))
        print(f"wall time including set-up: {total:.1f} s")
    misses = []
    if r.capacity_filled < 0.995:
        misses.append(f"farm filled {100 * r.capacity_filled:.2f} % < 99.5 %")
    if r.violations:
        misses.append(f"{r.violations} invariant violations")
    if r.transfer_slot_use < 0.90:
        misses.append(f"transfer slots in use {100 * r.transfer_slot_use:.1f} % < 90 %")
    if total > 600:
        misses.append(f"wall time {total:.0f} s > 600 s")
    for m in misses:
        print(f"MISSED: {m}", file=sys.stderr)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
