"""The scheduler for real: an agent process starts real plot jobs (the chia stand-in), and every start is checked
afterwards against every rule from the jobs' own logs and start times, not from the agent's word.

Each agent runs with its process table scoped to the test's dir (tests/integration/scoped_plotter.py): other tests
on this machine run plot jobs too, and the scheduler would rightly count them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from plotboss.plots import plot_size
from plotboss.transport import dial
from plotboss.v1 import plotter_pb2, plotter_pb2_grpc
from testbed.agents import start_agent
from testbed.children import stop_process
from testbed.standin import CHIA, start_chia_job
from tests.integration.scoped_plotter import write_entry_script

pytestmark = pytest.mark.slow

MiB = 2**20
_CTIME = r"(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4})"
_HEADER = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+) \S+\s+chia\.plotting\.create_plots\s*: \w+\s+(.*)$")


@dataclass
class JobLog:
    """What a job's own log says: when it started and ended, where, and when it reached each phase-1 table."""

    path: Path
    pid: int | None = None
    k: int | None = None
    tmp: str | None = None
    start: float | None = None
    end: float | None = None
    ok: bool = False
    #: table N -> when "Computing table N" began (the ctime of the line before it: second resolution, rounded down)
    tables: dict[int, float] = field(default_factory=dict)

    def reached(self, table: int) -> float | None:
        return self.tables.get(table)


def read_job_log(path: Path) -> JobLog:
    j = JobLog(path)
    last_ctime: float | None = None
    for line in path.read_text(errors="replace").splitlines():
        if m := _HEADER.match(line):
            t = dt.datetime.fromisoformat(m[1]).timestamp()
            if m[2].startswith("Starting plot 1/"):
                j.start = t
            elif m[2].startswith("Created a total of 1 new plots"):
                j.end, j.ok = t, True
        elif line.startswith("Plot size is: "):
            j.k = int(line.split(":")[1])
        elif line.startswith("Process ID is: "):
            j.pid = int(line.split(":")[1])
        elif line.startswith("Starting plotting progress into temporary dirs: "):
            j.tmp = line.split(": ", 1)[1].split(" and ")[0]
        elif (m := re.match(r"Computing table (\d)$", line)) and last_ctime is not None:
            j.tables[int(m[1])] = last_ctime
        if m := re.search(_CTIME + r"$", line):
            last_ctime = time.mktime(time.strptime(m[1], "%a %b %d %H:%M:%S %Y"))
    return j


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, every_s: float = 0.25) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


