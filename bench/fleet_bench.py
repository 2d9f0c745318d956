#!/usr/bin/env python3
"""Benchmark: `plotboss-cli status` against a fleet of 20 plotter agents (8 jobs each) vs against one of them.

Run from the repository root:  .venv/bin/python bench/fleet_bench.py   (see bench/README.md; --help for options)

Set-up (a temporary directory, removed at the end; testbed.benchbed): 8 real plot jobs (chia stand-in, k=22) stopped
in phase 1, and 20 real `plotboss-plotter` processes on 127.0.0.1, each with its own config, port and scheduler state,
all over the same dirs (one machine: every agent sees the same 8 jobs, so each answers with 8 jobs, as 20 plotters with
8 jobs each would). `agent.poll_s` is 5 (the default). Two fleet files: one naming the first agent, one naming all 20.

Measured, interleaved run by run: whole `plotboss-cli` processes, spawn to exit, output captured:
`--fleet fleet-1.yaml status` vs `--fleet fleet-20.yaml status`, the same with `--json`, and ad hoc `--plotter ADDR`
once vs 20 times. Every run's output is checked: exit 0 (every agent answered), and every agent's 8 jobs shown.

Target (issue 11): the fleet's wall time at most 2x one agent's (median).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from testbed.benchbed import Bed
from testbed.stats import Run, Series, process_cpu_s

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
VENV_BIN = Path(sys.executable).parent
TARGET_RATIO = 2.0


def fleet_yaml(members: Sequence[tuple[str, str]]) -> str:
    rows = "\n".join(f'  - {{name: {name}, address: "{address}"}}' for name, address in members)
    return f"version: 1\nplotters:\n{rows}\n"


def expect_text(names: Sequence[str], pids: Sequence[int]) -> Callable[[Run], str | None]:
    """Text output: a heading per agent saying how many jobs it has (at least ours), and every pid shown."""

    def check(r: Run) -> str | None:
        text = r.out.decode(errors="replace")
        for name in names:
            m = re.search(rf"^{re.escape(name)} \(.*\): (\d+) jobs", text, re.MULTILINE)
            if m is None or int(m.group(1)) < len(pids):
                return f"{name}: no heading with {len(pids)} jobs"
        missing = [p for p in pids if not re.search(rf"\b{p}\b", text)]
        return f"pids missing: {missing}" if missing else None

    return check


def expect_json(names: Sequence[str], pids: Sequence[int]) -> Callable[[Run], str | None]:
    """JSON output: every agent ok, each listing every one of our jobs with its plot id."""

    def check(r: Run) -> str | None:
        try:
            plotters = {p["name"]: p for p in json.loads(r.out)["plotters"]}
        except (ValueError, KeyError, TypeError) as e:
            return f"unreadable output: {e!r}"
        for name in names:
            p = plotters.get(name)
            if p is None or not p["ok"]:
                return f"{name}: {'missing' if p is None else p['error']}"
            listed = {j["pid"] for j in p["jobs"] if j.get("plot_id")}
            if not set(pids) <= listed:
                return f"{name}: jobs missing: {sorted(set(pids) - listed)}"
        return None

    return check


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--agents", type=int, default=20, help="plotter agents in the fleet (default 20)")
    ap.add_argument("--jobs", type=int, default=8, help="plot jobs (default 8), seen by every agent")
    ap.add_argument("--k", type=int, default=22, help="k of the plot jobs (default 22)")
    ap.add_argument("--runs", type=int, default=15, help="runs of each command, interleaved (default 15)")
    ap.add_argument("--poll-s", type=float, default=5.0, help="agent.poll_s of every agent (default 5)")
    ap.add_argument("--seconds-in-phase1", type=float, default=2.0, help="run time in phase 1 before SIGSTOP")
    ap.add_argument("--workdir", type=Path, default=None, help="parent of the temporary directory")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--results", type=Path, default=None, help="write results JSON here (default bench/results/)")
    args = ap.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="plotboss-fleet-bench-", dir=args.workdir))
    bed = Bed.make(root)
    report: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "agents": args.agents,
        "jobs": args.jobs,
        "runs": args.runs,
        "poll_s": args.poll_s,
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
    }
    try:
        pids = bed.start_stopped_jobs(args.jobs, args.k, args.seconds_in_phase1)
        print(f"{args.jobs} k={args.k} jobs in phase 1, stopped: pids {pids}")
        names = [f"plotter-{i + 1:02d}" for i in range(args.agents)]
        t0 = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            started = list(pool.map(lambda n: bed.start_plotter(n, args.poll_s, timeout_s=120.0), names))
        addresses = [address for _proc, address in started]
        bed.wait_listed(addresses, pids, timeout_s=120.0)
        print(f"{args.agents} agents up and listing the jobs after {time.monotonic() - t0:.1f} s")
        one, many = root / "fleet-1.yaml", root / f"fleet-{args.agents}.yaml"
        one.write_text(fleet_yaml([(names[0], addresses[0])]))
        many.write_text(fleet_yaml(list(zip(names, addresses, strict=True))))

        cli, env, n = str(VENV_BIN / "plotboss-cli"), bed.env, args.agents
        adhoc = [cli, *(a for address in addresses for a in ("--plotter", address))]
        one_cli, many_cli = [cli, "--fleet", str(one)], [cli, "--fleet", str(many)]
        pairs = [
            (
                Series("status, 1 agent (fleet file)", [*one_cli, "status"], env, expect_text(names[:1], pids)),
                Series(f"status, {n} agents (fleet file)", [*many_cli, "status"], env, expect_text(names, pids)),
            ),
            (
                Series("status --json, 1 agent", [*one_cli, "status", "--json"], env, expect_json(names[:1], pids)),
                Series(f"status --json, {n} agents", [*many_cli, "status", "--json"], env, expect_json(names, pids)),
            ),
            (
                Series("status, --plotter x1", [*adhoc[:3], "status"], env, expect_text(addresses[:1], pids)),
                Series(f"status, --plotter x{n}", [*adhoc, "status"], env, expect_text(addresses, pids)),
            ),
        ]
        series = [s for pair in pairs for s in pair]
        for s in series:  # warm-up (page cache, .pyc), then interleaved runs
            s.once()
            s.runs.clear()
        cpu0 = sum(process_cpu_s(p.pid) for p in bed.agents)
        w0 = time.monotonic()
        for _ in range(args.runs):
            for s in series:
                s.once()
        agents_cpu = (sum(process_cpu_s(p.pid) for p in bed.agents) - cpu0) / (time.monotonic() - w0)
        report_table(pairs, args, agents_cpu, report)
        out = args.results or RESULTS_DIR / f"fleet_bench-{dt.datetime.now():%Y%m%dT%H%M%S}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nresults: {out}")
        return 0 if not any(s.problems for s in series) else 1
    finally:
        bed.close()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def report_table(
    pairs: list[tuple[Series, Series]], args: argparse.Namespace, agents_cpu: float, report: dict[str, Any]
) -> None:
    load = os.getloadavg()
    print()
    print(f"{args.agents} agents x {args.jobs} stopped jobs, {args.runs} interleaved runs each, {os.cpu_count()} CPUs,")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; whole processes (spawn to exit)")
    print()
    print(f"{'command':<36} {'median ms':>10} {'min ms':>10} {'cpu ms':>10}  problems")
    for s in (s for pair in pairs for s in pair):
        row = f"{s.label:<36} {s.median_ms():>10.1f} {s.min_ms():>10.1f} {s.cpu_ms():>10.1f}"
        print(f"{row}  {len(s.problems)}: {s.problems[0]}" if s.problems else row)
    print()
    ratios: dict[str, float] = {}
    for single, fleet in pairs:
        ratio = fleet.median_ms() / single.median_ms()
        ratios[fleet.label] = round(ratio, 3)
        verdict = "ok" if ratio <= TARGET_RATIO else "MISSED"
        print(
            f"ratio {fleet.label:<32} / 1 agent: {ratio:.2f} (min {fleet.min_ms() / single.min_ms():.2f})   "
            f"target <= {TARGET_RATIO:g} {verdict}"
        )
    print(f"\nthe {args.agents} agents' CPU during the runs: {agents_cpu:.3f} CPU s per s (all of them together)")
    report["series"] = {
        s.label: {
            "wall_ms": [round(r.wall_s * 1000, 1) for r in s.runs],
            "cpu_ms": [round(r.cpu_s * 1000, 1) for r in s.runs],
            "problems": s.problems,
        }
        for pair in pairs
        for s in pair
    }
    report["ratios"] = ratios
    report["agents_cpu_s_per_s"] = round(agents_cpu, 4)
    report["loadavg_end"] = load
    report["targets_met"] = all(r <= TARGET_RATIO for r in ratios.values()) and not any(
        s.problems for pair in pairs for s in pair
    )


if __name__ == "__main__":
    sys.exit(main())
