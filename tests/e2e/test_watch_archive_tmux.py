"""`plotboss-cli watch` in a real terminal (tmux 160x50) against a real plotter agent that archives to a real farmer
agent behind a real rsync daemon: the archive lines show a transfer in flight (bar, bytes, rate, ETA) and the plots
waiting in the dst dir; `a` pauses the archiver (after y/n) and the transfer in flight ends with none started after it;
`A` resumes it and the rest are archived.

Pushes are held to 300 KiB/s so that each k18-sized plot (3.6 MiB) is in flight for ~12 s. Every wait is bounded and
polls the screen; nothing is asserted after a fixed sleep.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from farmer_agent.app import FarmerAgent
from testbed.agents import InProcess, start_agent, write_yaml
from testbed.rsyncd import start_rsyncd
from tests.e2e.test_watch_tmux import CLI, TMUX, Term
from tests.integration.archive_fixtures import in_process_farmer, landed, make_plots, plotter_data

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (scripts/ensure-system-deps.sh installs it)"),
]
ARCHIVE_HEAD = re.compile(r"^archive: (\w+).*\((\d+)/(\d+) in flight, (\d+) waiting .*, (\d+) archived\)")


@pytest.fixture
def root() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="wa", dir="/tmp"))  # short paths: the lines fit 160 columns
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def farmer(root: Path) -> Iterator[InProcess[FarmerAgent]]:
    daemon = start_rsyncd(root / "rsyncd", root / "farm")
    try:
        yield from in_process_farmer(root, daemon)
    finally:
        daemon.stop()


@pytest.fixture
def term(root: Path) -> Iterator[Term]:
    t = Term(root)
    try:
        yield t
    finally:
        t.close()


def head(screen: str) -> tuple[str, int, int, int, int] | None:
    """(state, in flight, max, waiting, archived) from the archive line."""
    for line in screen.splitlines():
        m = ARCHIVE_HEAD.match(line)
        if m:
            return m[1], int(m[2]), int(m[3]), int(m[4]), int(m[5])
    return None


def flights(screen: str) -> list[str]:
    return [line for line in screen.splitlines() if line.startswith("  → ") and " plot-k18-" in line]


def test_watch_shows_transfers_and_pauses_and_resumes_the_archiver(
    root: Path, term: Term, farmer: InProcess[FarmerAgent], procs: list[subprocess.Popen[bytes]]
) -> None:
    plots = root / "p"
    make_plots(plots / "dst", range(1, 4))
    config = write_yaml(root / "plotter.yaml", plotter_data(plots, farmer.address, rsync={"bwlimit_kbps": 300}))
    agent, port = start_agent("plotboss-plotter", config)
    procs.append(agent)
    fleet = write_yaml(
        root / "fleet.yaml",
        {
            "version": 1,
            "plotters": [{"name": "plotter-01", "address": f"127.0.0.1:{port}"}],
            "farmers": [{"name": "farmer-01", "address": farmer.address}],
        },
    )
    term.send(f"cd {root} && {CLI} --fleet {fleet} watch --interval 0.5 2>watch.err", "Enter")

    # a transfer in flight: plot, dst dir, farmer and drive, bar, bytes, rate, ETA; the other plots waiting
    screen = term.wait("a transfer in flight", lambda s: bool(flights(s)) and "%" in flights(s)[0], 60)
    (line,) = flights(screen)
    assert f" {plots / 'dst'} → farmer-01:{root / 'farm'}/d" in line and "/3.6 MiB " in line, line
    assert re.match(
        r"  → [█░]{12} +\d+% [\d.]+ (B|KiB|MiB)/3\.6 MiB [\d.]+ (B|KiB|MiB)/s eta [\d:-]+  plot-k18-", line
    ), line
    state = head(screen)
    assert state is not None and state[:3] == ("running", 1, 1), state
    assert f"  waiting: {plots / 'dst'} " in screen
    assert "reserved 3.6 MiB on" in screen  # the farmer's side of it: the reservation

    # a pauses it (after y/n): the transfer in flight ends, none starts after it
    term.send("a")
    term.wait("the confirmation line", lambda s: "pause the archiver of plotter-01? y/n" in s, 10)
    term.send("y")
    term.wait("paused", lambda s: "plotter-01: pause the archiver: now paused" in s, 20)
    screen = term.wait(
        "the transfer ended", lambda s: (h := head(s)) is not None and h[0] == "paused" and h[1] == 0, 90
    )
    state = head(screen)
    assert state is not None and state[3] >= 1 and state[4] >= 1 and not flights(screen), screen
    archived = state[4]
    assert len(landed(root / "farm")) == archived and len(list((plots / "dst").glob("*.plot"))) == 3 - archived

    # A resumes it: the rest are archived
    term.send("A")
    term.wait("the confirmation line", lambda s: "resume the archiver of plotter-01? y/n" in s, 10)
    term.send("y")
    term.wait("running", lambda s: "plotter-01: resume the archiver: now running" in s, 20)
    term.wait("every plot archived", lambda s: (h := head(s)) is not None and h[1:] == (0, 1, 0, 3), 180)
    assert len(landed(root / "farm")) == 3

    term.send("q")
    term.wait("watch gone", lambda s: "plotboss watch" not in s, 10)
