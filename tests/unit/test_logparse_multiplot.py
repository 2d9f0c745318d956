"""Multi-plot jobs (`chia plots create -n 2`, madMAx and bladebit `-n`): the log follows the job's current plot.

The two-plot logs are built from the real samples: the sample's plot, then the same plotter output again for a second
plot with another id, as the plotter prints it in one process. Lines about plot 1 that come late (madMAx's background
copy, bladebit's background write) are placed inside plot 2, where the real plotters print them.
"""

from __future__ import annotations

import pytest

from plotter_agent.logparse import LogInfo, LogParser, parse_file
from plotter_agent.plotters.base import EARLIER_PLOTS_KEPT
from tests.unit.logsamples import K25, SAMPLES

ID1_K25 = "9677b5eaa9c7f10f23586a0f29dd23bf3ef0162d710a17c4739937922455e9ae"
ID1_MADMAX = "522acbd6308af7e229281352f746449134126482cfabd51d38e0f89745d21698"
ID1_BLADEBIT = "1fc7b57baae24da78e3bea44d58ab51f162a3ed4d242bab2fbcc24f6577d88b3"
ID2 = "ab" * 32


def feed_lines(data: bytes) -> tuple[LogInfo, list[tuple[int, tuple[int, int]]]]:
    """Feed line by line; the final info and (plot_index, phase) after every line."""
    parser = LogParser()
    seen = []
    for line in data.splitlines(keepends=True):
        parser.feed(line)
        seen.append((parser.info.plot_index, parser.info.phase))
    parser.flush()
    return parser.info, seen


def whole(data: bytes, chunk: int | None = None) -> LogInfo:
    parser = LogParser()
    step = chunk or len(data)
    for i in range(0, len(data), step):
        parser.feed(data[i : i + step])
    parser.flush()
    return parser.info


def chia_two_plots() -> tuple[bytes, bytes]:
    """(whole log, the part before plot 2's header) of `chia plots create -n 2`."""
    one = K25.read_bytes().replace(b"Starting plot 1/1", b"Starting plot 1/2")
    two = K25.read_bytes().replace(b"Starting plot 1/1", b"Starting plot 2/2").replace(ID1_K25.encode(), ID2.encode())
    return one + two, one


def madmax_two_plots(at: bytes = b"[P1] Table 3") -> tuple[bytes, int]:
    """(whole log, offset of plot 1's late `Renamed final plot` line inside plot 2) of madMAx `-n 2`."""
    lines = (SAMPLES / "plotman-madmax.plot.log").read_bytes().splitlines(keepends=True)
    crafting = next(i for i, ln in enumerate(lines) if ln.startswith(b"Crafting plot"))
    renamed = next(i for i, ln in enumerate(lines) if ln.startswith(b"Renamed final plot"))
    first = [ln.replace(b"out of 1", b"out of 2") for ln in lines[:renamed]]  # up to `Started copy to` plot 1
    second = [
        ln.replace(b"Crafting plot 1 out of 1", b"Crafting plot 2 out of 2").replace(ID1_MADMAX.encode(), ID2.encode())
        for ln in lines[crafting:]
    ]
    late = lines[renamed]  # the copy of plot 1 finishes while plot 2 is in phase 1
    p1_line = next(i for i, ln in enumerate(second) if ln.startswith(at))
    body = b"".join(first) + b"".join(second[:p1_line])
    return body + late + b"".join(second[p1_line:]), len(body)


def bladebit_two_plots(endless: bool = False) -> tuple[bytes, int]:
    """(whole log, offset of plot 1's late `finished writing to disk` line inside plot 2) of bladebit `-n 2`, or of
    the first two plots of bladebit `-n 0` (``endless``: plots until stopped, `Generating plot N: <id>`)."""
    lines = (SAMPLES / "plotman-bladebit.plot.log").read_bytes().splitlines(keepends=True)
    gen = next(i for i, ln in enumerate(lines) if ln.startswith(b"Generating plot"))
    written = next(i for i, ln in enumerate(lines) if b"finished writing to disk" in ln)
    of1, of2 = (b"1:", b"2:") if endless else (b"1 / 2:", b"2 / 2:")
    first = [ln.replace(b"1 / 1:", of1) for ln in lines if b"finished writing to disk" not in ln]
    second = [
        ln.replace(b"1 / 1:", of2).replace(ID1_BLADEBIT.encode(), ID2.encode())
        for i, ln in enumerate(lines[gen:], gen)
        if i != written
    ]
    p1 = next(i for i, ln in enumerate(second) if ln.startswith(b"Running Phase 2"))
    body = b"".join(first) + b"".join(second[:p1])
    return body + lines[written] + b"".join(second[p1:]), len(body)


