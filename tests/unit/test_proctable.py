"""The production process table against this machine's /proc: the fast path agrees with psutil; vanished processes
and whole-machine scans never raise."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from plotter_agent.proctable import SystemProcessTable, read_facts

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="Linux /proc needed")


def test_fast_path_agrees_with_psutil(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    with open(log, "wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", "import time\nwhile True: pass"], stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path
        )
    try:
        time.sleep(0.3)
        facts = read_facts(child.pid, ["python", "x"], fds_only=(1, 2))
        assert facts is not None
        p = psutil.Process(child.pid)
        assert facts.ppid == os.getpid() and facts.cwd == str(tmp_path)
        assert abs(facts.create_time - p.create_time()) < 0.05
        assert facts.status == p.status() == "running"
        assert abs(facts.rss_bytes - p.memory_info().rss) < 1 << 20
        assert facts.user_s + facts.sys_s > 0
        assert dict(facts.fds) == {1: str(log), 2: str(log)}
        os.kill(child.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while (f2 := read_facts(child.pid, ["python"])) is not None and f2.status != "stopped":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        child.kill()
        child.wait()
    assert read_facts(child.pid, ["python"]) is None  # gone: no error


def test_scan_of_the_whole_machine_never_raises() -> None:
    table = SystemProcessTable(candidate=lambda argv: True)
    facts = table.scan()  # every process, including ones that exit mid-scan or deny access
    assert any(f.pid == os.getpid() for f in facts)
    own = next(f for f in facts if f.pid == os.getpid())
    assert own.cmdline and own.status in ("running", "sleeping")
    assert table.facts(2**22 + 12345) is None


def test_candidates_are_cached_and_rechecked() -> None:
    """A command line is read once for a new pid, not again on the next poll, and again on every third poll (pid
    reuse, exec). Counted for a child of our own, whatever other processes come and go meanwhile."""
    marker = f"plotboss-recheck-{os.getpid()}-{time.monotonic_ns()}"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    reads: list[int] = []
    poll = [0]

    def candidate(argv: object) -> bool:
        if marker in tuple(argv):  # type: ignore[arg-type]
            reads.append(poll[0])
        return False

    try:
        deadline = time.monotonic() + 10
        while marker.encode() not in Path(f"/proc/{child.pid}/cmdline").read_bytes():  # until it has exec'ed
            assert time.monotonic() < deadline
            time.sleep(0.01)
        table = SystemProcessTable(recheck_every=3, candidate=candidate)

        def candidates() -> None:
            poll[0] += 1
            table.candidates()

        candidates()
        assert reads == [1]
        candidates()
        assert reads == [1]  # cached: not read on the second poll
        candidates()
        assert reads == [1, 3]  # the third poll reads every command line again
        candidates()
        assert reads == [1, 3]
    finally:
        child.kill()
        child.wait()


#: A plotter's shape: the main thread waits in a join while a worker thread computes.
_BUSY_WORKER = """
import sys, threading
def spin():
    while True:
        pass
t = threading.Thread(target=spin, daemon=True)
t.start()
print("started", flush=True)
t.join()
"""


def test_a_job_is_running_when_a_worker_thread_is() -> None:
    """The main thread of a busy job sleeps in a join: psutil says `sleeping`; the job's state is its busiest
    thread's (a busy k25 job showed `sleeping` in 31 of 52 samples)."""
    child = subprocess.Popen([sys.executable, "-c", _BUSY_WORKER], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"started\n"
        p = psutil.Process(child.pid)
        deadline = time.monotonic() + 10
        while len(p.threads()) < 2 or p.cpu_times().user < 0.2:  # the worker is at it
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # a worker may be off the CPU for an instant on a busy machine: a few looks, most of them running
        main_states, job_states = [], []
        for _ in range(10):
            with open(f"/proc/{child.pid}/stat", "rb") as f:
                main_states.append(f.read().rsplit(b")", 1)[1].split()[0].decode())
            facts = read_facts(child.pid, ["python", "x"], fds_only=(1, 2))
            assert facts is not None
            job_states.append(facts.status)
            time.sleep(0.02)
        assert set(main_states) == {"S"}  # the main thread itself never runs: it waits in the join
        assert job_states.count("running") >= 5, job_states
        # the psutil path (used for a pid whose command line is not given) says the same
        via_psutil = [r.status if (r := read_facts(child.pid)) is not None else "gone" for _ in range(10)]
        assert via_psutil.count("running") >= 5, via_psutil
        # stopped is stopped, whatever its threads were doing
        os.kill(child.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while (f2 := read_facts(child.pid, ["python"])) is not None and f2.status != "stopped":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        child.kill()
        child.wait()


def test_a_sleeping_process_with_sleeping_threads_is_sleeping() -> None:
    code = (
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(60,)).start()\n"
        "print('x', flush=True)\n"
        "time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"x\n"
        time.sleep(0.1)
        facts = read_facts(child.pid, ["python", "x"])
        assert facts is not None and facts.status == "sleeping"
        assert len(os.listdir(f"/proc/{child.pid}/task")) == 2
    finally:
        child.kill()
        child.wait()