class Bed:
    """Dirs, the chia stand-in behind an executable, the agent's config, the agent process, and clean-up."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = [root / "tmp0", root / "tmp1"]
        self.dst, self.logs = root / "dst", root / "logs"
        for d in (*self.tmp, self.dst, self.logs, root / "bin"):
            d.mkdir(parents=True, exist_ok=True)
        self.chia = root / "bin" / "chia"
        self.chia.write_text(f'#!/bin/sh\nexec {sys.executable} {CHIA} "$@"\n')
        self.chia.chmod(0o755)
        self.entry = write_entry_script(root / "bin" / "scoped-plotboss-plotter")
        self.config = root / "plotter.yaml"
        self.agent: subprocess.Popen[bytes] | None = None
        #: agent-1.out, agent-2.out, ...: each agent's output kept (a restarted agent does not overwrite its
        #: predecessor's)
        self.agent_runs = 0
        self.port = 0
        self.mounted = False
        self.hand: list[subprocess.Popen[bytes]] = []
        #: pid -> process start time of every job of this test, sampled from the process table while they run
        self.created: dict[int, float] = {}
        self._sampling = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._sampling.wait(0.1):
            for p in psutil.process_iter(["cmdline", "create_time"]):
                with contextlib.suppress(psutil.Error):
                    if "plots" in (p.info["cmdline"] or ()) and any(str(self.root) in a for a in p.info["cmdline"]):
                        self.created.setdefault(p.pid, p.info["create_time"])

    def write_config(self, scheduling: dict[str, Any], k: int = 20, **plotting: Any) -> None:
        data = {
            "version": 1,
            "agent": {"name": "plotter-run", "listen": "127.0.0.1:0", "poll_s": 1, "grace_s": 2},
            "logging": {"plots": str(self.logs)},
            "directories": {"tmp": [str(t) for t in self.tmp], "dst": [str(self.dst)]},
            "scheduling": {"polling_time_s": 1, **scheduling},
            "plotting": {
                "nice": 5,
                "chia": {
                    "executable": str(self.chia),
                    "k": k,
                    "test_plots": True,
                    "n_threads": 2,
                    "n_buckets": 16,
                    "job_buffer": 200,
                    "extra_args": ["--stripe", "4000"],
                },
                **plotting,
            },
        }
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))

    def start_agent(self) -> None:
        self.agent_runs += 1
        out = self.root / f"agent-{self.agent_runs}.out"
        self.agent, self.port = start_agent(
            str(self.entry), self.config, output=out, env={"PLOTBOSS_TEST_SCOPE": str(self.root)}
        )

    def kill_agent(self, sig: signal.Signals = signal.SIGKILL) -> None:
        assert self.agent is not None
        os.killpg(self.agent.pid, sig)  # the agent's whole process group: the jobs have sessions of their own
        self.agent.wait(20)

    def rpc(self, fn: Callable[[plotter_pb2_grpc.PlotterServiceStub], Any]) -> Any:
        with dial(f"127.0.0.1:{self.port}") as ch:
            return fn(plotter_pb2_grpc.PlotterServiceStub(ch))

    def sched(self) -> plotter_pb2.GetSchedulerStatusResponse:
        with dial(f"127.0.0.1:{self.port}") as ch:
            stub = plotter_pb2_grpc.PlotterServiceStub(ch)
            return stub.GetSchedulerStatus(plotter_pb2.GetSchedulerStatusRequest())

    def listed_pids(self) -> set[int]:
        return {j.pid for j in self.rpc(lambda s: s.ListJobs(plotter_pb2.ListJobsRequest())).jobs}

    def started(self) -> list[JobLog]:
        """The jobs the agents started (their logs are the new ones in the log dir), oldest first."""
        logs = [self.read(p) for p in sorted(self.logs.glob("*.plot.log"))]
        return sorted(logs, key=lambda j: j.start or float("inf"))

    def read(self, path: Path) -> JobLog:
        """A job's log, its start taken from the process table (when the process was created) where it was seen."""
        j = read_job_log(path)
        if j.pid is not None and j.pid in self.created:
            j.start = self.created[j.pid]
        return j

    def own_job_pids(self) -> list[int]:
        """Live processes of this test's jobs (their command line names this test's dir)."""
        out = []
        for p in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                mine = any(str(self.root) in a for a in p.info["cmdline"] or ())
                if mine and p.pid != os.getpid() and (self.agent is None or p.pid != self.agent.pid):
                    out.append(p.pid)
        return out

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        exe = Path(sys.executable).parent / "plotboss-cli"
        return subprocess.run(
            [str(exe), "--plotter", f"127.0.0.1:{self.port}", *args], capture_output=True, text=True, timeout=60
        )

    def cleanup(self) -> None:
        self._sampling.set()
        if self.agent is not None and self.agent.poll() is None:
            stop_process(self.agent)
        for p in self.hand:
            stop_process(p)
        for pid in self.own_job_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.mounted:
            deadline = time.monotonic() + 10
            while subprocess.run(["umount", str(self.dst)], capture_output=True).returncode != 0:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Bed]:
    b = Bed(tmp_path)
    try:
        yield b
    finally:
        b.cleanup()


def _small_dst(bed: Bed, size: int) -> dict[str, int]:
    """A dst of ``size`` bytes: a real tmpfs where mounting works, else the dir's free space less a floor."""
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(bed.dst)], capture_output=True)
    if r.returncode == 0:
        bed.mounted = True
        return {}
    return {"dst_min_free_bytes": shutil.disk_usage(bed.dst).free - size}


