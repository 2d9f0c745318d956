"""The plotter agent against real plot jobs (the chia stand-in) and the real CLI, as subprocesses.

Other plot jobs may run on the machine at the same time (they are real jobs to the agent too), so every check here
looks only at the pids these tests started.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import psutil
import pytest

from plotboss.localcred import local_token
from plotboss.transport import dial
from plotboss.v1 import plotter_pb2, plotter_pb2_grpc
from testbed.agents import start_agent
from testbed.children import stop_process
from testbed.standin import start_chia_job
from tests.conftest import SAMPLES

T = TypeVar("T")
CLI = Path(sys.executable).parent / "plotboss-cli"
STATUS_KEYS = {
    "plot_id", "k", "plotter", "pid", "tmp_dir", "tmp2_dir", "dst_dir", "phase", "progress", "eta_s", "state",
    "wall_s", "tmp_bytes", "logfile",
}  # fmt: skip


class Bed:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs = root / "logs"
        self.tmp = [root / "tmp" / "00", root / "tmp" / "01"]
        self.dst = root / "dst"
        for d in (self.logs, *self.tmp, self.dst):
            d.mkdir(parents=True)
        self.config = root / "plotter.yaml"
        self.config.write_text(
            "version: 1\n"
            'agent: {name: test-plotter, listen: "127.0.0.1:0", poll_s: 0.5, kill_grace_s: 3}\n'
            f"logging: {{plots: {self.logs}}}\n"
            f"directories: {{tmp: [{self.tmp[0]}, {self.tmp[1]}], dst: [{self.dst}]}}\n"
        )
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), "--plotter", self.address, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def status(self, pids: set[int]) -> dict[int, dict[str, Any]]:
        r = self.cli("status", "--json")
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr
        data = json.loads(r.stdout)
        (agent,) = data["plotters"]
        assert agent["ok"] is True and agent["error"] is None
        return {j["pid"]: j for j in agent["jobs"] if j["pid"] in pids}

    def rpc(self, fn: Callable[[plotter_pb2_grpc.PlotterServiceStub], T]) -> T:
        ch = dial(self.address, token=local_token(self.address))  # as plotboss-cli does on the agent's machine
        try:
            return fn(plotter_pb2_grpc.PlotterServiceStub(ch))
        finally:
            ch.close()

    def jobs(self, pids: set[int]) -> dict[int, plotter_pb2.Job]:
        resp = self.rpc(lambda s: s.ListJobs(plotter_pb2.ListJobsRequest()))
        return {j.pid: j for j in resp.jobs if j.pid in pids}


@pytest.fixture
def bed(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> Iterator[Bed]:
    yield Bed(tmp_path)


def run_agent(bed: Bed, procs: list[subprocess.Popen[bytes]]) -> None:
    agent, bed.port = start_agent("plotboss-plotter", bed.config)
    procs.append(agent)


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 60.0, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")


def log_plot_id(log: Path) -> str:
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("ID: "):
            return line[4:].strip()
    raise AssertionError(f"{log} has no ID line yet")


def files_of(plot_id: str, *dirs: Path) -> list[Path]:
    return sorted(p for d in dirs for p in d.iterdir() if plot_id in p.name)


@pytest.mark.slow
def test_four_jobs_seen_advance_and_leave(bed: Bed, procs: list[subprocess.Popen[bytes]]) -> None:
    # one job started before the agent (held stopped so it is still running when the agent looks)
    first = start_chia_job(21, bed.tmp[0], bed.dst, bed.logs / "before.log")
    procs.append(first)
    wait_for(
        "the first job's plot id", lambda: "ID: " in (bed.logs / "before.log").read_text(errors="replace"), 20, 0.02
    )
    os.kill(first.pid, signal.SIGSTOP)
    run_agent(bed, procs)
    # three more started by hand while the agent runs, with their logs in the log dir
    jobs = {first.pid: (21, bed.tmp[0], bed.logs / "before.log")}
    for i, k in enumerate((20, 21, 22)):
        tmp = bed.tmp[i % 2]
        log = bed.logs / f"job{k}.log"
        p = start_chia_job(k, tmp, bed.dst, log)
        procs.append(p)
        jobs[p.pid] = (k, tmp, log)
    pids = set(jobs)
    # all four listed with the right plot id, k, tmp and dst (through the CLI, as a user would see them)
    seen: dict[int, dict[str, Any]] = {}

    def all_listed() -> bool:
        nonlocal seen
        seen = bed.status(pids)
        return len(seen) == 4 and all(j["plot_id"] for j in seen.values())

    wait_for("four jobs with plot ids", all_listed, 30, 0.3)
    assert seen[first.pid]["state"] == "stopped"
    os.kill(first.pid, signal.SIGCONT)
    for pid, (k, tmp, log) in jobs.items():
        j = seen[pid]
        assert set(j) >= STATUS_KEYS, set(j) ^ STATUS_KEYS
        assert j["plot_id"] == log_plot_id(log)
        assert (j["k"], j["tmp_dir"], j["dst_dir"], j["plotter"]) == (k, str(tmp), str(bed.dst), "chia")
        assert j["logfile"] == str(log)
        assert j["phase"] is not None and 0 <= j["progress"] <= 1 and j["wall_s"] >= 0
    # phases advance across polls and never go back; then the finished jobs leave the list
    history: dict[int, list[tuple[int, int]]] = {pid: [] for pid in pids}
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        listed = bed.jobs(pids)
        for pid, job in listed.items():
            if job.phase.known:
                history[pid].append((job.phase.major, job.phase.minor))
        if not listed and all(p.poll() is not None for p in procs[:1] + procs[2:]):
            break
        time.sleep(0.25)
    else:
        raise AssertionError(f"jobs did not finish and leave the list: {sorted(bed.jobs(pids))}")
    for pid, phases in history.items():
        assert phases == sorted(phases), f"pid {pid}: phase went backwards: {phases}"
    advanced = [pid for pid, phases in history.items() if len(set(phases)) >= 2]
    assert len(advanced) >= 3, history
    for p in procs[:1] + procs[2:]:
        assert p.returncode == 0
    # their plots show in dst
    dirs = bed.rpc(lambda s: s.ListDirs(plotter_pb2.ListDirsRequest(include_plots=True))).dirs
    (dst,) = [d for d in dirs if d.path == str(bed.dst)]
    assert dst.role == plotter_pb2.DIR_ROLE_DST and dst.plot_count == 4 and dst.plot_bytes > 0 and dst.orphan_files == 0
    # real plots are plausible for their k: counted, none suspect, each with its name, size and mtime
    on_disk = {p.name: p.stat() for p in bed.dst.glob("*.plot")}
    assert not dst.suspects and len(dst.plots) == 4
    assert {(f.name, f.size_bytes, f.modified_time.seconds) for f in dst.plots} == {
        (n, st.st_size, int(st.st_mtime)) for n, st in on_disk.items()
    }
    ids = {log_plot_id(log) for _k, _t, log in jobs.values()}
    assert {p.name.split("-")[-1].removesuffix(".plot") for p in bed.dst.glob("*.plot")} == ids


@pytest.mark.slow
def test_kill_suspend_resume_and_refusals(bed: Bed, procs: list[subprocess.Popen[bytes]]) -> None:
    run_agent(bed, procs)
    victim = start_chia_job(22, bed.tmp[0], bed.dst, bed.logs / "victim.log")
    other = start_chia_job(22, bed.tmp[0], bed.dst, bed.logs / "other.log")
    bystander = subprocess.Popen(["sleep", "300"], start_new_session=True)
    procs += [victim, other, bystander]
    pids = {victim.pid, other.pid}

    def have_temp_files() -> bool:
        listed = bed.jobs(pids)
        return len(listed) == 2 and all(j.plot_id and j.tmp_bytes > 0 for j in listed.values())

    wait_for("both jobs with temp files", have_temp_files, 60)
    os.kill(other.pid, signal.SIGSTOP)  # its files stay as they are from here on
    listed = bed.jobs(pids)
    vid, oid = listed[victim.pid].plot_id, listed[other.pid].plot_id
    # files that must survive the kill: a finished plot named for the victim's id, the other job's temp files,
    # an unrelated file
    finished = bed.dst / f"plot-k22-2021-01-01-00-00-{vid}.plot"
    finished.write_bytes(b"finished plot")
    unrelated = bed.tmp[0] / "notes.txt"
    unrelated.write_text("keep me")
    time.sleep(0.3)
    others_before = {p: p.stat().st_size for p in files_of(oid, bed.tmp[0], bed.dst)}
    assert others_before

    # suspend/resume change the state the agent reports
    r = bed.cli("suspend", vid[:10])
    assert r.returncode == 0, r.stderr
    wait_for("stopped", lambda: bed.status(pids)[victim.pid]["state"] == "stopped", 10)
    r = bed.cli("resume", vid[:10])
    assert r.returncode == 0, r.stderr
    wait_for("running again", lambda: bed.status(pids)[victim.pid]["state"] != "stopped", 10)

    # the log, streamed through the agent
    r = bed.cli("logs", vid[:12], "-n", "3")
    assert r.returncode == 0 and r.stdout.count("\n") <= 3 and r.stdout, r.stderr

    # refusals change nothing: a pid that is not a plot job, a bad name, an unknown prefix, no --yes
    r = bed.cli("kill", f"pid:{bystander.pid}", "--yes")
    assert r.returncode == 1 and "no plot job" in r.stderr and "Traceback" not in r.stderr
    assert bystander.poll() is None
    r = bed.cli("kill", "not-hex!", "--yes")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = bed.cli("kill", "g00d", "--yes")
    assert r.returncode == 2
    # a whole random id: a short prefix could name a real job someone else runs on this machine
    r = bed.cli("kill", secrets.token_hex(32), "--yes")
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr
    r = bed.cli("kill", vid[:10])  # no --yes, no terminal: not confirmed
    assert r.returncode == 1 and victim.poll() is None

    # kill through the CLI: the process ends, its temp files go, nothing else is touched
    r = bed.cli("kill", vid[:10], "--yes")
    assert r.returncode == 0, r.stderr
    assert victim.wait(10) is not None
    assert files_of(vid, bed.tmp[0], bed.tmp[1], bed.dst) == [finished]
    assert finished.read_bytes() == b"finished plot" and unrelated.read_text() == "keep me"
    assert {p: p.stat().st_size for p in files_of(oid, bed.tmp[0], bed.dst)} == others_before
    assert other.poll() is None and bystander.poll() is None
    wait_for("the killed job leaves the list", lambda: victim.pid not in bed.jobs(pids), 10)


@pytest.mark.slow
def test_dirs_orphans_watch_and_bad_requests(bed: Bed, procs: list[subprocess.Popen[bytes]]) -> None:
    # an old log of a job killed mid-way: analyze counts it as incomplete
    shutil.copy(SAMPLES / "chia-2.7.5-k25-sigterm.plot.log", bed.logs / "killed.log")
    # finished bladebit RAM and diskplot logs of one k: analyze keeps the modes apart
    shutil.copy(SAMPLES / "plotman-bladebit.plot.log", bed.logs / "ram.log")
    shutil.copy(SAMPLES / "plotman-bladebit2disk.plot.log", bed.logs / "disk.log")
    run_agent(bed, procs)
    orphan_id = "ab" * 32
    orphan = bed.tmp[1] / f"plot-k32-2021-01-01-00-00-{orphan_id}.plot.table1.tmp"
    orphan.write_bytes(b"x" * 1000)
    plot = bed.tmp[1] / f"plot-k32-2021-01-01-00-00-{orphan_id}.plot"
    plot.write_bytes(b"p" * 10)

    def orphan_seen() -> bool:
        r = bed.cli("dirs", "--json")
        dirs = json.loads(r.stdout)["plotters"][0]["dirs"]
        return any(d["path"] == str(bed.tmp[1]) and d["orphan_bytes"] == 1000 for d in dirs)

    wait_for("the orphan in dirs", orphan_seen, 10)
    # the 10-byte file named like a k32 plot is no plot: a suspect, with its reason, in --json and in the table
    (tmp1,) = [
        d for d in json.loads(bed.cli("dirs", "--json").stdout)["plotters"][0]["dirs"] if d["path"] == str(bed.tmp[1])
    ]
    assert tmp1["plot_count"] == 0 and tmp1["plot_bytes"] == 0
    assert [(f["name"], f["size_bytes"]) for f in tmp1["suspects"]] == [(plot.name, 10)]
    assert "10 bytes is not the size of a whole k32 plot" in tmp1["suspects"][0]["reason"]
    text = bed.cli("dirs").stdout
    assert f"suspect (not counted, never archived): {plot}: 10 bytes" in text
    r = bed.cli("dirs", "--clean-orphans")  # no terminal to confirm on: nothing removed
    assert r.returncode == 1 and orphan.exists()
    r = bed.cli("dirs", "--clean-orphans", "--yes")
    assert r.returncode == 0, r.stderr
    assert not orphan.exists() and plot.exists()

    # WatchJobs: a first snapshot at once, then one per change
    job = start_chia_job(20, bed.tmp[0], bed.dst, bed.logs / "w.log")
    procs.append(job)
    ch = dial(bed.address, timeout_s=30)
    try:
        stream = plotter_pb2_grpc.PlotterServiceStub(ch).WatchJobs(plotter_pb2.WatchJobsRequest())
        seen_job = False
        for snapshots, msg in enumerate(stream, 1):
            seen_job = seen_job or any(j.pid == job.pid for j in msg.jobs)
            if seen_job and snapshots >= 3:
                break
        stream.cancel()  # type: ignore[no-untyped-call]
        assert seen_job
    finally:
        ch.close()
    os.kill(job.pid, signal.SIGSTOP)  # held until `logs -f` is attached
    follow = subprocess.Popen(
        [str(CLI), "--plotter", bed.address, "logs", f"pid:{job.pid}", "-f", "-n", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(follow)  # type: ignore[arg-type]
    time.sleep(2.0)
    os.kill(job.pid, signal.SIGCONT)

    # bad requests: clear codes, nothing changed
    stub_calls: list[tuple[Callable[[plotter_pb2_grpc.PlotterServiceStub], object], grpc.StatusCode]] = [
        (lambda s: s.GetJob(plotter_pb2.GetJobRequest(job="")), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda s: s.GetJob(plotter_pb2.GetJobRequest(job="xyz")), grpc.StatusCode.INVALID_ARGUMENT),
        # a huge bad name (under the 64 KiB request cap): still INVALID_ARGUMENT (quoted whole, the details
        # overflowed the client's trailer limit)
        (lambda s: s.GetJob(plotter_pb2.GetJobRequest(job="a" * 60_000)), grpc.StatusCode.INVALID_ARGUMENT),
        # past the cap: refused as it arrives
        (lambda s: s.GetJob(plotter_pb2.GetJobRequest(job="a" * 100_000)), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (lambda s: s.KillJob(plotter_pb2.KillJobRequest(job="pid:1")), grpc.StatusCode.NOT_FOUND),
        (lambda s: s.AnalyzeLogs(plotter_pb2.AnalyzeLogsRequest(k=99)), grpc.StatusCode.INVALID_ARGUMENT),
        (
            lambda s: s.CleanOrphans(plotter_pb2.CleanOrphansRequest(expected_bytes=12345)),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        # no plotting section: the scheduler is disabled, and says so
        (lambda s: s.PauseScheduler(plotter_pb2.PauseSchedulerRequest()), grpc.StatusCode.FAILED_PRECONDITION),
    ]
    for fn, code in stub_calls:
        with pytest.raises(grpc.RpcError) as e:
            bed.rpc(fn)
        assert e.value.code() == code, e.value.details()
    assert plot.exists() and job.poll() in (None, 0)
    # logs -f follows the job's log through the agent until the job ends
    follow.wait(60)
    out, err = follow.communicate()
    assert follow.returncode == 0, err
    assert "Created a total of 1 new plots" in out
    job.wait(60)

    # analyze sees the finished log
    def groups() -> dict[tuple[str, str | None, int], Any]:
        (analysis,) = json.loads(bed.cli("analyze", "--json").stdout)["plotters"]
        assert analysis["incomplete_logs"] == 1  # the killed k25 log; the running job's log is not counted
        return {(g["plotter"], g["mode"], g["k"]): g for g in analysis["groups"]}

    wait_for("the finished log analysed", lambda: ("chia", None, 20) in groups(), 15)
    found = groups()
    assert found[("chia", None, 20)]["count"] == 1
    phase3 = {mode: found[("bladebit", mode, 32)]["phases"][2]["mean_s"] for mode in ("ram", "disk")}
    assert phase3 == {"ram": 203.26, "disk": 562.95}  # not one group with 383.1
    stop_process(job)


@pytest.mark.slow
def test_multi_plot_job_moves_on_to_its_second_plot(bed: Bed, procs: list[subprocess.Popen[bytes]]) -> None:
    run_agent(bed, procs)
    log = bed.logs / "two.log"
    job = start_chia_job(20, bed.tmp[0], bed.dst, log, extra=("-n", "2"))
    procs.append(job)
    seen: list[tuple[int, str, tuple[int, int]]] = []
    deadline = time.monotonic() + 120
    while job.poll() is None and time.monotonic() < deadline:
        listed = bed.jobs({job.pid})
        if job.pid in listed:
            j = listed[job.pid]
            assert j.plot_count == 2
            if j.phase.known:
                seen.append((j.plot_index, j.plot_id, (j.phase.major, j.phase.minor)))
        time.sleep(0.1)
    assert job.wait(timeout=10) == 0, log.read_text(errors="replace")
    ids = [line[4:].strip() for line in log.read_text().splitlines() if line.startswith("ID: ")]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert {p.name.split("-")[-1].removesuffix(".plot") for p in bed.dst.glob("*.plot")} == set(ids)
    assert [(index, phase) for index, _id, phase in seen] == sorted((index, phase) for index, _id, phase in seen)
    assert {index for index, _id, _p in seen} == {1, 2}, seen
    for index, plot_id, _phase in seen:
        assert plot_id in ("", ids[index - 1]), (index, plot_id, ids)


@pytest.mark.slow
def test_a_finished_job_not_yet_reaped_keeps_its_id_and_phase(bed: Bed, procs: list[subprocess.Popen[bytes]]) -> None:
    """A job that exited but whose parent has not waited for it yet (a zombie) has no open files left; the agent
    still shows which plot it was and that it got to the end, until the parent reaps it and it leaves the list."""
    run_agent(bed, procs)
    log = bed.logs / "zombie.log"
    job = start_chia_job(18, bed.tmp[0], bed.dst, log)
    procs.append(job)
    wait_for("the job with its id", lambda: bool(bed.jobs({job.pid}).get(job.pid, plotter_pb2.Job()).plot_id), 60)
    # not job.poll()/wait(): those would reap it
    wait_for("the job to exit", lambda: psutil.Process(job.pid).status() == psutil.STATUS_ZOMBIE, 60, 0.05)
    wait_for(
        "the agent to see the zombie",
        lambda: bed.jobs({job.pid}).get(job.pid, plotter_pb2.Job()).state == plotter_pb2.JOB_STATE_ZOMBIE,
        10,
    )
    j = bed.jobs({job.pid})[job.pid]
    assert j.plot_id == log_plot_id(log) and j.logfile == str(log)
    assert (j.phase.known, j.phase.major, j.phase.minor) == (True, 5, 3) and not j.phase_unknown_reason  # renamed
    assert job.wait(timeout=5) == 0
    wait_for("the reaped job to leave the list", lambda: job.pid not in bed.jobs({job.pid}), 10)


SLOW_WRITER = """
import sys, time
for i in range(100000):
    print(f"line {i}", flush=True)
    time.sleep(0.02)
