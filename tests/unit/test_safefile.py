"""Files another user can name or swap are opened as what they are: no symlink followed, regular files only, never
blocking (plotboss.safefile), in every reader of plot logs (LogFollower, LogLibrary, TailLog's tail_bytes)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from plotboss.safefile import NotRegularFile, NotThatFile, file_id, open_regular, regular_id
from plotter_agent.loglib import LogLibrary
from plotter_agent.logparse import LogFollower, LogInfo, parse_file
from plotter_agent.service import tail_bytes
from tests.unit.logsamples import K18

PLOT_ID = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


def finishes(fn: Callable[[], object], timeout_s: float = 5.0) -> bool:
    """Whether ``fn`` returns (or raises) within ``timeout_s``; a call blocked on a FIFO would not."""
    t = threading.Thread(target=lambda: _swallow(fn), daemon=True)
    t.start()
    t.join(timeout_s)
    return not t.is_alive()


def _swallow(fn: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):  # the callers check what was raised where it matters
        fn()


def test_open_regular_reads_a_regular_file_and_knows_which_one(tmp_path: Path) -> None:
    p = tmp_path / "a.log"
    p.write_bytes(b"hello\n")
    fd = open_regular(p, file_id(os.stat(p)))
    try:
        assert os.read(fd, 100) == b"hello\n"
    finally:
        os.close(fd)
    other = tmp_path / "b.log"
    other.write_bytes(b"other\n")
    with pytest.raises(NotThatFile):
        open_regular(p, file_id(os.stat(other)))


def test_open_regular_refuses_symlinks_fifos_and_dirs_without_blocking(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"secret\n")
    (tmp_path / "link").symlink_to(secret)
    os.mkfifo(tmp_path / "fifo")  # no writer: a plain open() for reading would wait forever
    (tmp_path / "dir").mkdir()
    for name, word in (("link", "symlink"), ("fifo", "FIFO"), ("dir", "directory")):
        with pytest.raises(NotRegularFile) as exc:
            open_regular(tmp_path / name)
        assert word in str(exc.value)
    assert regular_id(tmp_path / "fifo") is None and regular_id(tmp_path / "nope") is None
    assert regular_id(secret) == file_id(os.stat(secret))


def test_log_readers_do_not_follow_a_symlink_to_another_file(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.log"  # a complete chia log outside the log dir, as a root-only file would be
    elsewhere.write_bytes(K18.read_bytes())
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "job.log").symlink_to(elsewhere)
    assert parse_file(logs / "job.log") == LogInfo()
    f = LogFollower(logs / "job.log")
    assert f.poll() is False and f.info == LogInfo() and "symlink" in f.problem
    with pytest.raises(NotRegularFile):
        tail_bytes(str(logs / "job.log"), 20)
    lib = LogLibrary(logs, clock=lambda: 0.0)
    lib.refresh()
    assert lib.old_infos() == []  # the link is not an old log either


def test_a_follower_reads_only_the_file_the_job_writes(tmp_path: Path) -> None:
    """With the file the job's fd points to given, a hard link or another file at the path is never read."""
    logs = tmp_path / "logs"
    logs.mkdir()
    job_log = logs / "job.log"
    with open(job_log, "ab") as job_fd:  # the job's open output keeps its file (and inode) alive
        job_fd.write(b"Computing table 1\n")
        job_file = file_id(os.stat(job_log))
        job_log.unlink()  # the job writes on into its (now deleted) file; someone puts another log at its path
        job_log.write_bytes(K18.read_bytes())
        f = LogFollower(job_log)
        assert f.poll(job_file) is False
        assert f.info.plot_id is None and "replaced" in f.problem
        job_log.unlink()  # or a hard link to a file the job's user may not read
        secret = tmp_path / "secret.log"
        secret.write_bytes(K18.read_bytes())
        secret.chmod(0o600)
        os.link(secret, job_log)
        assert f.poll(job_file) is False
        assert f.info.plot_id is None and "replaced" in f.problem
        with pytest.raises(NotThatFile):
            tail_bytes(str(job_log), 20, expect=job_file)


def test_a_log_replaced_by_a_fifo_never_blocks_the_library(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "old.log").write_bytes(K18.read_bytes())
    lib = LogLibrary(logs, clock=lambda: 0.0, scan_interval_s=0.0, full_scan_interval_s=0.0)
    lib.refresh()
    assert [i.plot_id for i in lib.old_infos()] == [PLOT_ID]
    (logs / "old.log").unlink()
    os.mkfifo(logs / "old.log")
    assert finishes(lib.refresh), "refresh blocked on a FIFO"
    assert finishes(lib.refresh), "refresh blocked on a FIFO"
    assert lib.old_infos() == []
    f = LogFollower(logs / "old.log")
    assert finishes(f.poll), "a follower blocked on a FIFO"
    assert finishes(lambda: tail_bytes(str(logs / "old.log"), 20)), "tail blocked on a FIFO"
