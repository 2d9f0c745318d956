"""LogParser on the real sample logs: values, chunking independence, phase order, dirty input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plotter_agent.logparse import PHASE_DONE, LogInfo, LogParser, Plotter, parse_file
from tests.unit.logsamples import ALL_LOGS, EXPECTED, K18, K25, SAMPLES


def feed_in_chunks(data: bytes, size: int) -> tuple[LogInfo, list[tuple[int, tuple[int, int]]]]:
    """Feed ``data`` ``size`` bytes at a time; return the final info and (plot index, phase) after every chunk."""
    parser = LogParser()
    phases = []
    for i in range(0, len(data), size):
        parser.feed(data[i : i + size])
        phases.append((parser.info.plot_index, parser.info.phase))
    parser.flush()
    phases.append((parser.info.plot_index, parser.info.phase))
    return parser.info, phases


def whole(data: bytes) -> LogInfo:
    parser = LogParser()
    parser.feed(data)
    parser.flush()
    return parser.info


def test_every_sample_is_covered() -> None:
    assert {p.name for p in ALL_LOGS} == set(EXPECTED)


@pytest.mark.parametrize("path", ALL_LOGS, ids=lambda p: p.name)
def test_sample_values(path: Path) -> None:
    info = parse_file(path)
    for field, value in EXPECTED[path.name].items():
        got = getattr(info, field)
        if isinstance(value, float):
            assert got == pytest.approx(value, abs=1e-3), field
        else:
            assert got == value, field
    if info.completed:
        assert info.phase >= PHASE_DONE and info.phase[0] == 5
        assert info.plot_name is not None and info.plot_id is not None
    assert info.plot_id is not None and re.fullmatch(r"[0-9a-f]{64}", info.plot_id)


@pytest.mark.parametrize("path", ALL_LOGS, ids=lambda p: p.name)
def test_phase_times_agree_with_an_independent_read(path: Path) -> None:
    """The phase times equal what a plain regex over the whole file finds (one per phase, in any format)."""
    text = path.read_text(errors="replace")
    found = {
        int(m[1]): float(m[2])
        for m in re.finditer(r"(?:Time for phase|Phase|Finished Phase) (\d) (?:=|took|in) ([\d.]+)", text)
    }
    assert parse_file(path).phase_times == found


@pytest.mark.parametrize("path", ALL_LOGS, ids=lambda p: p.name)
def test_chunking_does_not_matter_and_phase_never_goes_back(path: Path) -> None:
    data = path.read_bytes()
    reference = whole(data)
    for size in (1, 7, 4096, len(data)):
        info, phases = feed_in_chunks(data, size)
        assert info == reference, f"chunk size {size}"
        assert phases == sorted(phases), f"(plot, phase) went backwards with chunk size {size}"


def test_k18_phase_sequence_follows_the_documented_mapping() -> None:
    parser = LogParser()
    seen: list[tuple[int, int]] = []
    for line in K18.read_bytes().splitlines(keepends=True):
        parser.feed(line)
        if not seen or seen[-1] != parser.info.phase:
            seen.append(parser.info.phase)
    expected = [(0, 0), (1, 0)] + [(1, t) for t in range(1, 8)] + [(2, 0)] + [(2, 8 - t) for t in range(7, 1, -1)]
    expected += [(2, 7)]  # table 1 new size
    expected += [(3, 0)] + [(3, n) for n in range(1, 7)] + [(4, 0), (4, 1), (4, 2), (4, 3)]  # C1/C3, C2, pointers
    expected += [(5, 0), (5, 3)]  # working space reported; renamed (same file system: no copy, no temp2 removal)
    assert seen == expected


def test_phase_at_a_point_in_the_log() -> None:
    data = K18.read_bytes()
    cut = data.index(b"Backpropagating on table 5\n") + len(b"Backpropagating on table 5\n")
    info = whole(data[:cut])
    assert info.phase == (2, 3)
    assert info.phase_times == {1: 0.445}
    assert not info.completed and info.total_time is None


def test_madmax_and_bladebit_phase_sequences_are_monotonic_and_complete() -> None:
    last = {
        "plotman-madmax.plot.log": (5, 2),
        "plotman-bladebit.plot.log": (5, 1),
        "plotman-bladebit2disk.plot.log": PHASE_DONE,
    }
    for name in last:
        parser = LogParser()
        seen = []
        for line in (SAMPLES / name).read_bytes().splitlines(keepends=True):
            parser.feed(line)
            seen.append(parser.info.phase)
        assert seen == sorted(seen)
        assert {major for major, _ in seen} == {0, 1, 2, 3, 4, 5}
        assert seen[-1] == last[name]


def test_partial_last_line_waits_for_its_newline() -> None:
    parser = LogParser()
    parser.feed(b"ID: " + b"ab" * 32)
    assert parser.info.plot_id is None
    parser.feed(b"\n")
    # "ID:" alone identifies a chiapos log
    assert parser.info.plot_id == "ab" * 32
    assert parser.info.plotter is Plotter.CHIA


def test_flush_parses_a_last_line_without_newline() -> None:
    data = K18.read_bytes().rstrip(b"\n")
    parser = LogParser()
    parser.feed(data)
    assert not parser.info.completed  # the rename line has no newline yet
    parser.flush()
    assert parser.info.completed


def test_ansi_nul_crlf_and_invalid_utf8_are_harmless() -> None:
    dirty = (
        b"\x1b[32mStarting plotting progress into temporary dirs: /t/a and /t/b\x1b[0m\r\n"
        b"ID: \x00" + b"cd" * 32 + b"\r\n"
        b"Plot size is: 2\xff5\n"  # invalid byte in the middle: the line no longer matches
        b"Plot size is: 25\x1b[0m\n"
        b"\xfe\xfe\xfe garbage \x00\x00\n"
        b"Computing table 3\r\n"
        b"\x00 \x1b[1m\tComputing table 4\n"  # leading NUL, ANSI and whitespace before the text
        b"Progress 10%\rComputing table 5\n"  # a carriage return inside a line
    )
    info = whole(dirty)
    assert info.tmp_dir == "/t/a" and info.tmp2_dir == "/t/b"
    assert info.plot_id == "cd" * 32
    assert info.k == 25
    assert info.phase == (1, 5)


def test_over_long_line_is_skipped_whatever_the_chunking() -> None:
    data = b"ID: " + b"ef" * 32 + b"\n" + b"x" * 200_000 + b"Computing table 9\n" + b"Computing table 4\n"
    a, _ = feed_in_chunks(data, 1000)
    b = whole(data)
    assert a == b
    assert b.plot_id == "ef" * 32 and b.phase == (1, 4)


def test_unknown_text_leaves_info_empty() -> None:
    assert whole(b"hello\nworld\nComputing table 3\n") == LogInfo()


def test_log_describes_its_first_plot_only() -> None:
    data = K25.read_bytes()
    info = whole(
        data + b"\nID: " + b"11" * 32 + b"\nStarting phase 1/4: Forward Propagation... Wed Nov 25 17:07:00 2026\n"
    )
    assert info == parse_file(K25)


def test_parse_file_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert parse_file(tmp_path / "nope.log") == LogInfo()