"""


@pytest.mark.slow
def test_logs_follow_survives_truncation_and_reports_a_removed_log(
    bed: Bed, procs: list[subprocess.Popen[bytes]]
) -> None:
    """`logs -f` (TailLog follow): a log truncated under it is followed from its new start (no lines lost waiting
    for the file to grow past the old offset); a log removed while the job runs ends the stream with an error."""
    run_agent(bed, procs)
    fake = bed.root / "bin" / "chia"  # a plot job by its command line; it only writes numbered lines
    fake.parent.mkdir()
    fake.write_text(SLOW_WRITER)
    log = bed.logs / "slow.log"
    with open(log, "ab") as out:
        job = subprocess.Popen(
            [sys.executable, str(fake), "plots", "create", "-k", "18", "-t", str(bed.tmp[0]), "-d", str(bed.dst)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    procs.append(job)
    wait_for("the job in the list", lambda: job.pid in bed.jobs({job.pid}), 30)
    ch = dial(bed.address, timeout_s=60)
    try:
        stream = plotter_pb2_grpc.PlotterServiceStub(ch).TailLog(
            plotter_pb2.TailLogRequest(job=f"pid:{job.pid}", follow=True, lines=1)
        )
        text = ""
        numbers: list[int] = []
        truncated_after: int | None = None
        for msg in stream:
            text += msg.data.decode()
            *done, text = text.split("\n")
            numbers += [int(line.split()[1]) for line in done if line.startswith("line ")]
            if truncated_after is None and len(numbers) >= 20:
                truncated_after = numbers[-1]
                log.write_bytes(b"")  # truncate: the writer (O_APPEND) goes on at the new end
            elif truncated_after is not None and numbers[-1] > truncated_after + 40:
                break
        assert truncated_after is not None
        after = [n for n in numbers if n > truncated_after]
        # followed from the new start: the first line after the cut is one of the next few, not ~offset/8 lines later
        assert after and after[0] <= truncated_after + 15, (truncated_after, after[:5])
        stream.cancel()  # type: ignore[no-untyped-call]

        stream = plotter_pb2_grpc.PlotterServiceStub(ch).TailLog(
            plotter_pb2.TailLogRequest(job=f"pid:{job.pid}", follow=True, lines=1)
        )
        first = next(iter(stream))
        assert first.logfile == str(log)
        log.unlink()
        with pytest.raises(grpc.RpcError) as exc:
            for _msg in stream:
                pass
        assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "was removed while the job runs" in (exc.value.details() or "")
        assert job.poll() is None
    finally:
        ch.close()
