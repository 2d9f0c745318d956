"""Real process trees: a chia 2.x-style wrapper and its plotter child count as one job; a shell wrapper is no job;
relative paths resolve against the job's cwd; a job whose output goes elsewhere is listed with the reason."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from plotter_agent.dirs import configured_dirs
from plotter_agent.loglib import LogLibrary
from plotter_agent.proctable import SystemProcessTable
from plotter_agent.view import View

# Stand-ins that only look like plotters in the process table (they sleep); enough for discovery.
CHILD = "import sys, time\ntime.sleep(60)\n"
WRAPPER = """import subprocess, sys, os
child = os.path.join(os.path.dirname(sys.argv[0]), "chia_plot")
subprocess.run([sys.executable, child, "-t", "tmpdir", "-d", "/abs/dst", "-r", "3", "-u", "512"])
"""


def _view(tmp_path: Path) -> View:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    return View(
        log_dir=logs,
        dirs=configured_dirs([str(tmp_path)], None, []),
        table=SystemProcessTable(),
        library=LogLibrary(logs),
        stall_after_s=600,
        poll_s=1,
    )


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except OSError:  # gone meanwhile (other plot jobs may run on this machine)
        return -1


def test_wrapper_and_child_are_one_job(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "chia").write_text(WRAPPER)
    (bindir / "chia_plot").write_text(CHILD)
    work = tmp_path / "work"
    work.mkdir()
    log = tmp_path / "logs" / "wrapped.log"
    log.parent.mkdir()
    with open(log, "wb") as out:
        wrapper = subprocess.Popen(
            [sys.executable, str(bindir / "chia"), "plotters", "madmax", "-t", "tmpdir", "-d", "/abs/dst"],
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    shell = subprocess.Popen(
        ["sh", "-c", f"{sys.executable} {bindir / 'chia_plot'} -t rel -d rel2 > /dev/null; true"],
        cwd=work,
        start_new_session=True,
    )
    try:
        view = _view(tmp_path)
        deadline = time.monotonic() + 10
        while True:
            snap = view.poll()
            wrapped = [j for j in snap.jobs if j.pid == wrapper.pid]
            by_shell = [j for j in snap.jobs if j.pid != wrapper.pid and _pgid(j.pid) == shell.pid]
            if wrapped and len(wrapped[0].pids) == 2 and by_shell:
                break
            assert time.monotonic() < deadline, snap.jobs
            time.sleep(0.1)
        (job,) = wrapped
        assert job.plotter == "madmax" and job.pids[0] == wrapper.pid
        # the child's own command line gives the dirs and options, relative to the cwd it inherited
        assert (job.tmp_dir, job.dst_dir, job.threads, job.buckets) == (str(work / "tmpdir"), "/abs/dst", 3, 512)
        assert job.logfile == str(log)
        # the sh -c wrapper is not a job; its plotter child is, once; its output is not in the log dir
        (child,) = by_shell
        assert child.pids == (child.pid,) and child.tmp_dir == str(work / "rel") and child.dst_dir == str(work / "rel2")
        assert child.phase is None and "/dev/null" in child.phase_unknown_reason
        assert not any(j.pid == shell.pid for j in snap.jobs)
    finally:
        for p in (wrapper, shell):
            os.killpg(p.pid, 9)
            p.wait()
