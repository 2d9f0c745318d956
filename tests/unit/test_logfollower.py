"""LogFollower: incremental reads of a growing file, restart on truncation/replacement, harmless missing file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from plotter_agent.logparse import LogFollower, LogInfo, parse_file
from tests.unit.logsamples import K18, K25


def test_appends_are_read_incrementally_and_earlier_bytes_are_never_read_again(tmp_path: Path) -> None:
    data = K18.read_bytes()
    cut = data.index(b"Starting phase 2/4")
    log = tmp_path / "job.log"
    log.write_bytes(data[:cut])
    f = LogFollower(log)
    assert f.poll() is True
    assert f.offset == cut
    assert f.info.phase == (1, 7)
    assert f.info.plot_id == "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

    # Nothing new: no change, no read.
    assert f.poll() is False
    assert f.offset == cut

    # Scribble over the bytes already read (same inode, same size): if the follower ever read them again, the
    # plot id, k and dirs would be lost. Then append the rest of the log.
    with open(log, "r+b") as fh:
        fh.write(b"\xff" * cut)
    assert f.poll() is False
    with open(log, "ab") as fh:
        fh.write(data[cut:])
    assert f.poll() is True
    assert f.offset == len(data)
    assert f.info == parse_file(K18)
    assert f.info.completed


def test_growth_line_by_line_keeps_phase_monotonic(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_bytes(b"")
    f = LogFollower(log)
    phases = []
    with open(log, "ab") as fh:
        for line in K25.read_bytes().splitlines(keepends=True):
            fh.write(line)
            fh.flush()
            f.poll()
            phases.append(f.info.phase)
    assert phases == sorted(phases)
    assert f.info == parse_file(K25)


def test_partial_line_at_end_of_file_is_completed_by_the_next_poll(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_bytes(b"Starting plotting progress into temporary dirs: /a and /b\nID: 0123")
    f = LogFollower(log)
    f.poll()
    assert f.info.tmp_dir == "/a" and f.info.plot_id is None
    with open(log, "ab") as fh:
        fh.write(b"456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n")
    assert f.poll() is True
    assert f.info.plot_id == "0123456789abcdef" * 4


def test_truncation_restarts_parsing(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_bytes(K25.read_bytes())
    f = LogFollower(log)
    f.poll()
    assert f.info.completed
    log.write_bytes(K18.read_bytes()[:2000])  # same inode, shorter than the offset
    assert f.poll() is True
    assert f.restarts == 1
    assert f.info.k == 18 and not f.info.completed
    assert f.offset == 2000


def test_replacement_restarts_parsing(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_bytes(K18.read_bytes()[:3000])
    f = LogFollower(log)
    f.poll()
    new = tmp_path / "new.log"
    new.write_bytes(K25.read_bytes())  # a different file, longer than what was read
    os.replace(new, log)
    assert f.poll() is True
    assert f.restarts == 1
    assert f.info == parse_file(K25)


def test_missing_file_is_harmless_and_picked_up_when_it_appears(tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    f = LogFollower(log)
    assert f.poll() is False
    assert f.info == LogInfo() and f.offset == 0
    log.write_bytes(K18.read_bytes())
    assert f.poll() is True
    assert f.info.completed
    log.unlink()
    assert f.poll() is False
    assert f.info.completed  # what was read stays


def test_unreadable_file_is_harmless(tmp_path: Path) -> None:
    d = tmp_path / "dir.log"
    d.mkdir()
    f = LogFollower(d)
    assert f.poll() is False


def test_last_growth_is_mtime_on_first_read_then_wall_clock(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_bytes(b"Computing table 1\n")
    os.utime(log, (1_000_000.0, 1_000_000.0))
    f = LogFollower(log)
    f.poll()
    assert f.last_growth == 1_000_000.0
    with open(log, "ab") as fh:
        fh.write(b"Computing table 2\n")
    before = time.time()
    f.poll()
    assert before <= f.last_growth <= time.time()
    grown = f.last_growth
    f.poll()
    assert f.last_growth == grown  # no growth, no update
