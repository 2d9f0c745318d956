"""bladebit cudaplot: a two-plot job (``-n 2``) is followed through both plots, step by step.

No real cudaplot log exists here; ``tests/data/logs/bladebit-cuda-3.1-from-source-n2.plot.log`` was written from the
``Log::Line`` calls in bladebit's source (``src/main.cpp``, ``cuda/CudaPlotter.cu``, ``cuda/CudaPlotPhase2.cu``,
``cuda/CudaPlotPhase3.cu``), with compression level 7 (one dropped table: marking stops at table 3, compression
starts at tables 2 and 3).
"""

from __future__ import annotations

from plotter_agent.logparse import PHASE_DONE, LogParser, parse_file
from tests.unit.logsamples import CUDA, CUDA_IDS

#: What each plot of the log goes through: the documented cudaplot mapping (plotter_agent/plotters/bladebit.py).
ONE_PLOT = (
    [(0, 2)]  # Generating plot i / 2
    + [(1, n) for n in range(1, 8)]  # Generating F1, Finished F1, Table 2..6 completed (7 is capped)
    + [(2, 1), (2, 2), (2, 3), (2, 4), (2, 5)]  # Completed Phase 1, Marked Table 6..3
    + [(3, 0)]  # Completed Phase 2
    + [(3, n) for n in range(2, 8)]  # Compressing Table 2 and 3 ... tables 6 and 7, Serializing P7 entries
    + [(4, 0), (5, 0), (5, 1)]  # Completed Phase 3, Completed Plot 1, Completed writing plot
)


def steps() -> list[tuple[int, tuple[int, int], bool]]:
    parser = LogParser()
    seen: list[tuple[int, tuple[int, int], bool]] = []
    for line in CUDA.read_bytes().splitlines(keepends=True):
        parser.feed(line)
        state = (parser.info.plot_index, parser.info.phase, parser.info.completed)
        if not seen or seen[-1] != state:
            seen.append(state)
    return seen


def test_each_plot_goes_through_the_documented_steps_and_completes() -> None:
    seen = steps()
    assert seen[:2] == [(1, (0, 0), False), (1, (0, 1), False)]  # header, then "Allocating buffers ..."
    for index in (1, 2):
        mine = [(phase, done) for i, phase, done in seen if i == index and phase >= (0, 2)]
        assert mine == [(p, p == (5, 1)) for p in ONE_PLOT], f"plot {index}"


def test_the_job_moves_on_to_plot_two() -> None:
    data = CUDA.read_bytes()
    second = data.index(b"Generating plot 2 / 2: ")
    parser = LogParser()
    parser.feed(data[:second])
    first = parser.info.copy()
    assert (first.plot_index, first.plot_id, first.completed, first.total_time) == (1, CUDA_IDS[0], True, 71.05)
    assert first.phase >= PHASE_DONE and first.phase_times == {1: 28.31, 2: 3.41, 3: 39.02}
    parser.feed(data[second:])
    info = parser.info
    assert (info.plot_index, info.plot_id, info.earlier_plots) == (2, CUDA_IDS[1], (CUDA_IDS[0],))
    assert info.mode == "cuda" and info.completed and info.total_time == 70.61
    assert parse_file(CUDA) == info


def test_a_cut_inside_plot_two_phase_two() -> None:
    data = CUDA.read_bytes()
    second = data.index(b"Generating plot 2 / 2: ")
    cut = data.index(b"Marked Table 5 in", second)
    parser = LogParser()
    parser.feed(data[: data.index(b"\n", cut) + 1])
    info = parser.info
    assert (info.plot_index, info.phase, info.completed) == (2, (2, 3), False)
    assert info.phase_times == {1: 28.15} and info.total_time is None
