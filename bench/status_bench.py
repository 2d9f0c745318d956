#!/usr/bin/env python3
"""Benchmark: `plotboss-cli status` against plotman 0.5.3's `plotman status` on the same real plot jobs.

Run from the repository root:  .venv/bin/python bench/status_bench.py   (see bench/README.md)

Set-up (all in a temporary directory, removed at the end):
- 2,000 completed plot logs in the log dir (copies of tests/data/logs samples with fresh plot ids and timestamps);
- 8 real plot jobs (tests/testbed/chia, the `chia plots create` stand-in, k=22) with their logs in the same log dir,
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
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import math
import os
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fixtures.procs import chia_cmd  # noqa: E402

SAMPLES = REPO / "tests" / "data" / "logs"
INSTALL_PLOTMAN = Path("/work/shared/bench/install-plotman")
DEFAULT_PLOTMAN_VENV = REPO / ".bench-venvs" / "plotman"
DEFAULT_INSTALLED_VENV = REPO / ".bench-venvs" / "plotboss"
RESULTS_DIR = REPO / "bench" / "results"
VENV_BIN = Path(sys.executable).parent

TARGET_RATIO = 0.5
TARGET_CPU_MS_PER_POLL = 10.0


# --------------------------------------------------------------------------------------------------------------------
# completed logs


CTIME_RE = re.compile(
    rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d \d{4}"
)
ISO_RE = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}")
NAME_STAMP_RE = re.compile(rb"plot-k(\d+)-\d{4}-\d\d-\d\d-\d\d-\d\d-")
ID_RE = re.compile(rb"^ID: ([0-9a-f]{64})\s*$", re.MULTILINE)
STANDIN_PREFIX = "2.7.5  chia.plotting.create_plots       : INFO     "


@dataclass(frozen=True)
class LogTemplate:
    """A sample log ready to be stamped with a new plot id and start time."""

    text: bytes
    old_id: bytes
    start: dt.datetime  # the time of the first ctime stamp ("Starting phase 1/4 ... <ctime>")


def _first_ctime(text: bytes) -> dt.datetime:
    m = CTIME_RE.search(text)
    if m is None:
        raise ValueError("sample log has no ctime stamp")
    return dt.datetime.strptime(m.group(0).decode(), "%a %b %d %H:%M:%S %Y")


def _standin_k22_template() -> LogTemplate:
    """chiapos's k=22 sample wrapped in the header and footer lines the chia stand-in prints, as a finished stand-in
    job's log looks (the same plotter and k as the running jobs, so the agent can learn ETAs from them)."""
    body = (SAMPLES / "chiapos-2.0.12-k22.plot.log").read_bytes()
    m = ID_RE.search(body)
    assert m is not None
    old_id = m.group(1)
    start = _first_ctime(body)
    iso = start.strftime("%Y-%m-%dT%H:%M:%S.000")
    pk = "a" * 96
    head = (
        f"{iso} {STANDIN_PREFIX}Creating 1 plots of size 22, pool public key:  {pk} farmer public key: {pk}\n"
        f"{iso} {STANDIN_PREFIX}Starting plot 1/1\n"
    ).encode()
    name = f"plot-k22-{start:%Y-%m-%d-%H-%M}-{old_id.decode()}.plot"
    body = body.replace(b"plot-k22-test", name[: -len(".plot")].encode())
    done = (start + dt.timedelta(seconds=11)).strftime("%Y-%m-%dT%H:%M:%S.000")  # the sample's total time is 10.9 s
    tail = (
        f"{done} {STANDIN_PREFIX}Summary:\n"
        f"{done} {STANDIN_PREFIX}Created a total of 1 new plots\n"
        f"{done} {STANDIN_PREFIX}{name}\n"
    ).encode()
    return LogTemplate(head + body + tail, old_id, start)