def check_every_start(jobs: list[JobLog], hand: list[JobLog], *, max_jobs: int, stagger_s: float,
                      tmp_max: int, table: int) -> list[str]:  # fmt: skip
    """Every rule, at every start, from the logs: what was running then, in which phase, and when it started."""
    problems = []
    everyone = jobs + hand
    for j in jobs:
        s = j.start
        assert s is not None and j.tmp is not None
        before = [o for o in everyone if o is not j and o.start is not None and o.start < s]
        alive = [o for o in before if o.end is None or o.end > s]
        if len(alive) >= max_jobs:
            problems.append(f"{j.path.name}: started with {len(alive)} jobs running (global_max_jobs {max_jobs})")
        if before and s - max(o.start for o in before if o.start) < stagger_s - 0.3:
            gap = s - max(o.start for o in before if o.start)
            problems.append(f"{j.path.name}: started {gap:.1f} s after the youngest job (stagger {stagger_s} s)")
        here = [o for o in alive if o.tmp == j.tmp]
        if len(here) >= tmp_max:
            problems.append(f"{j.path.name}: {len(here)} jobs in {j.tmp} (tmpdir_max_jobs {tmp_max})")
        early = [o for o in here if (o.reached(table) or float("inf")) > s]
        if early:
            problems.append(f"{j.path.name}: {len(early)} job(s) in {j.tmp} before 1:{table} (limit 1)")
    return problems


def overlaps(jobs: list[JobLog], hand: list[JobLog]) -> int:
    """How many of ``jobs`` started while another job (of either list) ran: the starts the rules had to weigh."""
    everyone = jobs + hand
    n = 0
    for j in jobs:
        s = j.start
        assert s is not None
        n += any(o is not j and o.start is not None and o.start < s and (o.end is None or o.end > s) for o in everyone)
    return n


def _decided_after(bed: Bed, t: float) -> bool:
    return bool(bed.sched().decision_time.ToSeconds() > t)


def wait_until_settled(bed: Bed, timeout_s: float) -> plotter_pb2.GetSchedulerStatusResponse:
    """Wait until no job of this test runs and the agent has decided again since the last one ended without
    starting another: the scheduler's steady answer (a transient one, taken while a job was finishing, is not)."""
    deadline = time.monotonic() + timeout_s
    while True:
        wait_for("every job to end", lambda: not bed.own_job_pids(), max(1.0, deadline - time.monotonic()), 0.5)
        ended, count = time.time(), len(bed.started())
        wait_for("a decision after the last job ended", functools.partial(_decided_after, bed, ended + 1.0), 30)
        st = bed.sched()
        if not bed.own_job_pids() and len(bed.started()) == count:
            return st
        assert time.monotonic() < deadline, "the scheduler kept starting jobs"


