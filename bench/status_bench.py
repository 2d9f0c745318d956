#!/usr/bin/env python3
"""Benchmark: `plotboss-cli status` against plotman 0.5.3's `plotman status` on the same real plot jobs.

Run from the repository root:  .venv/bin/python bench/status_bench.py   (see bench/README.md)

Set-up (all in a temporary directory, removed at the end):
- 2,000 completed plot logs in the log dir (copies of tests/data/logs samples with fresh plot ids and timestamps);
- 8 real plot jobs (testbed/chia, the `chia plots create` stand-in, k=22) with their logs in the same log dir,
  run until each is a couple of seconds into phase 1 and then SIGSTOPped, so that they stay plot jobs with open logs but
  do not swamp the 2 cores during the timings;
- plotman 0.5.3 in its own venv (bash /work/shared/bench/install-plotman) with a plotman.yaml naming the same dirs;
- one plotboss plotter agent (plotboss-plotter) with a plotter.yaml naming the same dirs.

Measured, in the same run:
1. wall time of whole processes, interleaved run by run: `plotman status` vs `plotboss-cli --plotter ADDR status`, and
   `plotman status --json` vs `plotboss-cli --plotter ADDR status --json` (median and min, plus the child's CPU time);
2. the agent's own CPU seconds (user+system, its children included) over a window with no client calls, divided by the
   number of poll cycles in that window.

Targets (issue 3): plotboss at most half of plotman's wall time; agent CPU per poll under 10 ms.

The parts (log stamper, job fleet, installs, timings and stats, the agent launcher) live in the `testbed` package.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from testbed.agents import wait_for_jobs
from testbed.benchbed import Bed
from testbed.installs import ensure_plotman, install_plotboss, plotman_yaml
from testbed.logstamp import write_completed_logs
from testbed.stats import (
    CpuResult,
    PollSample,
    Series,
    expect_jobs,
    expect_pids,
    measure_agent_cpu,
    plotboss_json_jobs,
    plotman_json_jobs,
    process_cpu_s,
    sample_polls,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PLOTMAN_VENV = REPO / ".bench-venvs" / "plotman"
DEFAULT_INSTALLED_VENV = REPO / ".bench-venvs" / "plotboss"
RESULTS_DIR = REPO / "bench" / "results"
VENV_BIN = Path(sys.executable).parent

TARGET_RATIO = 0.5
TARGET_CPU_MS_PER_POLL = 10.0


# --------------------------------------------------------------------------------------------------------------------
# main


def report_results(
    args: argparse.Namespace,
    series: dict[str, Series],
    cpu: CpuResult | None,
    sample: PollSample | None,
    report: dict[str, Any],
    problems: list[str],
) -> None:
    """Print the tables and verdicts; complete ``report`` (and ``problems``) and write it as JSON."""
    for s in series.values():
        if s.runs and "--json" not in s.label and "[pip]" not in s.label:
            print(f"\n--- last output of {s.label}:")
            print(s.runs[-1].out.decode(errors="replace").rstrip())
    print()
    print(f"{args.jobs} stopped k={args.k} jobs, {args.old_logs} completed logs, {args.runs} interleaved runs each,")
    load = os.getloadavg()
    print(
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        "whole processes (spawn to exit)"
    )
    print()
    print(f"{'command':<36} {'median ms':>10} {'min ms':>10} {'cpu ms':>10}  problems")
    for s in series.values():
        row = f"{s.label:<36} {s.median_ms():>10.1f} {s.min_ms():>10.1f} {s.cpu_ms():>10.1f}"
        print(f"{row}  {len(s.problems)}" if s.problems else row)
        for p in sorted(set(s.problems))[:3]:
            problems.append(f"{s.label}: {p}")
    report["series"] = {
        s.label: {
            "median_ms": round(s.median_ms(), 1),
            "min_ms": round(s.min_ms(), 1),
            "cpu_ms": round(s.cpu_ms(), 1),
            "wall_ms": [round(r.wall_s * 1000, 1) for r in s.runs],
            "problems": s.problems,
        }
        for s in series.values()
    }
    print()
    ok = True
    if "plotboss-cli status" in series:
        print(f"{'ratio plotboss / plotman':<36} {'median':>10} {'min':>10} {'cpu':>10}   target (median)")
        ratios: dict[str, dict[str, float]] = {}
        pairs = [
            (a, "plotman status --json" if a.startswith("plotboss-cli status --json") else "plotman status")
            for a in series
            if a.startswith("plotboss-cli")
        ]
        for a, b in pairs:
            med = series[a].median_ms() / series[b].median_ms()
            mn = series[a].min_ms() / series[b].min_ms()
            cr = series[a].cpu_ms() / series[b].cpu_ms()
            ratios[a] = {"median": round(med, 3), "min": round(mn, 3), "cpu": round(cr, 3)}
            verdict = "ok" if med <= TARGET_RATIO else "MISSED"
            ok = ok and med <= TARGET_RATIO
            print(f"{a[len('plotboss-cli ') :]:<36} {med:>10.2f} {mn:>10.2f} {cr:>10.2f}   <= {TARGET_RATIO} {verdict}")
        report["ratios"] = ratios
    if cpu is not None:
        verdict = "ok" if cpu.ms_per_poll < TARGET_CPU_MS_PER_POLL else "MISSED"
        ok = ok and cpu.ms_per_poll < TARGET_CPU_MS_PER_POLL
        print()
        print(
            f"agent CPU per poll: {cpu.ms_per_poll:.1f} ms   target < {TARGET_CPU_MS_PER_POLL:.0f} ms {verdict}\n"
            f"  {cpu.cpu_s:.3f} CPU s (user+sys, whole agent process, nothing subtracted) over "
            f"{cpu.elapsed_s:.1f} s with no client calls; {cpu.polls:.1f} polls = {cpu.how}"
        )
        report["agent_cpu"] = {
            "ms_per_poll": round(cpu.ms_per_poll, 2),
            "cpu_s": round(cpu.cpu_s, 4),
            "elapsed_s": round(cpu.elapsed_s, 2),
            "polls": round(cpu.polls, 1),
            "polls_how": cpu.how,
        }
    if sample is not None and sample.self_cpu_ms:
        med = statistics.median(sample.self_cpu_ms)
        print(
            f"  cross-check, the agent's own poll_cpu (ListJobs): median {med:.1f} ms, "
            f"max {max(sample.self_cpu_ms):.1f} ms over {len(sample.self_cpu_ms)} polls"
        )
        report.setdefault("agent_cpu", {})["self_reported_poll_cpu_ms"] = [round(x, 2) for x in sample.self_cpu_ms]
    if "agent_startup_cpu_s" in report:
        print(f"  agent start-up (until it listed the jobs): {report['agent_startup_cpu_s']:.2f} CPU s")
    report["loadavg_end"] = os.getloadavg()
    report["targets_met"] = ok and not problems
    report["problems"] = problems
    if problems:
        print()
        print("problems:")
        for p in problems:
            print(f"  - {p}")
    out = args.results or RESULTS_DIR / f"status_bench-{dt.datetime.now():%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults: {out}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=15, help="runs of each command, interleaved (default 15)")
    ap.add_argument("--jobs", type=int, default=8, help="plot jobs (default 8)")
    ap.add_argument("--old-logs", type=int, default=2000, help="completed logs in the log dir (default 2000)")
    ap.add_argument("--k", type=int, default=22, help="k of the plot jobs (default 22)")
    ap.add_argument("--tmp-dirs", type=int, default=4, help="tmp dirs the jobs spread over (default 4)")
    ap.add_argument("--seconds-in-phase1", type=float, default=2.0, help="run time in phase 1 before SIGSTOP")
    ap.add_argument("--poll-s", type=float, default=0.5, help="agent.poll_s (default 0.5)")
    ap.add_argument("--cpu-window-s", type=float, default=20.0, help="agent CPU measurement window (default 20)")
    ap.add_argument("--warmup-s", type=float, default=5.0, help="wait after the agent lists the jobs (default 5)")
    ap.add_argument("--agent-timeout-s", type=float, default=120.0, help="wait this long for the agent's job list")
    ap.add_argument("--plotman-venv", type=Path, default=DEFAULT_PLOTMAN_VENV)
    ap.add_argument(
        "--installed-venv",
        type=Path,
        default=DEFAULT_INSTALLED_VENV,
        help="also time plotboss-cli from a regular `pip install .` of the tree in this venv (made or refreshed)",
    )
    ap.add_argument("--no-installed", action="store_true", help="time only the dev venv's plotboss-cli")
    ap.add_argument("--workdir", type=Path, default=None, help="parent of the temporary directory")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, configs, agent log)")
    ap.add_argument("--results", type=Path, default=None, help="write results JSON here (default bench/results/)")
    args = ap.parse_args(argv)

    plotman = ensure_plotman(args.plotman_venv)
    installed_cli = None if args.no_installed else install_plotboss(args.installed_venv)
    root = Path(tempfile.mkdtemp(prefix="plotboss-status-bench-", dir=args.workdir))
    bed = Bed.make(root, args.tmp_dirs)
    tmp_dirs, dst, log_dir, state, env = bed.tmp_dirs, bed.dst, bed.log_dir, bed.state, bed.env
    (root / "xdg-config" / "plotman").mkdir(parents=True, exist_ok=True)
    (root / "xdg-config" / "plotman" / "plotman.yaml").write_text(plotman_yaml(tmp_dirs, dst, log_dir, state))

    agent: subprocess.Popen[bytes] | None = None
    report: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "jobs": args.jobs,
        "old_logs": args.old_logs,
        "k": args.k,
        "runs": args.runs,
        "poll_s": args.poll_s,
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
    }
    problems: list[str] = []
    try:
        t0 = time.monotonic()
        nbytes = write_completed_logs(log_dir, args.old_logs)
        print(f"wrote {args.old_logs} completed logs ({nbytes / 2**20:.0f} MiB) in {time.monotonic() - t0:.1f} s")

        pids = bed.start_stopped_jobs(args.jobs, args.k, args.seconds_in_phase1)
        print(f"{args.jobs} k={args.k} jobs in phase 1, stopped: pids {pids}")

        cli = [str(VENV_BIN / "plotboss-cli")]
        series = {
            "plotman status": Series("plotman status", [str(plotman), "status"], env, expect_pids(pids)),
            "plotman status --json": Series(
                "plotman status --json",
                [str(plotman), "status", "--json"],
                env,
                expect_jobs(pids, plotman_json_jobs),
            ),
        }
        # plotman must see the jobs, or the comparison means nothing
        seen = series["plotman status --json"]
        seen.once()
        if seen.problems:
            raise RuntimeError(f"plotman does not see the {args.jobs} jobs: {seen.problems[0]}")

        c0 = time.monotonic()
        agent, address = bed.start_plotter("plotter-01", args.poll_s)
        boss_json = Series(
            "plotboss-cli status --json",
            [*cli, "--plotter", address, "status", "--json"],
            env,
            expect_jobs(pids, plotboss_json_jobs),
        )
        boss_text = Series("plotboss-cli status", [*cli, "--plotter", address, "status"], env, expect_pids(pids))
        boss_extra: list[Series] = []
        if installed_cli is not None:
            icli = [str(installed_cli), "--plotter", address, "status"]
            boss_extra = [
                Series("plotboss-cli status [pip]", icli, env, expect_pids(pids)),
                Series(
                    "plotboss-cli status --json [pip]", [*icli, "--json"], env, expect_jobs(pids, plotboss_json_jobs)
                ),
            ]
        waited, problem = wait_for_jobs(address, pids, args.agent_timeout_s)
        report["agent_ready_s"] = round(time.monotonic() - c0, 2)
        agent_ready = problem is None
        if not agent_ready:
            problems.append(f"plotboss agent did not list the {args.jobs} jobs within {waited:.0f} s: {problem}")
        else:
            report["agent_startup_cpu_s"] = round(process_cpu_s(agent.pid), 3)
            cpu_now = process_cpu_s(agent.pid)
            print(f"agent listed {args.jobs} jobs after {report['agent_ready_s']} s (CPU {cpu_now:.2f} s)")
            time.sleep(args.warmup_s)
            boss_json.once()
            if boss_json.problems:
                problems.append(f"plotboss-cli status --json does not list the jobs: {boss_json.problems[0]}")
            else:
                series["plotboss-cli status"] = boss_text
                series["plotboss-cli status --json"] = boss_json
                for extra in boss_extra:
                    series[extra.label] = extra

        # warm-up run of each (page cache, .pyc), then interleaved runs
        for s in series.values():
            s.once()
            s.runs.clear()
            s.problems.clear()
        for _ in range(args.runs):
            for s in series.values():
                s.once()
        if not bed.fleet.all_alive():
            problems.append("a plot job ended during the timings")

        cpu: CpuResult | None = None
        sample: PollSample | None = None
        if agent_ready and agent is not None:
            # the poll period as the agent's snapshot times show it (a poll loop that sleeps poll_s after each poll
            # has a period of poll_s plus the poll's own time), then a window with no client calls at all
            sample = sample_polls(address, 10, args.poll_s)
            if sample.period_s:
                how = f"elapsed / measured poll period {sample.period_s * 1000:.0f} ms (snapshot times)"
                period = sample.period_s
            else:
                how = f"elapsed / poll_s ({args.poll_s} s), estimated: ListJobs gave no snapshot times"
                period = args.poll_s
            time.sleep(args.poll_s)
            cpu = measure_agent_cpu(agent.pid, args.cpu_window_s, period, how)

        report_results(args, series, cpu, sample, report, problems)
        return 0 if "plotboss-cli status" in series and cpu is not None else 1
    finally:
        bed.close()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