def _chia_k25_template() -> LogTemplate:
    text = (SAMPLES / "chia-2.7.5-k25.plot.log").read_bytes()
    m = ID_RE.search(text)
    assert m is not None
    return LogTemplate(text, m.group(1), _first_ctime(text))


def _stamp(t: LogTemplate, new_id: bytes, start: dt.datetime) -> bytes:
    delta = start - t.start

    def ctime(m: re.Match[bytes]) -> bytes:
        return (dt.datetime.strptime(m.group(0).decode(), "%a %b %d %H:%M:%S %Y") + delta).ctime().encode()

    def iso(m: re.Match[bytes]) -> bytes:
        when = dt.datetime.strptime(m.group(0).decode(), "%Y-%m-%dT%H:%M:%S.%f") + delta
        return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3].encode()

    def name_stamp(m: re.Match[bytes]) -> bytes:
        return b"plot-k" + m.group(1) + start.strftime("-%Y-%m-%d-%H-%M-").encode()

    text = t.text.replace(t.old_id, new_id)
    text = CTIME_RE.sub(ctime, text)
    text = ISO_RE.sub(iso, text)
    return NAME_STAMP_RE.sub(name_stamp, text)


def plotman_log_name(when: dt.datetime) -> str:
    """plotman's log file name for a job started at ``when``: 2026-11-25T17_07_25.123456+00_00.plot.log."""
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds").replace(":", "_") + ".plot.log"


def write_completed_logs(log_dir: Path, count: int) -> int:
    """``count`` finished logs, alternating stand-in k=22 and chia 2.7.5 k=25, one every 20 minutes back from an hour
    ago, each with its own plot id; file mtimes set to the end of the run. Returns the bytes written."""
    templates = [_standin_k22_template(), _chia_k25_template()]
    newest = dt.datetime.now().replace(microsecond=0) - dt.timedelta(hours=1)
    total = 0
    for i in range(count):
        t = templates[i % 2]
        start = newest - dt.timedelta(minutes=20 * i)
        text = _stamp(t, secrets.token_hex(32).encode(), start)
        path = log_dir / plotman_log_name(start.replace(microsecond=i % 1_000_000).astimezone())
        path.write_bytes(text)
        end = start.timestamp() + (12 if i % 2 == 0 else 105)
        os.utime(path, (end, end))
        total += len(text)
    return total


# --------------------------------------------------------------------------------------------------------------------
# plot jobs


@dataclass
class Fleet:
    """The benchmark's plot jobs; every one is resumed and killed by ``stop_all``."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start(self, k: int, tmp: Path, dst: Path, log: Path) -> None:
        cmd = chia_cmd(k, tmp, dst, buckets=16, buffer_mib=200, threads=2)
        # plotman 0.5.3 drops cmdline[0] only when its basename is exactly "python" (not "python3"); real chia entry
        # points in a venv made with `python -m venv` run as .../bin/python, so start the stand-in the same way.
        python = VENV_BIN / "python"
        if python.exists():
            cmd[0] = str(python)
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self.procs.append(proc)
        self.logs.append(log)

    def signal_all(self, sig: signal.Signals) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, sig)

    def wait_in_phase1(self, seconds_in: float, timeout_s: float) -> None:
        """Until every job has logged 'Starting phase 1/4', then ``seconds_in`` more seconds."""
        deadline = time.monotonic() + timeout_s
        pending = set(range(len(self.procs)))
        while pending:
            for i in list(pending):
                if b"Starting phase 1/4" in self.logs[i].read_bytes():
                    pending.discard(i)
                elif self.procs[i].poll() is not None:
                    raise RuntimeError(
                        f"plot job {self.procs[i].pid} exited {self.procs[i].returncode}: {self.logs[i]}"
                    )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} plot job(s) did not reach phase 1 within {timeout_s} s")
            time.sleep(0.1)
        time.sleep(seconds_in)

    def all_alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop_all(self) -> None:
        self.signal_all(signal.SIGCONT)
        self.signal_all(signal.SIGKILL)
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)


# --------------------------------------------------------------------------------------------------------------------
# configs


def plotman_yaml(tmp_dirs: Sequence[Path], dst: Path, log_dir: Path, state: Path) -> str:
    tmp = "\n".join(f"    - {d}" for d in tmp_dirs)
    return f"""\
