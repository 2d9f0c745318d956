#!/usr/bin/env python3
"""Benchmark: 50 concurrent clients running `status --json` against one plotter agent with 8 jobs, for 30 s.

Run from the repository root:  .venv/bin/python bench/load_bench.py   (see bench/README.md; --help for options)

Set-up (a temporary directory, removed at the end; testbed.benchbed): 8 real plot jobs (chia stand-in, k=22) stopped
in phase 1, one real `plotboss-plotter` on 127.0.0.1 (`agent.poll_s` 5, the default) watching them.

Two loads, one after the other, each for the same window:
1. **processes**: 50 client threads, each running whole `plotboss-cli --plotter ADDR status --json` processes back
   to back. On 2 cores this measures Python start-up (~130 ms of CPU per process) queueing for the CPUs, not the agent;
2. **in-process**: 50 clients spread over client processes (threads in each), each calling the command's own code path
   back to back (cli.targets.resolve_targets, fan_out with cli.jobs_cmds.status_ask, status_json, json.dumps; a new
   channel per call, as the CLI makes), without the interpreter start-up.

Every call's outcome is checked: exit 0 / every agent ok, and the JSON lists the 8 jobs with their plot ids; anything
else is an error, counted and printed (the first few). Reported per load: calls, calls/s, p50/p99/max latency per call,
errors, and the agent's CPU seconds per second of the window (psutil, user+system, children included).

Target (issue 11): no errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from testbed.benchbed import Bed
from testbed.stats import process_cpu_s

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
VENV_BIN = Path(sys.executable).parent
ERRORS_SHOWN = 5


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def check_status_json(out: bytes, pids: Sequence[int]) -> str | None:
    """None when `status --json` shows every plotter ok and all of ``pids`` with their plot ids, else what is wrong."""
    try:
        plotters = json.loads(out)["plotters"]
        bad = [p for p in plotters if not p["ok"]]
        listed = {j["pid"] for p in plotters for j in p["jobs"] if j.get("plot_id")}
    except (ValueError, KeyError, TypeError) as e:
        return f"unreadable output: {e!r}"
    if bad:
        return f"{bad[0]['name']}: {bad[0]['error']}"
    missing = sorted(set(pids) - listed)
    return f"jobs missing: {missing}" if missing else None


class Tally:
    """Latencies and errors of calls that started inside the window, from many threads."""

    def __init__(self) -> None:
        self.lat: list[float] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def add(self, seconds: float, error: str | None) -> None:
        with self._lock:
            if error is None:
                self.lat.append(seconds)
            else:
                self.errors.append(error)


def run_clients(clients: int, end: float, one_call: Callable[[], str | None]) -> Tally:
    """``clients`` threads calling ``one_call`` back to back until ``end`` (monotonic); a call started before ``end``
    is waited for and counted."""
    tally = Tally()

    def client() -> None:
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                error = one_call()
            except Exception as e:
                error = f"{type(e).__name__}: {e}"
            tally.add(time.perf_counter() - t0, error)

    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(client) for _ in range(clients)]:
            f.result()
    return tally


def process_call(cmd: list[str], env: dict[str, str], pids: Sequence[int]) -> Callable[[], str | None]:
    def call() -> str | None:
        p = subprocess.run(cmd, env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            return f"exit {p.returncode}: {p.stderr.decode(errors='replace').strip()[-300:]}"
        return check_status_json(p.stdout, pids)

    return call


def _inprocess_worker(a: tuple[str, list[int], int, float, float, dict[str, str]]) -> dict[str, Any]:
    """One client process: ``threads`` clients calling the status command's code path from ``start`` to ``end`` (wall
    clock: the processes start at the same time, once all are up)."""
    address, pids, threads, start_wall, end_wall, env = a
    os.environ.update(env)  # the agent's local credential lives under PLOTBOSS_RUNTIME_DIR
    from cli.jobs_cmds import status_ask, status_json
    from cli.targets import ClientOptions, fan_out, resolve_targets

    opts = ClientOptions(None, (address,), (), None, None, None, None)
    ask = status_ask(None)

    def call() -> str | None:
        outcomes = fan_out(resolve_targets(opts, "plotter"), opts.timeout_s, ask)
        return check_status_json(json.dumps(status_json(outcomes), indent=2).encode(), pids)

    time.sleep(max(0.0, start_wall - time.time()))
    cpu0 = time.process_time()
    tally = run_clients(threads, time.monotonic() + (end_wall - time.time()), call)
    return {"lat": tally.lat, "errors": tally.errors, "cpu_s": time.process_time() - cpu0}


def measure(
    label: str,
    agent_pid: int,
    seconds: float,
    run: Callable[[float, float], tuple[list[float], list[str], float]],
    lead_s: float = 0.0,
) -> dict[str, Any]:
    """Run a load: ``run(start, end)`` (wall clock; ``lead_s`` from now to the start, for clients that need time to
    come up) returns its calls' latencies and errors and the clients' CPU seconds. The agent's CPU is measured from
    the start until ``run`` returns."""
    print(f"{label}: running for {seconds:.0f} s ...", flush=True)
    start = time.time() + lead_s
    cpu: list[tuple[float, float]] = []

    def at_start() -> None:
        time.sleep(max(0.0, start - time.time()))
        cpu.append((process_cpu_s(agent_pid), time.monotonic()))

    timer = threading.Thread(target=at_start)
    timer.start()
    lat, errors, client_cpu_s = run(start, start + seconds)
    timer.join()
    c1, t1 = process_cpu_s(agent_pid), time.monotonic()
    c0, t0 = cpu[0]
    return {
        "label": label,
        "elapsed_s": round(t1 - t0, 2),
        "calls": len(lat) + len(errors),
        "calls_per_s": round((len(lat) + len(errors)) / (t1 - t0), 1),
        "p50_ms": round(pct(lat, 50) * 1000, 1),
        "p99_ms": round(pct(lat, 99) * 1000, 1),
        "max_ms": round(max(lat, default=float("nan")) * 1000, 1),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:ERRORS_SHOWN],
        "agent_cpu_s_per_s": round((c1 - c0) / (t1 - t0), 3),
        "client_cpu_ms_per_call": round(client_cpu_s / max(1, len(lat) + len(errors)) * 1000, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each load (default 30)")
    ap.add_argument("--jobs", type=int, default=8, help="plot jobs (default 8)")
    ap.add_argument("--k", type=int, default=22, help="k of the plot jobs (default 22)")
    ap.add_argument("--poll-s", type=float, default=5.0, help="agent.poll_s (default 5)")
    ap.add_argument("--client-procs", type=int, default=2, help="processes the in-process clients run in (default 2)")
    ap.add_argument("--only", choices=("processes", "in-process"), default=None, help="run one of the two loads")
    ap.add_argument("--lead-s", type=float, default=8.0, help="time the in-process clients get to come up")
    ap.add_argument("--idle-s", type=float, default=10.0, help="agent CPU window with no calls, for reference")
    ap.add_argument("--seconds-in-phase1", type=float, default=2.0, help="run time in phase 1 before SIGSTOP")
    ap.add_argument("--workdir", type=Path, default=None, help="parent of the temporary directory")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--results", type=Path, default=None, help="write results JSON here (default bench/results/)")
    args = ap.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="plotboss-load-bench-", dir=args.workdir))
    bed = Bed.make(root)
    report: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "clients": args.clients,
        "seconds": args.seconds,
        "jobs": args.jobs,
        "poll_s": args.poll_s,
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "loads": [],
    }
    try:
        pids = bed.start_stopped_jobs(args.jobs, args.k, args.seconds_in_phase1)
        agent, address = bed.start_plotter("plotter-01", args.poll_s)
        bed.wait_listed([address], pids, timeout_s=120.0)
        print(f"agent {address} lists the {args.jobs} stopped jobs (pids {pids})")
        time.sleep(2.0)
        c0, t0 = process_cpu_s(agent.pid), time.monotonic()
        time.sleep(args.idle_s)
        idle = (process_cpu_s(agent.pid) - c0) / (time.monotonic() - t0)
        report["agent_idle_cpu_s_per_s"] = round(idle, 4)

        cmd = [str(VENV_BIN / "plotboss-cli"), "--plotter", address, "status", "--json"]
        if args.only in (None, "processes"):

            def processes(_start_wall: float, end_wall: float) -> tuple[list[float], list[str], float]:
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)  # only the CLI processes are reaped meanwhile
                end = time.monotonic() + end_wall - time.time()
                t = run_clients(args.clients, end, process_call(cmd, bed.env, pids))
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                return t.lat, t.errors, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime

            report["loads"].append(measure("processes", agent.pid, args.seconds, processes))
        if args.only in (None, "in-process"):

            def inprocess(start_wall: float, end_wall: float) -> tuple[list[float], list[str], float]:
                procs = max(1, min(args.client_procs, args.clients))
                per = [args.clients // procs + (1 if i < args.clients % procs else 0) for i in range(procs)]
                with mp.get_context("spawn").Pool(procs) as pool:
                    work = [(address, pids, n, start_wall, end_wall, bed.env) for n in per]
                    got = pool.map(_inprocess_worker, work)
                lat = [x for g in got for x in g["lat"]]
                return lat, [e for g in got for e in g["errors"]], sum(g["cpu_s"] for g in got)

            # the client processes import the CLI's modules first (seconds on a loaded machine): start all together
            report["loads"].append(measure("in-process", agent.pid, args.seconds, inprocess, lead_s=args.lead_s))
        if not bed.fleet.all_alive():
            report["problem"] = "a plot job ended during the loads"
        print_report(args, report)
        out = args.results or RESULTS_DIR / f"load_bench-{dt.datetime.now():%Y%m%dT%H%M%S}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nresults: {out}")
        return 0 if report["targets_met"] else 1
    finally:
        bed.close()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def print_report(args: argparse.Namespace, report: dict[str, Any]) -> None:
    load = os.getloadavg()
    report["loadavg_end"] = load
    print()
    print(f"{args.clients} concurrent clients, `status --json`, {args.seconds:.0f} s each, one agent with {args.jobs}")
    print(f"stopped jobs; {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print()
    head = f"{'load':<12} {'calls':>6} {'calls/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}"
    print(f"{head} {'agent CPU s/s':>14} {'client CPU ms/call':>19}")
    for r in report["loads"]:
        print(
            f"{r['label']:<12} {r['calls']:>6} {r['calls_per_s']:>8.1f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}"
            f" {r['max_ms']:>8.1f} {r['errors']:>7} {r['agent_cpu_s_per_s']:>14.3f}"
            f" {r['client_cpu_ms_per_call']:>19.1f}"
        )
        for e in r["error_samples"]:
            print(f"    error: {e}")
    print(f"{'idle':<12} {'':>6} {'':>8} {'':>8} {'':>8} {'':>8} {'':>7} {report['agent_idle_cpu_s_per_s']:>14.3f}")
    errors = sum(r["errors"] for r in report["loads"])
    report["targets_met"] = errors == 0 and "problem" not in report
    verdict = "ok" if report["targets_met"] else "MISSED"
    print(f"\nerrors {errors}   target 0 {verdict}" + (f"   ({report['problem']})" if "problem" in report else ""))


if __name__ == "__main__":
    sys.exit(main())
