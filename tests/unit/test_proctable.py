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
    calls: list[tuple[str, ...]] = []

    def candidate(argv: object) -> bool:
        calls.append(tuple(argv))  # type: ignore[arg-type]
        return False

    table = SystemProcessTable(recheck_every=3, candidate=candidate)
    table.candidates()
    first = len(calls)
    table.candidates()
    assert len(calls) == first  # nothing new was read on the second poll...
    table.candidates()
    assert len(calls) >= first - 5  # ...but every third poll reads every command line again