version: [2]
logging:
  plots: {log_dir}
  transfers: {state / "transfers"}
  application: {state / "plotman.log"}
  disk_spaces: {state / "plotman-disk_spaces.log"}
user_interface:
  use_stty_size: False
directories:
  tmp:
{tmp}
  dst:
    - {dst}
scheduling:
  tmpdir_stagger_phase_major: 2
  tmpdir_stagger_phase_minor: 1
  tmpdir_stagger_phase_limit: 1
  tmpdir_max_jobs: 3
  global_max_jobs: 0
  global_stagger_m: 30
  polling_time_s: 20
plotting:
  type: chia
  chia:
    k: 22
    e: False
    n_threads: 2
    n_buckets: 16
    job_buffer: 200
"""


def plotter_yaml(tmp_dirs: Sequence[Path], dst: Path, log_dir: Path, state: Path, poll_s: float) -> str:
    tmp = ", ".join(str(d) for d in tmp_dirs)
    return f"""\
version: 1
agent: {{name: bench-plotter, listen: "127.0.0.1:0", poll_s: {poll_s}}}
logging: {{plots: {log_dir}, transfers: {state / "transfers"}}}
directories: {{tmp: [{tmp}], dst: [{dst}]}}
scheduling: {{global_max_jobs: 0}}
plotting: {{type: chia, chia: {{executable: chia, k: 22, n_threads: 2, n_buckets: 16, job_buffer: 200}}}}
"""


# --------------------------------------------------------------------------------------------------------------------
# processes under measurement


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

    def once(self) -> Run:
        r = run_timed(self.cmd, self.env)
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


# --------------------------------------------------------------------------------------------------------------------
# the agent


@dataclass
class Agent:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cpu_s(self) -> float:
        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_agent(config: Path, state: Path, env: dict[str, str], timeout_s: float = 60.0) -> Agent:
    port_file = state / "plotter.port"
    log = state / "plotter-agent.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                str(VENV_BIN / "plotboss-plotter"),
                "--config",
                str(config),
                "--listen",
                "127.0.0.1:0",
                "--port-file",
                str(port_file),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return Agent(proc, int(port_file.read_text()), log)
        if proc.poll() is not None:
            raise RuntimeError(f"plotboss-plotter exited {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"plotboss-plotter reported no port within {timeout_s} s")


def list_jobs(address: str) -> tuple[set[int], set[int], float, float] | str:
    """One ListJobs call straight to the agent: (pids of jobs, pids of jobs with a plot id, snapshot_time, poll_cpu
    seconds), or what went wrong."""
    import grpc

    from plotboss.transport import dial
    from plotboss.v1 import plotter_pb2, plotter_pb2_grpc

    channel = dial(address, timeout_s=5.0)
    try:
        resp = plotter_pb2_grpc.PlotterServiceStub(channel).ListJobs(plotter_pb2.ListJobsRequest())
    except grpc.RpcError as e:
        return f"ListJobs: {e.code()}: {e.details()}"
    finally:
        channel.close()
    snap = resp.snapshot_time.seconds + resp.snapshot_time.nanos / 1e9
    cpu = resp.poll_cpu.seconds + resp.poll_cpu.nanos / 1e9 if resp.HasField("poll_cpu") else float("nan")
    return {j.pid for j in resp.jobs}, {j.pid for j in resp.jobs if j.plot_id}, snap, cpu


def wait_for_jobs(address: str, pids: Sequence[int], timeout_s: float) -> tuple[float, str | None]:
    """Until the agent's ListJobs shows the jobs ``pids``, each with its plot id. Returns (seconds, problem or None)."""
    t0 = time.monotonic()
    last = "no answer yet"
    while time.monotonic() - t0 < timeout_s:
        got = list_jobs(address)
        if isinstance(got, str):
            last = got
        elif set(pids) <= got[1]:
            return time.monotonic() - t0, None
        else:
            last = f"{len(set(pids) & got[0])} of our jobs listed, {len(set(pids) & got[1])} with a plot id"
        time.sleep(0.25)
    return time.monotonic() - t0, last


