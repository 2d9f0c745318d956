"""The plotter servicer's pure helpers: message conversion and log tails."""

from __future__ import annotations

from pathlib import Path

from plotter_agent.jobs import build_job, group_families
from plotter_agent.service import TAIL_MAX_BYTES, job_message, tail_bytes
from testbed.procs import proc


def test_out_of_range_command_line_numbers_never_break_the_reply() -> None:
    """Any user's process can carry `-b -1` or `-k 99999999999`: one such job must not make ListJobs fail (INTERNAL
    for every job on the agent, as a review showed); the fields read 0 = unknown."""
    argv = ("chia", "plots", "create", "-k", "99999999999", "-b", "-1", "-r", "-4", "-u", "4294967296", "-t", "/t")
    (fam,) = group_families([proc(9, argv)])
    job = build_job(
        fam,
        now=1010.0,
        logfile=None,
        log_reason="no log",
        info=None,
        last_growth=None,
        progress=0.0,
        eta_s=None,
        tmp_bytes=0,
        stall_after_s=600.0,
    )
    msg = job_message(job)
    assert (msg.k, msg.buffer_mib, msg.threads, msg.buckets) == (0, 0, 0, 0)
    assert msg.tmp_dir == "/t" and msg.pid == 9


def test_tail_of_a_log_without_newlines_is_bounded(tmp_path: Path) -> None:
    log = tmp_path / "one-line.log"
    log.write_bytes(b"x" * (40 * 2**20))  # 40 MiB, not one newline: the old tail re-counted it per 64 KiB step
    data, end, _file = tail_bytes(str(log), 20)
    assert len(data) == TAIL_MAX_BYTES and end == 40 * 2**20  # the first answer stops at 1 MiB, whatever the log


def test_tail_gives_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_bytes(b"".join(f"line {i}\n".encode() for i in range(100_000)))
    data, end, _file = tail_bytes(str(log), 3)
    assert data == b"line 99997\nline 99998\nline 99999\n" and end == log.stat().st_size
    assert tail_bytes(str(log), 0)[0] == b""


def test_job_message_carries_the_mode() -> None:
    (fam,) = group_families([proc(9, ("bladebit", "-f", "F", "-c", "C", "diskplot", "-t1", "/t", "/d"))])
    kw = dict(now=1010.0, logfile=None, log_reason="no log", info=None, last_growth=None, progress=0.0, eta_s=None)
    job = build_job(fam, tmp_bytes=0, stall_after_s=600.0, **kw)  # type: ignore[arg-type]
    assert job_message(job).mode == "disk"
    (chia,) = group_families([proc(9)])
    assert job_message(build_job(chia, tmp_bytes=0, stall_after_s=600.0, **kw)).mode == ""  # type: ignore[arg-type]
