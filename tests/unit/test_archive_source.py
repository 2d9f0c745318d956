"""choose_source: which dst dir and which plot, on a virtual clock, over hand-made views and jobs."""

from __future__ import annotations

import pytest

from plotboss.plots import plot_size
from plotter_agent.archive.source import (
    InFlight,
    SourceJob,
    SourceRules,
    choose_source,
    inbound_penalty,
    score_dirs,
    source_jobs,
)
from plotter_agent.dirs import DirView, PlotFile
from plotter_agent.jobs import Job, ProcState
from plotter_agent.logparse import Plotter
from testbed.clock import VirtualClock

K18 = plot_size(18)
GB = 10**9


def pid_hex(i: int) -> str:
    return f"{i:064x}"


def plot(d: str, i: int, mtime: float, size: int = K18, k: int = 18) -> PlotFile:
    name = f"plot-k{k}-2021-05-05-12-34-{pid_hex(i)}.plot"
    return PlotFile(f"{d}/{name}", name, size, mtime)


def view(path: str, plots: list[PlotFile], used: float = 0.5, error: str = "") -> DirView:
    return DirView(path, "dst", 1000 * GB, int(1000 * GB * (1 - used)), (), tuple(plots), (), error)


def test_oldest_plot_of_the_fullest_dir() -> None:
    now = VirtualClock(10_000.0)()
    a = view("/dst/a", [plot("/dst/a", 1, 500.0), plot("/dst/a", 2, 100.0)], used=0.3)
    b = view("/dst/b", [plot("/dst/b", 3, 900.0), plot("/dst/b", 4, 300.0), plot("/dst/b", 5, 200.0)], used=0.9)
    c = choose_source([a, b], [], [], now)
    assert c is not None
    assert (c.dst_dir, c.plot.name) == ("/dst/b", plot("/dst/b", 5, 0).name)
    assert [r.path for r in c.ranking] == ["/dst/b", "/dst/a"]
    # score: 50 + 20 * used + plots / 10
    assert c.score == pytest.approx(50 + 20 * 0.9 + 0.3)


def test_more_waiting_plots_win_when_equally_full() -> None:
    a = view("/dst/a", [plot("/dst/a", 1, 100.0)])
    b = view("/dst/b", [plot("/dst/b", i, 500.0 + i) for i in range(2, 5)])
    c = choose_source([a, b], [], [], 10_000.0)
    assert c is not None and c.dst_dir == "/dst/b" and c.plot.mtime == 502.0


def test_a_dir_about_to_receive_a_plot_loses_to_one_that_is_not() -> None:
    a = view("/dst/a", [plot("/dst/a", 1, 100.0)], used=0.60)
    b = view("/dst/b", [plot("/dst/b", 2, 100.0)], used=0.10)
    early = [SourceJob(10, "/dst/a", (2, 3))]
    c = choose_source([a, b], early, [], 10_000.0)
    assert c is not None and c.dst_dir == "/dst/a"  # phase 2 is far from writing: no penalty
    for phase, dst in (
        ((3, 4), "/dst/a"),
        ((3, 5), "/dst/a"),
        ((3, 6), "/dst/b"),
        ((3, 7), "/dst/b"),
        ((4, 0), "/dst/b"),
    ):
        # a leads b by 10 points of fullness: (3,4)'s 4 and (3,5)'s 8 leave it ahead, (3,6)'s 16 does not
        got = choose_source([a, b], [SourceJob(10, "/dst/a/", phase)], [], 10_000.0)
        assert got is not None
        sa = 50 - inbound_penalty(phase, SourceRules()) + 20 * 0.60 + 0.1
        sb = 50 + 20 * 0.10 + 0.1
        assert got.dst_dir == ("/dst/a" if sa >= sb else "/dst/b") == dst, phase
    # the penalised dir is still used when it is the only one with a plot
    only = choose_source([a, view("/dst/b", [])], [SourceJob(10, "/dst/a", (4, 0))], [], 10_000.0)
    assert only is not None and only.dst_dir == "/dst/a"


