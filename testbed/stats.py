"""Timing whole processes and summing up the runs: the benchmarks' measurements and the checks of each run's output."""

from __future__ import annotations

import itertools
import json
import math
import re
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from testbed.agents import list_jobs


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float  # the child's user+system CPU
    rc: int
    out: bytes
    err: bytes


def run_timed(cmd: Sequence[str], env: dict[str, str], timeout_s: float = 120.0) -> Run:
    """One whole process: wall time from spawn to exit, and its CPU from getrusage(RUSAGE_CHILDREN) deltas (the only
    children reaped meanwhile are this one)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(list(cmd), env=env, capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, p.returncode, p.stdout, p.stderr)


@dataclass
class Series:
    label: str
    cmd: list[str]
    env: dict[str, str]
    check: Callable[[Run], str | None]  # None when the output is right, else what is wrong
    runs: list[Run] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    timeout_s: float = 120.0

    def once(self) -> Run:
        try:
            r = run_timed(self.cmd, self.env, self.timeout_s)
        except subprocess.TimeoutExpired:  # a problem of this run (its command line may be 2,000 file names long)
            r = Run(self.timeout_s, float("nan"), -1, b"", f"no exit within {self.timeout_s:g} s".encode())
            self.problems.append(r.err.decode())
            return r
        self.runs.append(r)
        problem = f"exit {r.rc}: {r.err.decode(errors='replace')[-400:]}" if r.rc != 0 else self.check(r)
        if problem is not None:
            self.problems.append(problem)
        return r

    def median_ms(self) -> float:
        return statistics.median(r.wall_s for r in self.runs) * 1000

    def min_ms(self) -> float:
        return min(r.wall_s for r in self.runs) * 1000

    def cpu_ms(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs) * 1000


def plotman_json_jobs(out: bytes) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = json.loads(out)["jobs"]
    return jobs


def plotboss_json_jobs(out: bytes) -> list[dict[str, Any]]:
    data = json.loads(out)
    return [j for p in data["plotters"] for j in p.get("jobs", [])]


def expect_jobs(pids: Sequence[int], parse: Callable[[bytes], list[dict[str, Any]]]) -> Callable[[Run], str | None]:
    """JSON output: every one of our jobs is listed with its plot id (other plot jobs on the machine may show too)."""

    def check(r: Run) -> str | None:
        try:
            listed = {int(j["pid"]) for j in parse(r.out) if j.get("plot_id") not in (None, "", "--------")}
        except (ValueError, KeyError, TypeError) as e:
            return f"unreadable output: {e!r}"
        missing = sorted(set(pids) - listed)
        return None if not missing else f"jobs missing (or without plot id): pids {missing}"

    return check


def expect_pids(pids: Sequence[int]) -> Callable[[Run], str | None]:
    """Text output: every job's pid appears."""

    def check(r: Run) -> str | None:
        text = r.out.decode(errors="replace")
        missing = [p for p in pids if not re.search(rf"\b{p}\b", text)]
        return None if not missing else f"pids missing from the table: {missing}"

    return check


def process_cpu_s(pid: int) -> float:
    """A process's user+system CPU seconds, its (waited-for) children's included."""
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass(frozen=True)
class PollSample:
    """What the agent says about its polls: the period between snapshots, and the CPU each poll took by its own count
    (ListJobsResponse.poll_cpu: process CPU time during the poll)."""

    period_s: float | None
    self_cpu_ms: list[float]


def sample_polls(address: str, polls: int, poll_s: float) -> PollSample:
    """Ask ListJobs about twice per poll until ``polls`` distinct snapshots were seen (or 4x that many calls)."""
    seen: dict[float, float] = {}
    for _ in range(4 * polls):
        got = list_jobs(address)
        if isinstance(got, str):
            break
        seen[got[2]] = got[3]
        if len(seen) >= polls + 1:
            break
        time.sleep(poll_s / 2)
    times = sorted(seen)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # the first snapshot seen may predate the sampling; use the gaps between snapshots seen while sampling
    return PollSample(
        statistics.median(gaps) if gaps else None,
        [seen[t] * 1000 for t in times[1:] if not math.isnan(seen[t])],
    )


@dataclass(frozen=True)
class CpuResult:
    cpu_s: float
    elapsed_s: float
    polls: float
    how: str  # how polls was found

    @property
    def ms_per_poll(self) -> float:
        return self.cpu_s / self.polls * 1000 if self.polls else float("nan")


def measure_agent_cpu(pid: int, seconds: float, period_s: float, how: str) -> CpuResult:
    """The agent's (process ``pid``) CPU over ``seconds`` with no client calls, per poll cycle (polls = elapsed /
    period_s)."""
    c0, t0 = process_cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = process_cpu_s(pid), time.monotonic()
    return CpuResult(c1 - c0, t1 - t0, (t1 - t0) / period_s, how)
