"""`plotboss-cli watch` in a real terminal (tmux, 160x50) against a real plotter agent with a real plot job (the chia
stand-in, k=20) and a real farmer agent: what the screen shows, read with capture-pane, as a user would see it.

Every wait is bounded and polls the screen; nothing is asserted after a fixed sleep.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from testbed.agents import farmer_config, start_agent, write_yaml
from testbed.children import stop_process
from testbed.standin import start_chia_job

CLI = Path(sys.executable).parent / "plotboss-cli"
TMUX = shutil.which("tmux")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (scripts/ensure-system-deps.sh installs it)"),
]


class Term:
    """A tmux server of our own (its own socket) with one 160x50 window running a plain shell."""

    def __init__(self, root: Path) -> None:
        self.sock = f"plotboss-watch-{os.getpid()}-{root.name}"
        self.err = root / "watch.err"  # the watch's stderr, shown when a wait times out
        self.tmux("new-session", "-d", "-x", "160", "-y", "50", "-s", "w", "bash", "--norc", "--noprofile")

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        r = subprocess.run(
            [TMUX, "-L", self.sock, "-f", "/dev/null", *args], capture_output=True, text=True, timeout=10
        )
        assert r.returncode == 0, r.stderr
        return r.stdout

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "w", *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "w")

    def wait(self, what: str, check: Callable[[str], bool], timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.2)
        err = self.err.read_text(errors="replace") if self.err.exists() else ""
        raise AssertionError(f"timed out waiting for {what}; the screen:\n{text}\nits stderr:\n{err}")

    def shell_child(self) -> psutil.Process:
        """The process the pane's shell runs in the foreground (our watch)."""
        shell = psutil.Process(int(self.tmux("display-message", "-p", "-t", "w", "#{pane_pid}").strip()))
        (child,) = shell.children()
        return child

    def close(self) -> None:
        subprocess.run([TMUX or "tmux", "-L", self.sock, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def root() -> Iterator[Path]:
    # short paths, so that dir columns fit the 160 columns as they would on a real machine
    d = Path(tempfile.mkdtemp(prefix="w", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def term(root: Path) -> Iterator[Term]:
    t = Term(root)
    try:
        yield t
    finally:
        t.close()


def _plot_id(log: Path, timeout_s: float = 30.0) -> str:
    """The job's plot id, once its log says phase 1 has started (so that a job stopped now is in phase 1)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = log.read_text(errors="replace").splitlines()
        ids = [line[4:].strip() for line in lines if line.startswith("ID: ")]
        if ids and any(line.startswith("Starting phase 1/4") for line in lines):
            return ids[0]
        time.sleep(0.01)
    raise AssertionError(f"{log}: no ID line and start of phase 1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _line_of(screen: str, needle: str) -> str:
    lines = [line for line in screen.splitlines() if needle in line]
    return lines[0] if lines else ""


def _marked(screen: str) -> list[str]:
    """The selected job's row (the one marked ›), as a list of at most one."""
    return [line for line in screen.splitlines() if line.startswith("›")]


def _job_row(screen: str, label: str) -> str:
    rows = [line for line in screen.splitlines() if label in line and "%" in line]
    return rows[0] if rows else ""


def _phase(screen: str, label: str, dst: Path) -> str | None:
    """The phase cell ('M:m') of the job's row: the cell after its dst dir."""
    cells = _job_row(screen, label).split()
    return cells[cells.index(str(dst)) + 1] if str(dst) in cells else None


def test_watch_follows_jobs_dirs_drives_and_agents(
    root: Path, term: Term, procs: list[subprocess.Popen[bytes]]
) -> None:
    logs, tmp, dst = root / "logs", root / "tmp", root / "dst"
    for d in (logs, tmp, dst):
        d.mkdir()
    plotter_yaml = root / "plotter.yaml"
    plotter_yaml.write_text(
        "version: 1\n"
        'agent: {name: plotter-01, listen: "127.0.0.1:0", poll_s: 0.5, grace_s: 2}\n'
        f"logging: {{plots: {logs}}}\n"
        f"directories: {{tmp: [{tmp}], dst: [{dst}]}}\n"
    )
    farmer_yaml = write_yaml(root / "farmer.yaml", farmer_config(root, name="farmer-01"))
    # a k=20 job, held in phase 1 (SIGSTOP) until the screen has shown it there
    job = start_chia_job(20, tmp, dst, logs / "job.log")
    procs.append(job)
    plot_id = _plot_id(logs / "job.log")
    os.kill(job.pid, signal.SIGSTOP)
    plotter, plotter_port = start_agent("plotboss-plotter", plotter_yaml)
    procs.append(plotter)
    farmer, farmer_port = start_agent("plotboss-farmer", farmer_yaml)
    procs.append(farmer)
    fleet = write_yaml(
        root / "fleet.yaml",
        {
            "version": 1,
            "plotters": [
                {"name": "plotter-01", "address": f"127.0.0.1:{plotter_port}"},
                {"name": "plotter-02", "address": f"127.0.0.1:{_free_port()}"},  # nothing listens there
            ],
            "farmers": [{"name": "farmer-01", "address": f"127.0.0.1:{farmer_port}"}],
        },
    )
    term.send(f"cd {root} && stty -g > tty.before && {CLI} --fleet {fleet} watch --interval 0.5 2>watch.err", "Enter")

    # the held job in phase 1, and the other plotter, not running
    label = plot_id[:8]
    screen = term.wait(
        "the held job in phase 1, and the archive line (polled: it may come a frame after the jobs)",
        lambda s: (
            "stopped" in _job_row(s, label)
            and (_phase(s, label, dst) or "").startswith("1:")
            and bool(_line_of(s, "archive: "))
        ),
    )
    assert " jobs" in _line_of(screen, "[1] plotter-01 (")  # (other jobs on this machine are seen too)
    assert "UNREACHABLE since" in _line_of(screen, "[2] plotter-02")
    # this agent has no plotting section and no farmers: both lines say so, no error
    assert "UNIMPLEMENTED" not in screen
    assert _line_of(screen, "archive: ").startswith("archive: disabled: no farmers configured (archiving.farmers)")

    # select our job with the arrows (other jobs on the machine may come first)
    for _ in range(40):
        if _job_row(term.screen(), label).lstrip().startswith("›"):
            break
        before = _marked(term.screen())
        term.send("Right")
        term.wait("the selection moving", lambda s, before=before: _marked(s) != before, 5)  # type: ignore[misc]
    screen = term.wait("our job selected", lambda s: _job_row(s, label).startswith("›"), 5)

    # the phase histogram, dirs and drives (the selected job's dirs stay in view however busy the machine is)
    (hist,) = [line for line in screen.splitlines() if line.startswith(str(tmp)) and "■" in line]
    cells = hist.split()
    assert cells[1].startswith("■") and cells[2] == "1" and cells[3:] == ["·", "0"] * 4, hist  # one job, in phase 1
    dir_rows = [line.split() for line in screen.splitlines() if line.startswith((f"{tmp} ", f"{dst} "))]
    assert [r[:2] for r in dir_rows if any(c.endswith("%") for c in r)] == [[str(tmp), "tmp"], [str(dst), "dst"]], (
        dir_rows
    )
    term.wait("the farmer's drive", lambda s: str(root / "farm" / "d0") in s and "farmer-01 (" in s)

    # its last log lines (TailLog through the agent)
    term.send("l")
    screen = term.wait("the log pane", lambda s: f"log: {plot_id}" in s and "(reading…)" not in s, 30)
    log_lines = {" ".join(line.split()) for line in (logs / "job.log").read_text(errors="replace").splitlines()}
    pane = [" ".join(line.split()) for line in screen.split(f"log: {plot_id}", 1)[1].splitlines()[1:4]]
    assert pane and all(line and line in log_lines for line in pane), pane  # (tabs show as spaces)
    term.send("l")
    term.wait("the log pane closed", lambda s: "log: " not in s, 10)

    # select the other plotter (by number) and back (arrow): plotter-01's job marker goes and comes back
    term.send("2")
    term.wait("plotter-02 selected", lambda s: not any(line.startswith("›") for line in s.splitlines()), 10)
    term.send("p")
    term.wait("the question names plotter-02", lambda s: "pause the scheduler of plotter-02? y/n" in s, 10)
    term.send("n")
    term.send("Up")
    term.wait("plotter-01 selected again", lambda s: any(line.startswith("›") for line in s.splitlines()), 10)

    # the view follows the terminal's size
    term.tmux("resize-window", "-t", "w", "-x", "110", "-y", "30")
    term.wait(
        "the view redrawn at 110x30",
        lambda s: s.startswith("plotboss watch") and max(map(len, s.splitlines())) <= 110 and "plotter-01" in s,
        10,
    )
    term.tmux("resize-window", "-t", "w", "-x", "160", "-y", "50")
    term.wait("the view redrawn at 160x50", lambda s: bool(_job_row(s, label)) and "farmer-01 (" in s, 10)

    # the job goes on: the screen follows its phase as it advances
    os.kill(job.pid, signal.SIGCONT)
    phases: list[str] = []

    def later_phase(s: str) -> bool:
        p = _phase(s, label, dst)
        if p is not None and (not phases or phases[-1] != p):
            phases.append(p)
        return any(p.startswith(("3:", "4:")) for p in phases)

    term.wait("the job's phase advancing to 3 or 4", later_phase, 120)
    majors = [int(p.split(":")[0]) for p in phases]
    assert majors == sorted(majors) and len(set(majors)) >= 2, phases

    # pause through the key, with confirmation: a "n" changes nothing, a "y" asks the agent
    term.send("p")
    term.wait("the confirmation line", lambda s: "pause the scheduler of plotter-01? y/n" in s, 10)
    term.send("n")
    term.wait("cancelled", lambda s: "cancelled" in s and "y/n" not in s, 10)
    term.send("p")
    term.wait("the confirmation line again", lambda s: "y/n" in s, 10)
    term.send("y")
    screen = term.wait(
        "the scheduler's answer", lambda s: "plotter-01: cannot pause the scheduler" in s or "now paused" in s, 20
    )
    if "now paused" not in screen:  # an agent without a scheduler says so (UNIMPLEMENTED), or that it is disabled
        assert "UNIMPLEMENTED" in screen or "FAILED_PRECONDITION" in screen, screen

    # the archiver's key likewise: a "y" asks the agent, whose archiver is disabled (no farmers), and says so
    term.send("a")
    term.wait("the archiver's confirmation line", lambda s: "pause the archiver of plotter-01? y/n" in s, 10)
    term.send("y")
    screen = term.wait("the archiver's answer", lambda s: "plotter-01: cannot pause the archiver" in s, 20)
    assert "FAILED_PRECONDITION" in screen and "the archiver is disabled" in screen, screen

    # the farmer goes away: its row says since when it is unreachable; it comes back on the same port
    farmer.kill()
    farmer.wait(10)
    term.wait("the farmer unreachable", lambda s: "UNREACHABLE since" in _line_of(s, "farmer-01 ("), 30)
    farmer, port = start_agent("plotboss-farmer", farmer_yaml, "--listen", f"127.0.0.1:{farmer_port}")
    procs.append(farmer)
    assert port == farmer_port
    term.wait(
        "the farmer back", lambda s: "1 drives" in _line_of(s, "farmer-01 (") and str(root / "farm" / "d0") in s, 60
    )

    # q quits and leaves the terminal as it was
    term.send("q")
    term.wait("watch gone", lambda s: "plotboss watch" not in s, 10)
    term.send("stty -g | cmp - tty.before && echo TTY-SAME; echo o''k", "Enter")
    screen = term.wait("the shell back", lambda s: "\nok" in s or s.startswith("ok"), 20)
    assert "TTY-SAME" in screen and "plotboss watch" not in screen

    # SIGTERM ends it too, and the terminal is left as it was
    term.send("clear; " + f"{CLI} --fleet {fleet} watch", "Enter")
    term.wait("watch again", lambda s: "plotboss watch" in s and "farmer-01" in s, 30)
    child = term.shell_child()
    assert str(CLI) in child.cmdline() and "watch" in child.cmdline()
    child.send_signal(signal.SIGTERM)
    child.wait(10)
    term.send("stty -g | cmp - tty.before && echo TTY-SAME2; echo o''k2", "Enter")
    screen = term.wait("the shell back after SIGTERM", lambda s: "TTY-SAME2" in s and "\nok2" in s, 20)
    assert "plotboss watch" not in screen
    stop_process(job)
