"""Our phase numbers against plotman's own, line by line, on plotman's four annotated sample logs.

``tests/data/logs/plotman-<format>.marked`` (from the plotman repository) prefix every line of the sample log with
``M:m,``: the phase plotman reports once it has read that line. Users carry plotman stagger rules over
(``tmpdir_stagger_phase_major: 2, minor: 1``), which mean the same only if each phase is crossed on the same line.

One deliberate difference: plotman's diskplot format never reaches 5:0, not even on ``Finished plotting``. There we
keep our completion rule (a finished plot is at 5:0 or later and ``completed``), and only on the line that completes
the plot.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from plotter_agent.logparse import PHASE_DONE, LogParser
from tests.unit.logsamples import SAMPLES

FORMATS = ("chianetwork", "madmax", "bladebit", "bladebit2disk")


def marked(name: str) -> list[tuple[tuple[int, int], bytes]]:
    """(plotman's phase, line) for every line of ``plotman-<name>.marked``."""
    out = []
    for raw in (SAMPLES / f"plotman-{name}.marked").read_bytes().splitlines():
        prefix, comma, line = raw.partition(b",")
        major, colon, minor = prefix.partition(b":")
        assert comma and colon, f"plotman-{name}.marked: bad line {raw[:80]!r}"
        out.append(((int(major), int(minor)), line))
    return out


def compare(name: str) -> tuple[int, list[str], int]:
    """Feed the log line by line; (lines that agree, a description of each that does not, lines where only our
    completion rule differs)."""
    rows = marked(name)
    plotman_reaches_done = max(p for p, _ in rows) >= PHASE_DONE
    parser = LogParser()
    agree = 0
    misses: list[str] = []
    completion_only = 0
    for n, (theirs, line) in enumerate(rows, 1):
        parser.feed(line + b"\n")
        ours = parser.info.phase
        expected = theirs
        if not plotman_reaches_done and parser.info.completed:
            expected = PHASE_DONE  # plotman has no number for a finished plot of this format
            completion_only += 1
        if ours == expected:
            agree += 1
        else:
            misses.append(f"line {n}: plotman {theirs[0]}:{theirs[1]}, ours {ours[0]}:{ours[1]}: {line[:70]!r}")
    return agree, misses, completion_only


def test_the_marked_files_are_the_sample_logs() -> None:
    for name in FORMATS:
        lines = [line for _, line in marked(name)]
        assert lines == (SAMPLES / f"plotman-{name}.plot.log").read_bytes().splitlines(), name


@pytest.mark.parametrize("name", FORMATS)
def test_every_line_agrees_with_plotman(name: str) -> None:
    agree, misses, _ = compare(name)
    total = len(marked(name))
    assert not misses, f"{name}: {agree}/{total} lines agree; first misses:\n" + "\n".join(misses[:15])


@pytest.mark.parametrize("name", FORMATS)
def test_our_completion_rule_differs_only_on_the_completing_line(name: str) -> None:
    rows = marked(name)
    _, _, completion_only = compare(name)
    if max(p for p, _ in rows) >= PHASE_DONE:
        assert completion_only == 0
    else:  # diskplot: plotman stays at its last number on `Finished plotting`, the log's last line
        assert completion_only == 1
        assert rows[-1][1].startswith(b"Finished plotting in ")


@pytest.mark.parametrize("name", FORMATS)
def test_whole_log_ends_where_line_by_line_does(name: str) -> None:
    path: Path = SAMPLES / f"plotman-{name}.plot.log"
    parser = LogParser()
    parser.feed(path.read_bytes())
    stepwise = LogParser()
    for _, line in marked(name):
        stepwise.feed(line + b"\n")
    assert parser.info == stepwise.info
    assert parser.info.completed
