"""The view and job control over a fake process table (the seam) with real log files and temp files."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from plotboss.errors import FailedPrecondition, NotFound
from plotboss.safefile import FileId, regular_id
from plotter_agent.control import Controller
from plotter_agent.dirs import configured_dirs
from plotter_agent.jobs import ProcState
from plotter_agent.loglib import LogLibrary
from plotter_agent.proctable import ProcFacts
from plotter_agent.view import View
from tests.unit.test_jobs import proc
from tests.unit.test_logparse_multiplot import ID1_MADMAX, ID2, madmax_two_plots

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "logs" / "chiapos-2.0.12-k18.plot.log"
PLOT_ID = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


class FakeTable:
    """A process table whose processes change state on signals, as the kernel would do it."""

    def __init__(self, procs: list[ProcFacts]) -> None:
        self.procs = {p.pid: p for p in procs}
        self.signals: list[tuple[int, signal.Signals]] = []
        self.ignore_term = False

    def scan(self) -> list[ProcFacts]:
        return list(self.procs.values())

    def facts(self, pid: int) -> ProcFacts | None:
        return self.procs.get(pid)

    def open_files(self, pid: int) -> tuple[tuple[tuple[int, str], ...], str]:
        p = self.procs.get(pid)
        return (p.fds, "") if p is not None else ((), "gone")

    def fd_file(self, pid: int, fd: int) -> FileId | None:
        p = self.procs.get(pid)
        target = dict(p.fds).get(fd) if p is not None else None
        return regular_id(target.removesuffix(" (deleted)")) if target is not None else None

    def signal(self, pid: int, sig: signal.Signals) -> None:
        if pid not in self.procs:
            raise ProcessLookupError(pid)
        self.signals.append((pid, sig))
        p = self.procs[pid]
        if sig is signal.SIGSTOP:
            self.procs[pid] = replace(p, status="stopped")
        elif sig is signal.SIGCONT:
            self.procs[pid] = replace(p, status="running")
        elif sig is signal.SIGKILL or (sig is signal.SIGTERM and not self.ignore_term):
            del self.procs[pid]


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def _view(logs: Path, dirs: list[tuple[str, str]], table: FakeTable) -> tuple[View, Controller, Clock]:
    clock = Clock()
    view = View(
        log_dir=logs,
        dirs=dirs,
        table=table,
        library=LogLibrary(logs, clock=clock),
        stall_after_s=600,
        poll_s=0.1,
        clock=clock,
    )
    return view, Controller(view, table, kill_grace_s=1.0, sleep=clock.sleep, monotonic=clock), clock


@pytest.fixture
def setup(tmp_path: Path) -> tuple[View, Controller, FakeTable, Clock, Path]:
    logs, tmp, dst = tmp_path / "logs", tmp_path / "tmp", tmp_path / "dst"
    for d in (logs, tmp, dst):
        d.mkdir()
    log = logs / "job.log"
    log.write_bytes(SAMPLE.read_bytes()[:3000])  # a job in phase 1
    cmd = ("python3", "/v/bin/chia", "plots", "create", "-k", "18", "-t", str(tmp), "-d", str(dst))
    table = FakeTable(
        [
            proc(10, cmd, fds=((1, str(log)), (2, str(log)))),
            proc(20, cmd, fds=((1, "/dev/pts/1"),), create_time=900.0),
        ]
    )
    view, ctl, clock = _view(logs, configured_dirs([str(tmp)], None, [str(dst)]), table)
    return view, ctl, table, clock, tmp


def test_poll_builds_jobs_and_versions(setup: tuple[View, Controller, FakeTable, Clock, Path]) -> None:
    view, _ctl, _table, clock, tmp = setup
    s1 = view.poll()
    assert [j.pid for j in s1.jobs] == [20, 10]  # oldest first
    by_pid = {j.pid: j for j in s1.jobs}
    assert (
        by_pid[10].plot_id == PLOT_ID
        and by_pid[10].k == 18
        and by_pid[10].phase is not None
        and by_pid[10].phase[0] == 1
    )
    assert by_pid[20].phase is None and "/dev/pts/1" in by_pid[20].phase_unknown_reason
    assert s1.dirs[0].jobs and s1.dirs[0].path == str(tmp)
    clock.now += 5
    s2 = view.poll()
    assert s2.version == s1.version  # only the time moved on: nothing new for watchers
    (tmp / f"plot-k18-2021-01-01-00-00-{PLOT_ID}.plot.table1.tmp").write_bytes(b"x" * 42)
    s3 = view.poll()
    assert s3.version == s1.version + 1 and {j.pid: j for j in s3.jobs}[10].tmp_bytes == 42


def test_wait_newer_wakes_watchers(setup: tuple[View, Controller, FakeTable, Clock, Path]) -> None:
    view, _ctl, table, _clock, _tmp = setup
    v = view.poll().version
    got: list[int] = []
    t = threading.Thread(target=lambda: got.append(getattr(view.wait_newer(v, 5.0), "version", -1)))
    t.start()
    del table.procs[20]
    view.poll()
    t.join(5)
    assert got == [v + 1]
    assert view.wait_newer(v + 1, 0.05) is None


def test_suspend_resume_kill(setup: tuple[View, Controller, FakeTable, Clock, Path]) -> None:
    view, ctl, table, _clock, tmp = setup
    view.poll()
    temp = tmp / f"plot-k18-2021-01-01-00-00-{PLOT_ID}.plot.table1.tmp"
    temp.write_bytes(b"x" * 10)
    keep = tmp / f"plot-k18-2021-01-01-00-00-{PLOT_ID}.plot"
    keep.write_bytes(b"p")
    assert ctl.suspend("0001").state is ProcState.STOPPED
    assert ctl.resume("0001").state is ProcState.RUNNING
    res = ctl.kill("000102")
    assert (10, signal.SIGTERM) in table.signals and res.removed_files == (str(temp),) and res.removed_bytes == 10
    assert not temp.exists() and keep.exists()
    assert [j.pid for j in view.snapshot.jobs] == [20]


def test_kill_escalates_to_sigkill(setup: tuple[View, Controller, FakeTable, Clock, Path]) -> None:
    view, ctl, table, _clock, _tmp = setup
    view.poll()
    table.ignore_term = True
    ctl.kill("pid:20")
    assert (20, signal.SIGKILL) in table.signals


def test_a_kill_stops_waiting_when_the_agent_stops(tmp_path: Path) -> None:
    """A kill waiting out a long grace period must not keep a stopping agent alive (a review measured 39 s past its
    3 s grace): once the agent stops, it gives up, without SIGKILL and without removing anything."""
    logs = tmp_path / "logs"
    logs.mkdir()
    cmd = ("python3", "/v/bin/chia", "plots", "create", "-k", "18", "-t", str(tmp_path), "-d", str(tmp_path))
    table = FakeTable([proc(20, cmd, fds=((1, "/dev/pts/1"),), create_time=900.0)])
    table.ignore_term = True
    clock = Clock()
    view = View(
        log_dir=logs, dirs=[], table=table, library=LogLibrary(logs, clock=clock), stall_after_s=600, poll_s=0.1,
        clock=clock,
    )  # fmt: skip
    ctl: Controller

    def sleep(s: float) -> None:
        clock.sleep(s)
        if clock.now >= 5002.0:
            ctl.stop()  # SIGTERM to the agent, two seconds into the job's 600 s grace period

    ctl = Controller(view, table, kill_grace_s=600.0, sleep=sleep, monotonic=clock)
    view.poll()
    with pytest.raises(FailedPrecondition, match="the agent is stopping"):
        ctl.kill("pid:20")
    assert clock.now < 5003.0
    assert (20, signal.SIGTERM) in table.signals and (20, signal.SIGKILL) not in table.signals


def test_refuses_a_recycled_pid(setup: tuple[View, Controller, FakeTable, Clock, Path]) -> None:
    view, ctl, table, _clock, _tmp = setup
    view.poll()
    table.procs[10] = replace(table.procs[10], cmdline=("bash",))
    with pytest.raises(FailedPrecondition):
        ctl.kill("0001")
    table.procs[20] = replace(table.procs[20], create_time=12345.0)
    with pytest.raises(FailedPrecondition):
        ctl.suspend("pid:20")
    assert table.signals == []
    with pytest.raises(NotFound):
        ctl.kill("pid:1")


def test_no_answer_before_the_first_look(setup: tuple[View, Controller, FakeTable, Clock, Path]) -> None:
    view, ctl, _table, _clock, _tmp = setup
    with pytest.raises(FailedPrecondition):
        view.first(0.05)  # never an empty job list that only means "not looked yet"
    threading.Timer(0.1, view.poll).start()
    assert view.first(5.0).version == 1
    assert ctl.find("pid:20").pid == 20


def test_clean_and_kill_never_remove_a_plot(setup: tuple[View, Controller, FakeTable, Clock, Path]) -> None:
    """Whatever a name ending in .plot otherwise looks like, neither clean-orphans nor kill removes it."""
    view, ctl, _table, _clock, tmp = setup
    dst = tmp.parent / "dst"
    dead = "de" * 32
    keep: list[Path] = []
    for plot_id in (PLOT_ID, dead):  # the killed job's id, and an id no job has (its files are orphan candidates)
        for d in (tmp, dst):
            for name in (
                f"plot-k32-c05-2023-06-01-10-00-{plot_id}.plot",  # a finished compressed plot (bladebit --compress)
                f"plot-mmx-k32-c7-2023-06-01-10-00-{plot_id}.plot",  # a plot format plotboss does not know
            ):
                keep.append(d / name)
                keep[-1].write_bytes(b"p" * 5)
                os.utime(keep[-1], (100.0, 100.0))  # older than every job: nothing guards it but its name
    orphan = tmp / f"plot-k18-2021-01-01-00-00-{dead}.plot.table1.tmp"
    orphan.write_bytes(b"x" * 7)
    os.utime(orphan, (100.0, 100.0))  # older than pid 20, the job whose plot id is not known
    temp = dst / f"plot-k18-2021-01-01-00-00-{PLOT_ID}.plot.2.tmp"
    temp.write_bytes(b"x" * 3)
    view.poll()
    assert [f.path for d in view.snapshot.dirs for f in d.orphans] == [str(orphan)]
    assert ctl.clean_orphans(7) == ([str(orphan)], 7)
    res = ctl.kill("000102")
    assert res.removed_files == (str(temp),)
    assert all(p.exists() for p in keep) and not orphan.exists() and not temp.exists()


def test_kill_removes_the_temp_files_of_earlier_plots(tmp_path: Path) -> None:
    """madMAx `-n 2` killed while plot 2 runs and plot 1 is still copied: plot 1's copy is never finished now, so its
    temp files go too (never a finished plot), and nothing of the job was an orphan before the kill."""
    logs, tmp, tmp2, dst = (tmp_path / n for n in ("logs", "tmp", "tmp2", "dst"))
    for d in (logs, tmp, tmp2, dst):
        d.mkdir()
    data, late_at = madmax_two_plots()
    log = logs / "mm.log"
    log.write_bytes(data[:late_at])  # plot 2 in phase 1, plot 1's copy not finished
    plot1 = f"plot-k33-2021-07-14-21-56-{ID1_MADMAX}.plot"
    temps = [tmp2 / (plot1 + ".tmp"), dst / (plot1 + ".tmp"), tmp / f"plot-k33-2021-07-14-22-30-{ID2}.p1.t1.tmp"]
    for t in temps:
        t.write_bytes(b"x" * 4)
    finished = tmp / plot1  # a finished file of plot 1 is never removed, wherever it is
    finished.write_bytes(b"p")
    cmd = ("chia_plot", "-n", "2", "-t", f"{tmp}/", "-2", f"{tmp2}/", "-d", f"{dst}/")
    table = FakeTable([proc(30, cmd, fds=((1, str(log)), (2, str(log))))])
    view, ctl, _clock = _view(logs, configured_dirs([str(tmp)], str(tmp2), [str(dst)]), table)
    (j,) = view.poll().jobs
    assert (j.plot_id, j.earlier_plot_ids) == (ID2, (ID1_MADMAX,))
    assert [f for d in view.snapshot.dirs for f in d.orphans] == []
    res = ctl.kill(ID2[:8])
    assert sorted(res.removed_files) == sorted(map(str, temps)) and res.removed_bytes == 12
    assert not any(t.exists() for t in temps) and finished.exists()


def test_kill_cleans_the_dirs_given_with_attached_values(tmp_path: Path) -> None:
    """`chia plots create -k18 -t/mnt/tmp -d/mnt/dst` (click reads -t/x as -t /x): kill cleans those dirs, not cwd."""
    logs, tmp, dst = tmp_path / "logs", tmp_path / "tmp", tmp_path / "dst"
    for d in (logs, tmp, dst):
        d.mkdir()
    log = logs / "job.log"
    log.write_bytes(SAMPLE.read_bytes()[:3000])
    cmd = ("chia", "plots", "create", "-k18", f"-t{tmp}", f"-d{dst}")
    table = FakeTable([proc(10, cmd, fds=((1, str(log)), (2, str(log))))])
    view, ctl, _clock = _view(logs, configured_dirs([str(tmp)], None, [str(dst)]), table)
    (j,) = view.poll().jobs
    assert (j.k, j.tmp_dir, j.dst_dir) == (18, str(tmp), str(dst))
    temp = tmp / f"plot-k18-2021-01-01-00-00-{PLOT_ID}.plot.table1.tmp"
    temp.write_bytes(b"x" * 10)
    assert ctl.kill("0001").removed_files == (str(temp),) and not temp.exists()