def test_real_run_obeys_every_rule_through_an_agent_kill_and_restart(bed: Bed) -> None:
    # k21 jobs take ~11 s on a quiet machine (longer under load), longer than the 6 s stagger: each start but the
    # first happens while an earlier job still runs, whatever the machine's speed, so the rules have work to do
    k, capacity = 21, 150 * MiB
    plot = plot_size(k)
    assert 4 * plot < capacity < 5 * plot
    extra = _small_dst(bed, capacity)  # room for 4 k21 plots (35.2 MB each by Chia's figures), not 5
    rules = {
        "global_max_jobs": 3,
        "global_stagger_m": 0.1,
        "tmpdir_max_jobs": 2,
        "tmpdir_stagger_phase_major": 1,
        "tmpdir_stagger_phase_minor": 5,
        "tmpdir_stagger_phase_limit": 1,
        **extra,
    }
    bed.write_config(rules, k=k)
    # a job started by hand in tmp0 before the agent, its plot going elsewhere: it counts like the agent's own
    hand_log = bed.root / "hand.log"
    bed.hand.append(start_chia_job(k, bed.tmp[0], bed.root / "hand-dst", hand_log, extra=("--stripe", "4000")))
    wait_for("the hand-started job's log", lambda: "Computing table 1" in hand_log.read_text(errors="replace"), 30)
    bed.start_agent()

    def running() -> list[int]:
        return [j.pid for j in bed.started() if j.pid is not None and not j.ok and psutil.pid_exists(j.pid)]

    wait_for("two starts by the agent, one running", lambda: len(bed.started()) >= 2 and bool(running()), 120)
    alive = running()
    bed.kill_agent(signal.SIGKILL)
    assert alive and all(psutil.pid_exists(p) for p in alive), "a job died with its agent"
    bed.start_agent()  # the same config: the restarted agent sees the jobs and keeps the stagger
    wait_for("the restarted agent sees the running jobs", lambda: set(alive) <= bed.listed_pids() or
             all(read_job_log(j.path).ok for j in bed.started() if j.pid in alive), 30)  # fmt: skip
    full = f"dst: no dir can take another k{k} plot"
    st = wait_until_settled(bed, 300)
    assert any(r.startswith(full) for r in st.wait_reasons), list(st.wait_reasons)
    status = bed.cli("status")
    assert status.returncode == 0 and "scheduler: running, waiting: " in status.stdout and full in status.stdout

    jobs, hand = bed.started(), [bed.read(hand_log)]
    table = "\n".join(
        f"{j.path.name}: pid {j.pid} start {j.start} end {j.end} tmp {j.tmp} 1:5 at {j.reached(5)} ok {j.ok}"
        for j in hand + jobs
    )
    assert all(j.ok for j in jobs + hand), table  # none ran out of dst space
    assert overlaps(jobs, hand) >= 2, table  # starts made while other jobs ran, before and after the restart
    assert {j.tmp for j in jobs} == {str(t) for t in bed.tmp}, table
    problems = check_every_start(jobs, hand, max_jobs=3, stagger_s=6.0, tmp_max=2, table=5)
    assert not problems, "\n".join(problems) + "\n" + table
    plots = sorted(bed.dst.glob("*.plot"), key=lambda p: p.stat().st_mtime)
    assert len(plots) == len(jobs)
    sizes = [p.stat().st_size for p in plots]
    assert sum(sizes) <= capacity
    if bed.mounted:
        # from the plots' real sizes: the scheduler went on while the dst had room for one more plot by Chia's
        # figures (counting those inbound), and stopped at the first count that left less; here that is 4
        free = shutil.disk_usage(bed.dst).free
        assert free < plot <= free + sizes[-1], (free, sizes)
        assert len(jobs) == 4, table