@dataclass(frozen=True)
class PollSample:
    """What the agent says about its polls: the period between snapshots, and the CPU each poll took by its own count
    (ListJobsResponse.poll_cpu: process CPU time during the poll)."""

    period_s: float | None
    self_cpu_ms: list[float]


def sample_polls(agent: Agent, polls: int, poll_s: float) -> PollSample:
    """Ask ListJobs about twice per poll until ``polls`` distinct snapshots were seen (or 4x that many calls)."""
    seen: dict[float, float] = {}
    for _ in range(4 * polls):
        got = list_jobs(agent.address)
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


def measure_agent_cpu(agent: Agent, seconds: float, period_s: float, how: str) -> CpuResult:
    """The agent's CPU over ``seconds`` with no client calls, per poll cycle (polls = elapsed / period_s)."""
    c0, t0 = agent.cpu_s(), time.monotonic()
    time.sleep(seconds)
    c1, t1 = agent.cpu_s(), time.monotonic()
    return CpuResult(c1 - c0, t1 - t0, (t1 - t0) / period_s, how)


# --------------------------------------------------------------------------------------------------------------------
# main


def ensure_plotman(venv: Path) -> Path:
    exe = venv / "bin" / "plotman"
    if not exe.exists():
        print(f"installing plotman 0.5.3 into {venv} ...", flush=True)
        subprocess.run(["bash", str(INSTALL_PLOTMAN), str(venv)], check=True)
    return exe


