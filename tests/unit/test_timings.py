"""The log's own clock: the pieces and phases each plotter times, and when each phase step began by it."""

from __future__ import annotations

from pathlib import Path

import pytest

from plotter_agent.logparse import LogInfo, LogParser, Plotter, parse_file
from plotter_agent.plotters import timings
from tests.unit.logsamples import ALL_LOGS, K25, SAMPLES


def _began(info: LogInfo, seconds: float) -> bool:
    """Some step of the log began at ``seconds`` by its clock (whatever the plotter module numbers it)."""
    return any(t == pytest.approx(seconds) for t in info.step_starts.values())


@pytest.mark.parametrize("path", [p for p in ALL_LOGS if parse_file(p).completed], ids=lambda p: p.name)
def test_a_finished_log_times_the_whole_plot(path: Path) -> None:
    info = parse_file(path)
    assert info.total_time is not None
    # the pieces and phase totals add up to the plotter's own total (bladebit RAM times its final write as a piece)
    assert info.elapsed_s == pytest.approx(info.total_time, rel=0.005)
    starts = [info.step_starts[s] for s in sorted(info.step_starts)]
    assert starts == sorted(starts) and starts[0] == 0.0
    # each phase begins when the phases before it ended, by the plotter's phase times
    for major in range(2, 5):
        first = min((s for s in info.step_starts if s[0] == major), default=None)
        if first is not None and all(m in info.phase_times for m in range(1, major)):
            assert info.step_starts[first] == pytest.approx(sum(info.phase_times[m] for m in range(1, major)))


def test_chia_steps_begin_when_the_table_before_ended() -> None:
    info = parse_file(K25)
    # F1 complete, time: 0.486 s; table 2: 6.886 s; table 3: 9.753 s
    assert info.step_starts[(1, 1)] == 0.0
    assert _began(info, 0.486)
    assert _began(info, 0.486 + 6.886)
    assert _began(info, 0.486 + 6.886 + 9.753)
    assert _began(info, 53.902)  # Time for phase 1 = 53.902 seconds
    assert _began(info, 53.902 + 8.026)
    assert _began(info, 53.902 + 8.026 + 5.072)  # Total compress table time


def test_madmax_steps_begin_when_its_table_lines_say_the_last_one_ended() -> None:
    info = parse_file(SAMPLES / "plotman-madmax.plot.log")
    assert _began(info, 24.6839)  # [P1] Table 1 took 24.6839 sec
    assert _began(info, 2197.52 + 39.6625 + 95.6021)  # table 7 scan + rewrite
    assert _began(info, 2197.52 + 1363.42 + 134.927 + 101.677)


def test_bladebit_ram_and_disk_pieces() -> None:
    ram = parse_file(SAMPLES / "plotman-bladebit.plot.log")
    assert _began(ram, 6.93 + 18.23)  # F1 generation + F1 sort
    assert _began(ram, 313.98 + 0.59)  # Finished prunning table 6 in 0.59 seconds
    disk = parse_file(SAMPLES / "plotman-bladebit2disk.plot.log")
    assert _began(disk, 7.11)  # Finished f1 generation in 7.11 seconds
    assert _began(disk, 7.11 + 52.96)  # Completed table 2 in 52.96 seconds
    assert _began(disk, 526.48 + 3.37)  # Finished marking table 6 in 3.37 seconds


def test_the_clock_is_per_plot_and_ignores_what_it_cannot_place() -> None:
    parser = LogParser()
    parser.feed(b"Forward propagation table time: 5.000 seconds. CPU (100%)\n")  # no format known yet
    assert parser.info.elapsed_s == 0.0
    parser.feed(b"Starting plotting progress into temporary dirs: /t and /t\n")
    parser.feed(b"Starting phase 1/4: Forward Propagation into tmp files... Wed Nov 25 17:10:49 2026\n")
    parser.feed(b"Forward propagation table time: 5.000 seconds. CPU (100%)\n")
    assert parser.info.elapsed_s == 5.0
    # a phase total with an earlier phase's total missing cannot place the clock: the pieces keep it
    parser.feed(b"Time for phase 2 = 9.000 seconds. CPU (100%)\n")
    assert parser.info.elapsed_s == 5.0
    parser.feed(b"Time for phase 1 = 6.000 seconds. CPU (100%)\n")
    assert parser.info.elapsed_s == 6.0
    fresh = parser.info.next_plot()
    assert fresh.elapsed_s == 0.0 and fresh.step_starts == {}
    copy = parser.info.copy()
    copy.step_starts[(9, 9)] = 1.0
    assert (9, 9) not in parser.info.step_starts


def test_cudaplot_pieces_and_phases() -> None:
    """cudaplot's lines as bladebit's source prints them (cuda/CudaPlotter.cu); its sub-steps are not pieces."""
    info = LogInfo(plotter=Plotter.BLADEBIT)
    for line, elapsed in (
        ("Finished F1 in 0.95 seconds.", 0.95),
        ("Table 2 completed in 3.42 seconds with 4294967296 entries.", 4.37),
        ("Finalized Table 7 in 1.52 seconds.", 5.89),
        ("Table 2 I/O wait time: 0.01 seconds.", 5.89),
    ):
        timings.note(Plotter.BLADEBIT, line, info)
        assert info.elapsed_s == pytest.approx(elapsed), line
    timings.note(Plotter.BLADEBIT, "Completed Phase 1 in 28.31 seconds", info)
    assert info.elapsed_s == pytest.approx(28.31)
    info.phase_times[1] = 28.31  # the handler's part
    timings.note(Plotter.BLADEBIT, "Marked Table 6 in 0.82 seconds.", info)
    timings.note(Plotter.BLADEBIT, " Step 1 completed step in 3.05 seconds.".strip(), info)
    timings.note(Plotter.BLADEBIT, "Completed table 2 in 6.10 seconds with 3435973836 / 4294967296 entries", info)
    timings.note(Plotter.BLADEBIT, "Completed serializing P7 entries in 0.31 seconds.", info)
    assert info.elapsed_s == pytest.approx(28.31 + 0.82 + 6.10 + 0.31)