def test_chia_follows_the_second_plot() -> None:
    data, before_two = chia_two_plots()
    first = whole(before_two)
    assert (first.plot_id, first.plot_index, first.completed) == (ID1_K25, 1, True)
    info = whole(data)
    single = parse_file(K25)
    assert (info.plot_id, info.plot_index, info.completed, info.phase) == (ID2, 2, True, (5, 3))  # renamed
    assert info.plot_name == single.plot_name.replace(ID1_K25, ID2)  # type: ignore[union-attr]
    assert info.phase_times == single.phase_times and info.total_time == single.total_time
    assert (info.k, info.tmp_dir, info.dst_dir, info.start_time) == (
        25,
        "/mnt/tmp/00",
        "/mnt/dst/00",
        single.start_time,
    )
    assert info.earlier_plots == (ID1_K25,)
    # right after plot 2's header: a fresh plot, nothing of plot 1 left but the job's settings
    header_end = data.index(b"\n", data.index(b"Starting plot 2/2")) + 1
    fresh = whole(data[:header_end])
    assert (fresh.plot_index, fresh.phase, fresh.plot_id, fresh.completed, fresh.phase_times) == (
        2,
        (0, 0),
        None,
        False,
        {},
    )
    assert (fresh.k, fresh.tmp_dir) == (25, "/mnt/tmp/00")


@pytest.mark.parametrize("at", [b"[P1] Table 3", b"Process ID:"])
def test_madmax_late_copy_of_plot_one_does_not_complete_plot_two(at: bytes) -> None:
    data, late_at = madmax_two_plots(at)
    before = whole(data[:late_at])
    name = f"plot-k33-2021-07-14-21-56-{ID2}.plot" if at.startswith(b"[P1]") else None  # before its Plot Name line
    assert before.plot_index == 2 and before.plot_name == name and not before.completed
    after = whole(data[: data.index(b"\n", late_at) + 1])
    assert after == before  # plot 1's `Renamed final plot` changes nothing about plot 2
    info = whole(data)
    assert (info.plot_id, info.plot_index, info.completed, info.phase) == (ID2, 2, True, (5, 2))  # renamed


@pytest.mark.parametrize("endless", [False, True], ids=["n2", "n0"])
def test_bladebit_late_write_of_plot_one_does_not_name_plot_two(endless: bool) -> None:
    data, late_at = bladebit_two_plots(endless)
    assert (b"Generating plot 2: " in data) is endless
    before = whole(data[:late_at])
    assert (before.plot_index, before.plot_id, before.plot_name, before.phase) == (2, ID2, None, (2, 0))
    assert not before.completed and before.earlier_plots == (ID1_BLADEBIT,)
    after = whole(data[: data.index(b"\n", late_at) + 1])
    assert after == before
    info = whole(data)
    assert (info.plot_id, info.plot_index, info.completed) == (ID2, 2, True)
    first = whole(data[: data.index(b"Generating plot 2")])
    assert (first.plot_id, first.plot_index, first.k) == (ID1_BLADEBIT, 1, 32)


def bladebit_endless_two_plots() -> tuple[bytes, int]:
    return bladebit_two_plots(endless=True)


@pytest.mark.parametrize(
    "build",
    [chia_two_plots, madmax_two_plots, bladebit_two_plots, bladebit_endless_two_plots],
    ids=lambda f: f.__name__,
)
def test_two_plot_logs_chunking_does_not_matter_and_never_go_back(build: object) -> None:
    data = build()[0]  # type: ignore[operator]
    reference = whole(data)
    for size in (1, 7, 4096):
        assert whole(data, size) == reference, f"chunk size {size}"
    _info, seen = feed_lines(data)
    assert seen == sorted(seen)
    assert {index for index, _ in seen} == {1, 2}


def test_a_next_plot_line_before_the_plot_is_done_changes_nothing() -> None:
    """A marker line in the middle of a plot (a stray or repeated header) must not throw the plot's progress away."""
    data = K25.read_bytes()
    cut = data.index(b"Starting phase 2/4")
    stray = b"Starting plotting progress into temporary dirs: /x and /y\n"
    assert whole(data[:cut] + stray + data[cut:]) == whole(data)


def test_a_job_that_plots_until_stopped_keeps_only_its_latest_earlier_plots() -> None:
    """bladebit -n 0 / madMAx -n -1 run for months: the log keeps the ids of the last few plots only (plot N-1's
    background write is the one that matters), not one id per plot ever made."""
    lines = (SAMPLES / "plotman-bladebit.plot.log").read_bytes().splitlines(keepends=True)
    gen = next(i for i, ln in enumerate(lines) if ln.startswith(b"Generating plot"))
    ids = [f"{n:064x}" for n in range(1, 11)]
    data = b"".join(lines[:gen])
    for n, plot_id in enumerate(ids, 1):
        data += b"".join(
            ln.replace(b"1 / 1:", f"{n}:".encode()).replace(ID1_BLADEBIT.encode(), plot_id.encode())
            for ln in lines[gen:]
        )
    info = whole(data)
    assert (info.plot_index, info.plot_id, info.completed) == (10, ids[-1], True)
    assert info.earlier_plots == tuple(ids[-1 - EARLIER_PLOTS_KEPT : -1])