def test_pause_drain_resume_on_real_jobs_and_a_broken_reload(bed: Bed) -> None:
    bed.write_config({"global_max_jobs": 1, "global_stagger_m": 0, "tmpdir_stagger_phase_limit": 5}, k=18)
    state_file = bed.root / ".plotter.yaml.scheduler.json"
    state_file.write_text('{"version": 1, "state": "paused"}\n')  # left paused by an earlier agent
    bed.start_agent()
    wait_for("a decision", lambda: bed.sched().HasField("decision_time"), 20)
    time.sleep(3)  # three passes
    st = bed.sched()
    assert st.state == plotter_pb2.SCHEDULER_STATE_PAUSED and st.would_start and bed.started() == []
    assert bed.cli("scheduler", "status").stdout.count("paused") >= 1
    r = bed.cli("scheduler", "resume")
    assert r.returncode == 0 and "scheduler running" in r.stdout, r.stderr
    wait_for("a job started after resume", lambda: len(bed.started()) == 1 and bed.started()[0].pid is not None, 30)
    pid = bed.started()[0].pid
    assert pid is not None
    # SIGTERM and restart of the agent leave the job running; the restarted agent is running (resumed) and sees it
    bed.kill_agent(signal.SIGTERM)
    assert bed.agent is not None and bed.agent.returncode == 0
    assert psutil.Process(pid).status() != psutil.STATUS_ZOMBIE, "the job stopped with its agent"
    bed.start_agent()
    wait_for("the restarted agent sees the job", lambda: pid in bed.listed_pids() or bed.started()[0].ok, 20)
    assert bed.sched().state == plotter_pb2.SCHEDULER_STATE_RUNNING
    r = bed.cli("scheduler", "drain")
    assert r.returncode == 0 and "scheduler draining" in r.stdout, r.stderr
    wait_for("the running job to finish", lambda: bed.started()[0].ok and not bed.own_job_pids(), 90)
    wait_for("paused once drained", lambda: bed.sched().state == plotter_pb2.SCHEDULER_STATE_PAUSED, 20)
    time.sleep(2.5)
    assert len(bed.started()) == 1  # drained: none started after the job it let finish
    status = json.loads(bed.cli("status", "--json").stdout)["plotters"][0]["scheduler"]
    assert status["state"] == "paused" and status["would_start"]
    assert status["last_start"] is None  # the job was started by the agent before the restart
    # the state survives a restart
    bed.kill_agent(signal.SIGTERM)
    bed.start_agent()
    wait_for("a decision", lambda: bed.sched().HasField("decision_time"), 20)
    assert bed.sched().state == plotter_pb2.SCHEDULER_STATE_PAUSED
    # SIGHUP with a broken config keeps the old one, and says why
    loaded = bed.sched().config_load_time.ToNanoseconds()
    good = bed.config.read_text()
    bed.config.write_text(good.replace("k: 18", "k: 5"))
    assert bed.agent is not None
    os.kill(bed.agent.pid, signal.SIGHUP)
    wait_for("the reload refused", lambda: "plotting.chia.k" in bed.sched().reload_error, 20)
    assert bed.sched().config_load_time.ToNanoseconds() == loaded and bed.agent.poll() is None
    r = bed.cli("scheduler", "resume")
    assert r.returncode == 0
    wait_for("a start with the old config", lambda: len(bed.started()) == 2 and bed.started()[1].k is not None, 30)
    assert bed.started()[1].k == 18
    # a valid reload is taken, and shown by its load time
    bed.config.write_text(good)
    os.kill(bed.agent.pid, signal.SIGHUP)
    wait_for("the reload taken", lambda: bed.sched().config_load_time.ToNanoseconds() > loaded, 20)
    assert bed.sched().reload_error == ""
    wait_for("every job to end", lambda: not bed.own_job_pids(), 90, 0.5)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"k": 17}, "plotting.chia.k: k=17 is outside 18..50"),
        ({"executable": "/no/such/chia"}, "plotting.chia.executable: /no/such/chia is not a file"),
        ({"executable": "no-such-chia-on-path"}, "plotting.chia.executable: 'no-such-chia-on-path' not found on PATH"),
        ({"farmer_pk": "ab" * 47}, "plotting.farmer_pk: is 94 characters long"),
        ({"pool_contract_address": "xch1notanaddress"}, "plotting.pool_contract_address: "),
    ],
)
def test_invalid_plotting_exits_2_and_launches_nothing(bed: Bed, change: dict[str, Any], field: str) -> None:
    bed.write_config({"global_stagger_m": 0})
    data = yaml.safe_load(bed.config.read_text())
    for key, value in change.items():
        (data["plotting"]["chia"] if key in data["plotting"]["chia"] or key == "k" else data["plotting"])[key] = value
    bed.config.write_text(yaml.safe_dump(data))
    exe = str(bed.entry)
    r = subprocess.run(
        [exe, "--config", str(bed.config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PLOTBOSS_TEST_SCOPE": str(bed.root)},
    )
    assert r.returncode == 2, r.stderr
    assert f"plotboss-plotter: {bed.config}: {field}" in r.stderr
    assert "Traceback" not in r.stderr
    assert list(bed.logs.iterdir()) == [] and bed.own_job_pids() == []