def test_penalties_follow_plotmans_table() -> None:
    rules = SourceRules()
    got = [inbound_penalty(p, rules) for p in (None, (0, 0), (3, 3), (3, 4), (3, 5), (3, 6), (3, 7), (4, 0))]
    assert got == [0, 0, 0, 4, 8, 16, 32, 32]


def test_plots_that_may_not_be_sent() -> None:
    clock = VirtualClock(10_000.0)
    d = "/dst/a"
    making = plot(d, 1, 100.0)
    opened = plot(d, 2, 110.0)
    sending = plot(d, 3, 120.0)
    short = plot(d, 4, 130.0, size=K18 // 2)
    parked = plot(d, 5, 140.0)
    fresh = plot(d, 6, clock() - 1.0)
    suspect = PlotFile(f"{d}/x.plot", "x.plot", K18, 50.0)
    good = plot(d, 7, 900.0)
    v = view(d, [making, opened, sending, short, parked, fresh, suspect, good])
    jobs = [
        SourceJob(10, d, (4, 0), plot_id=pid_hex(1)),
        SourceJob(11, "/dst/b", (1, 0), open_paths=frozenset({opened.path})),
    ]
    in_flight = [InFlight(sending.path, "/dst/other")]
    rules = SourceRules(max_readers_per_dir=2)
    c = choose_source([v], jobs, in_flight, clock(), rules=rules, not_before={parked.path: clock() + 60})
    assert c is not None and c.plot == good
    # once the park time has passed, the parked plot (older) comes first
    clock.advance(61)
    c = choose_source([v], jobs, in_flight, clock(), rules=rules, not_before={parked.path: clock() - 1})
    assert c is not None and c.plot == parked


def test_never_two_transfers_from_one_dir_unless_configured() -> None:
    a = view("/dst/a", [plot("/dst/a", 1, 100.0), plot("/dst/a", 2, 200.0)], used=0.9)
    b = view("/dst/b", [plot("/dst/b", 3, 100.0)], used=0.1)
    busy = [InFlight("/dst/a/" + plot("/dst/a", 1, 0).name, "/dst/a")]
    c = choose_source([a, b], [], busy, 10_000.0)
    assert c is not None and c.dst_dir == "/dst/b"
    rows = score_dirs([a, b], [], busy, 10_000.0)
    assert rows[0][0].skipped == "1 transfer(s) already read from it"
    # with b busy too, nothing
    assert choose_source([a, b], [], [*busy, InFlight("/dst/b/x", "/dst/b")], 10_000.0) is None
    c = choose_source([a, b], [], busy, 10_000.0, rules=SourceRules(max_readers_per_dir=2))
    assert c is not None and c.dst_dir == "/dst/a" and c.plot.mtime == 200.0


def test_a_dir_with_an_error_or_nothing_ready_gives_nothing() -> None:
    broken = view("/dst/a", [plot("/dst/a", 1, 100.0)], used=0.99, error="Permission denied")
    assert choose_source([broken], [], [], 10_000.0) is None
    assert choose_source([], [], [], 10_000.0) is None
    assert choose_source([view("/dst/b", [])], [], [], 10_000.0) is None


def test_source_jobs_from_open_files_by_pid() -> None:
    j = Job(
        pid=42,
        pids=(42,),
        create_time=0.0,
        cmdline=("chia",),
        plotter=Plotter.CHIA,
        k=18,
        tmp_dir="/tmp/a",
        tmp2_dir=None,
        dst_dir="/dst/a/",
        threads=2,
        buckets=16,
        buffer_mib=200,
        state=ProcState.RUNNING,
        wall_s=1.0,
        user_s=1.0,
        sys_s=0.0,
        iowait_s=0.0,
        rss_bytes=1,
        plot_id=pid_hex(9),
        phase=(3, 6),
    )
    (sj,) = source_jobs([j], {42: ["/dst/a//x.plot.2.tmp"]})
    assert (sj.pid, sj.dst_dir, sj.phase, sj.plot_id) == (42, "/dst/a/", (3, 6), pid_hex(9))
    assert sj.open_paths == frozenset({"/dst/a/x.plot.2.tmp"})