def install_plotboss(venv: Path) -> Path:
    """plotboss as users get it: `pip install .` (not editable, no dev extras) of the current tree in a venv of its own.

    The dev venv (.venv) is an editable install with the dev extras: its interpreter imports setuptools' editable
    finder at every start, and `import grpc` also imports grpc_tools when it is installed; neither happens for users.
    """
    pip = venv / "bin" / "pip"
    t0 = time.monotonic()
    if not pip.exists():
        print(f"installing plotboss (pip install .) into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(pip), "install", "-q", str(REPO)], check=True, stderr=subprocess.DEVNULL)
    else:
        subprocess.run(
            [str(pip), "install", "-q", "--no-deps", "--force-reinstall", str(REPO)],
            check=True,
            stderr=subprocess.DEVNULL,
        )
    print(f"plotboss (current tree) installed into {venv} in {time.monotonic() - t0:.0f} s")
    return venv / "bin" / "plotboss-cli"


def fmt_ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


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
    tmp_dirs = [root / "tmp" / f"{i:02d}" for i in range(args.tmp_dirs)]
    dst = root / "dst" / "00"
    log_dir = root / "logs" / "plots"
    state = root / "state"
    for d in [*tmp_dirs, dst, log_dir, state, state / "transfers", root / "xdg-config" / "plotman"]:
        d.mkdir(parents=True, exist_ok=True)

    env = dict(os.environ)
    env.update(
        XDG_CONFIG_HOME=str(root / "xdg-config"),
        XDG_DATA_HOME=str(root / "xdg-data"),
        XDG_CACHE_HOME=str(root / "xdg-cache"),
        XDG_STATE_HOME=str(root / "xdg-state"),
        COLUMNS="120",  # plotman (use_stty_size off) renders at 120 columns; give rich the same width
    )
    (root / "xdg-config" / "plotman" / "plotman.yaml").write_text(plotman_yaml(tmp_dirs, dst, log_dir, state))
    plotter_cfg = state / "plotter.yaml"
    plotter_cfg.write_text(plotter_yaml(tmp_dirs, dst, log_dir, state, args.poll_s))

    fleet = Fleet()
    agent: Agent | None = None
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

        base = dt.datetime.now().astimezone()
        for i in range(args.jobs):
            log = log_dir / plotman_log_name(base + dt.timedelta(microseconds=i + 1))
            fleet.start(args.k, tmp_dirs[i % len(tmp_dirs)], dst, log)
        fleet.wait_in_phase1(args.seconds_in_phase1, timeout_s=120)
        fleet.signal_all(signal.SIGSTOP)
        if not fleet.all_alive():
            raise RuntimeError("a plot job ended before it was stopped")
        pids = [p.pid for p in fleet.procs]
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
        agent = start_agent(plotter_cfg, state, env)
        boss_json = Series(
            "plotboss-cli status --json",
            [*cli, "--plotter", agent.address, "status", "--json"],
            env,
            expect_jobs(pids, plotboss_json_jobs),
        )
        boss_text = Series("plotboss-cli status", [*cli, "--plotter", agent.address, "status"], env, expect_pids(pids))
        boss_extra: list[Series] = []
        if installed_cli is not None:
            icli = [str(installed_cli), "--plotter", agent.address, "status"]
            boss_extra = [
                Series("plotboss-cli status [pip]", icli, env, expect_pids(pids)),
                Series(
                    "plotboss-cli status --json [pip]", [*icli, "--json"], env, expect_jobs(pids, plotboss_json_jobs)
                ),
            ]
        waited, problem = wait_for_jobs(agent.address, pids, args.agent_timeout_s)
        report["agent_ready_s"] = round(time.monotonic() - c0, 2)
        agent_ready = problem is None
        if not agent_ready:
            problems.append(f"plotboss agent did not list the {args.jobs} jobs within {waited:.0f} s: {problem}")
        else:
            report["agent_startup_cpu_s"] = round(agent.cpu_s(), 3)
            print(f"agent listed {args.jobs} jobs after {report['agent_ready_s']} s (CPU {agent.cpu_s():.2f} s)")
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
        if not fleet.all_alive():
            problems.append("a plot job ended during the timings")

        cpu: CpuResult | None = None
        sample: PollSample | None = None
        if agent_ready and agent is not None:
            # the poll period as the agent's snapshot times show it (a poll loop that sleeps poll_s after each poll
            # has a period of poll_s plus the poll's own time), then a window with no client calls at all
            sample = sample_polls(agent, 10, args.poll_s)
            if sample.period_s:
                how = f"elapsed / measured poll period {sample.period_s * 1000:.0f} ms (snapshot times)"
                period = sample.period_s
            else:
                how = f"elapsed / poll_s ({args.poll_s} s), estimated: ListJobs gave no snapshot times"
                period = args.poll_s
            time.sleep(args.poll_s)
            cpu = measure_agent_cpu(agent, args.cpu_window_s, period, how)

        # ------------------------------------------------------------------ report
        for s in series.values():
            if s.runs and "--json" not in s.label and "[pip]" not in s.label:
                print(f"\n--- last output of {s.label}:")
                print(s.runs[-1].out.decode(errors="replace").rstrip())
        print()
        print(
            f"{args.jobs} stopped k={args.k} jobs, {args.old_logs} completed logs, {args.runs} interleaved runs each,"
        )
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
                print(
                    f"{a[len('plotboss-cli ') :]:<36} {med:>10.2f} {mn:>10.2f} {cr:>10.2f}   "
                    f"<= {TARGET_RATIO} {verdict}"
                )
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
        return 0 if "plotboss-cli status" in series and cpu is not None else 1
    finally:
        if agent is not None:
            agent.stop()
        fleet.stop_all()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
