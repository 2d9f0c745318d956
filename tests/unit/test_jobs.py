"""Pure job logic: grouping processes into jobs, finding the log, naming by prefix, stall detection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plotboss.errors import Ambiguous, InvalidArgument, NotFound, PlotbossError
from plotter_agent.jobs import (
    Family,
    ProcState,
    build_job,
    family_state,
    find_job,
    find_log,
    group_families,
    is_stalled,
    plot_id_from_files,
)
from plotter_agent.logparse import LogInfo, Plotter
from plotter_agent.proctable import ProcFacts
from testbed.procs import CHIA_CMDLINE as CHIA
from testbed.procs import job, proc

ID_A = "a" * 8 + "0" * 56
ID_B = "a" * 8 + "1" * 56
ID_C = "c" * 64
JOBS = [job(10, ID_A), job(11, ID_B), job(12, ID_C), job(13, None)]


class TestFindJob:
    def test_unique_prefix(self) -> None:
        assert find_job(JOBS, "c").pid == 12
        assert find_job(JOBS, "AAAAAAAA0").pid == 10  # case-insensitive
        assert find_job(JOBS, ID_B).pid == 11

    def test_ambiguous_lists_matches(self) -> None:
        with pytest.raises(Ambiguous) as e:
            find_job(JOBS, "aaaa")
        assert ID_A in str(e.value) and ID_B in str(e.value) and "pid 10" in str(e.value)

    def test_pid_names(self) -> None:
        assert find_job(JOBS, "pid:13").pid == 13
        assert find_job(JOBS, "pid:10").pid == 10
        with pytest.raises(NotFound):
            find_job(JOBS, "pid:99")

    @pytest.mark.parametrize("bad", ["", "  ", "xyz", "pid:", "pid:abc", "aa-bb", "a" * 65, "../etc", "pid:1 2"])
    def test_invalid(self, bad: str) -> None:
        with pytest.raises(InvalidArgument):
            find_job(JOBS, bad)

    def test_not_found(self) -> None:
        with pytest.raises(NotFound):
            find_job(JOBS, "b")
        with pytest.raises(NotFound):
            find_job([], "a")


class TestFamilies:
    def test_wrapper_and_child_count_once(self) -> None:
        wrapper = proc(100, ("chia", "plotters", "madmax", "-t", "/t", "-d", "/d", "-r", "8"))
        child = proc(101, ("/opt/chia_plot", "-t", "/t/", "-d", "/d/", "-r", "8", "-u", "256"), ppid=100)
        other = proc(200)
        fams = group_families([child, wrapper, other])
        assert [f.main.pid for f in fams] == [100, 200]
        assert [m.pid for m in fams[0].members] == [100, 101]
        assert fams[0].command.buckets == 256  # the child's own parse is used for a wrapper

    def test_non_job_parent_does_not_merge(self) -> None:
        sh = proc(50, ("sh", "-c", "chia plots create -t /t -d /d > log"))
        child = proc(51, ppid=50)
        fams = group_families([sh, child])
        assert [f.main.pid for f in fams] == [51]

    def test_grandchild_and_cycle_safe(self) -> None:
        a = proc(1, ppid=3)
        b = proc(2, ppid=1)
        c = proc(3, ppid=2)  # a cycle cannot happen in a real table; it must not hang
        fams = group_families([a, b, c])
        assert sum(len(f.members) for f in fams) == 3

    def test_family_state_precedence(self) -> None:
        assert family_state([ProcState.SLEEPING, ProcState.RUNNING]) is ProcState.RUNNING
        assert family_state([ProcState.STOPPED, ProcState.STOPPED]) is ProcState.STOPPED
        assert family_state([]) is ProcState.UNKNOWN


class TestFindLog:
    def fam(self, *procs: ProcFacts) -> Family:
        return group_families(list(procs))[0]

    def test_stdout_in_log_dir(self) -> None:
        f = self.fam(proc(1, fds=((0, "/dev/null"), (1, "/logs/x.log"), (2, "/logs/x.log"))))
        assert find_log(f, "/logs") == ("/logs/x.log", "")
        assert find_log(f, "/logs/") == ("/logs/x.log", "")

    def test_stderr_only(self) -> None:
        f = self.fam(proc(1, fds=((1, "/dev/pts/0"), (2, "/logs/y.log"))))
        assert find_log(f, "/logs")[0] == "/logs/y.log"

    def test_elsewhere_has_reason(self) -> None:
        f = self.fam(proc(1, fds=((1, "/dev/pts/3"), (2, "/dev/pts/3"))))
        path, reason = find_log(f, "/logs")
        assert path is None and "/dev/pts/3" in reason and "/logs" in reason

    def test_prefix_is_not_enough(self) -> None:
        f = self.fam(proc(1, fds=((1, "/logs-old/x.log"),)))
        assert find_log(f, "/logs")[0] is None

    def test_access_denied(self) -> None:
        f = self.fam(proc(1, fds_error="access denied reading its open files"))
        path, reason = find_log(f, "/logs")
        assert path is None and "access denied" in reason

    def test_plot_id_from_open_temp_files(self) -> None:
        f = self.fam(proc(1, fds=((5, f"/t/plot-k32-2021-05-01-10-00-{ID_C}.plot.table1.tmp"),)))
        assert plot_id_from_files(f) == ID_C


class TestStalled:
    @pytest.mark.parametrize(
        ("state", "age", "expected"),
        [
            (ProcState.SLEEPING, 601.0, True),
            (ProcState.DISK_WAIT, 600.0, True),
            (ProcState.SLEEPING, 599.0, False),
            (ProcState.RUNNING, 10_000.0, False),
            (ProcState.STOPPED, 10_000.0, False),
            (ProcState.SLEEPING, None, False),
        ],
    )
    def test_rule(self, state: ProcState, age: float | None, expected: bool) -> None:
        assert is_stalled(state, age, 600.0) is expected

    def test_build_job_with_injected_clock(self) -> None:
        fam = group_families([proc(7, status="sleeping", fds=((1, "/logs/a.log"),))])[0]
        info = LogInfo(plotter=Plotter.CHIA, plot_id=ID_C, k=32, phase=(2, 3), phase_times={1: 100.0})
        kw = dict(
            logfile="/logs/a.log",
            log_reason="",
            info=info,
            progress=0.5,
            eta_s=50.0,
            tmp_bytes=0,
            stall_after_s=600.0,
        )
        fresh = build_job(fam, now=2000.0, last_growth=1900.0, **kw)  # type: ignore[arg-type]
        old = build_job(fam, now=2000.0, last_growth=1000.0, **kw)  # type: ignore[arg-type]
        assert not fresh.stalled and old.stalled and old.log_age_s == 1000.0
        assert fresh.wall_s == 1000.0 and fresh.plot_id == ID_C and fresh.phase == (2, 3)
        assert fresh.phase_times == ((1, 100.0),) and fresh.name == ID_C

    def test_job_without_log(self) -> None:
        fam = group_families([proc(8, fds=((1, "/dev/pts/1"),))])[0]
        j = build_job(
            fam,
            now=1010.0,
            logfile=None,
            log_reason="its output goes to /dev/pts/1",
            info=None,
            last_growth=None,
            progress=0.0,
            eta_s=None,
            tmp_bytes=0,
            stall_after_s=1.0,
        )
        assert j.phase is None and j.phase_unknown_reason and j.name == "pid:8" and not j.stalled
        assert (j.k, j.tmp_dir, j.dst_dir) == (32, "/t", "/d")


def test_multi_plot_job_shows_its_current_plot() -> None:
    later = "d" * 64
    argv = ("chia", "plots", "create", "-n", "3", "-t", "/t", "-d", "/d")
    fds = ((1, "/logs/a.log"), (7, f"/t/plot-k32-2021-05-01-10-00-{later}.plot.table3.tmp"))
    fam = group_families([proc(9, argv, fds=fds)])[0]
    kw = dict(logfile="/logs/a.log", log_reason="", last_growth=None, progress=0.1, eta_s=None, tmp_bytes=0)
    first = LogInfo(plotter=Plotter.CHIA, plot_id=ID_C, k=32, phase=(5, 0), completed=True)
    # the log started plot 2 and has not printed its id yet: the open temp files name it
    second = first.next_plot()
    second.phase = (1, 2)
    j = build_job(fam, now=1010.0, info=second, stall_after_s=600.0, **kw)  # type: ignore[arg-type]
    assert (j.plot_id, j.phase, j.plot_index, j.plot_count) == (later, (1, 2), 2, 3)
    assert (j.k, j.tmp_dir, j.dst_dir) == (32, "/t", "/d") and not j.phase_unknown_reason
    assert j.earlier_plot_ids == (ID_C,) and j.plot_ids == (later, ID_C)  # plot 1 may still be copied: still the job's
    second.plot_id = later
    fam2 = group_families([proc(9, argv, fds=fds[:1])])[0]
    j2 = build_job(fam2, now=1010.0, info=second, stall_after_s=600.0, **kw)  # type: ignore[arg-type]
    assert j2.plot_id == later and j2.plot_index == 2
    endless = group_families([proc(9, ("chia_plot", "-n", "-1", "-t", "/t/", "-d", "/d/"), fds=fds[:1])])[0]
    j3 = build_job(endless, now=1010.0, info=None, stall_after_s=600.0, **kw)  # type: ignore[arg-type]
    assert (j3.plot_index, j3.plot_count, j3.earlier_plot_ids, j3.plot_ids) == (1, 0, (), ())
    forever = group_families([proc(9, ("bladebit", "-n", "0", "-f", "F", "ramplot", "/d"), fds=fds[:1])])[0]
    j4 = build_job(forever, now=1010.0, info=None, stall_after_s=600.0, **kw)  # type: ignore[arg-type]
    assert (j4.plot_index, j4.plot_count) == (1, 0)  # bladebit -n 0: until stopped


@given(st.text(max_size=80))
def test_any_job_name_gives_a_job_or_a_clear_error(name: str) -> None:
    try:
        j = find_job(JOBS, name)
    except PlotbossError as e:
        assert str(e)
    else:
        assert j in JOBS


def test_job_mode_comes_from_the_log_else_the_command_line() -> None:
    argv = ("bladebit", "-n", "2", "-f", "F", "-c", "C", "cudaplot", "/d")
    fam = group_families([proc(9, argv, fds=((1, "/logs/a.log"),))])[0]
    kw = dict(logfile="/logs/a.log", log_reason="", last_growth=None, progress=0.1, eta_s=None, tmp_bytes=0)
    before_header = build_job(fam, now=1010.0, info=LogInfo(), stall_after_s=600.0, **kw)  # type: ignore[arg-type]
    assert before_header.mode == "cuda"
    said = LogInfo(plotter=Plotter.BLADEBIT, mode="disk")  # what the log's header says wins
    assert build_job(fam, now=1010.0, info=said, stall_after_s=600.0, **kw).mode == "disk"  # type: ignore[arg-type]
    chia = group_families([proc(9, CHIA)])[0]
    assert build_job(chia, now=1010.0, info=None, stall_after_s=600.0, **kw).mode is None  # type: ignore[arg-type]


def test_what_the_log_states_wins_over_a_default() -> None:
    """A real chia 2.7.5 log states 500 MiB, 16 buckets and 2 threads; the command line gave none of them."""
    from pathlib import Path

    from plotter_agent.logparse import parse_file

    info = parse_file(Path(__file__).parents[1] / "data" / "logs" / "chia-2.7.5-k25.plot.log")
    argv = ("/venv/bin/python", "/venv/bin/chia", "plotters", "chiapos", "-k", "25", "-t", "/t", "-d", "/d")
    fam = group_families([proc(100, argv)])[0]
    kw = {"now": 2000.0, "logfile": None, "log_reason": "", "last_growth": None, "progress": 0.0, "eta_s": None}
    before = build_job(fam, info=None, tmp_bytes=0, stall_after_s=600.0, **kw)  # type: ignore[arg-type]
    assert (before.buffer_mib, before.buckets, before.threads) == (4608, 128, 2)  # chiapos's defaults until then
    job_ = build_job(fam, info=info, tmp_bytes=0, stall_after_s=600.0, **kw)  # type: ignore[arg-type]
    assert (job_.buffer_mib, job_.buckets, job_.threads) == (500, 16, 2)
    # the log wins over what the command line says, too: it is what the plotter used
    fam_b = group_families([proc(101, (*argv, "-b", "3000", "-u", "64"))])[0]
    job_b = build_job(fam_b, info=info, tmp_bytes=0, stall_after_s=600.0, **kw)  # type: ignore[arg-type]
    assert (job_b.buffer_mib, job_b.buckets) == (500, 16)
