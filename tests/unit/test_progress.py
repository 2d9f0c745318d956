"""Progress and ETA: fixed phase weights without history, learned phase durations with it."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from plotter_agent.logparse import LogInfo, LogParser, Plotter, parse_file
from plotter_agent.progress import (
    COPYING_PROGRESS,
    DEFAULT_SHARES,
    EtaModel,
    phase_progress,
    step_durations,
)
from tests.unit.logsamples import ALL_LOGS, K25, K25_SIGTERM, SAMPLES


@pytest.mark.parametrize("path", ALL_LOGS, ids=lambda p: p.name)
def test_phase_progress_rises_from_0_to_1_over_a_log(path: Path) -> None:
    parser = LogParser()
    values = [(1, phase_progress(parser.info))]
    for line in path.read_bytes().splitlines(keepends=True):
        parser.feed(line)
        values.append((parser.info.plot_index, phase_progress(parser.info)))
    assert values[0] == (1, 0.0)
    assert values == sorted(values)  # within each plot of a multi-plot log
    assert all(0.0 <= v <= 1.0 for _, v in values)
    if parser.info.completed:
        assert values[-1][1] == 1.0
    else:
        assert values[-1][1] < COPYING_PROGRESS


def test_shares_sum_to_one() -> None:
    for shares in DEFAULT_SHARES.values():
        assert sum(shares.values()) == pytest.approx(1.0, abs=0.001)


def test_phase_progress_points() -> None:
    chia = LogInfo(plotter=Plotter.CHIA)
    shares = DEFAULT_SHARES["chia"]
    assert phase_progress(dataclasses.replace(chia, phase=(1, 1))) == 0.0
    phase1 = sum(v for s, v in shares.items() if s[0] == 1)
    assert phase_progress(dataclasses.replace(chia, phase=(2, 0))) == pytest.approx(phase1)
    assert phase_progress(dataclasses.replace(chia, phase=(3, 4))) == pytest.approx(
        sum(v for s, v in shares.items() if s < (3, 4))
    )
    assert phase_progress(dataclasses.replace(chia, phase=(5, 0))) == COPYING_PROGRESS  # copying, not done
    assert phase_progress(dataclasses.replace(chia, phase=(5, 0), completed=True)) == 1.0
    assert phase_progress(LogInfo()) == 0.0
    data = (SAMPLES / "plotman-bladebit2disk.plot.log").read_bytes()
    parser = LogParser()
    parser.feed(data[: data.index(b"Running Phase 2")])  # a diskplot job at the end of phase 1: its own shares
    disk = parser.info
    assert phase_progress(disk) == pytest.approx(
        sum(v for s, v in DEFAULT_SHARES["bladebit-disk"].items() if s < disk.phase)
    )
    assert phase_progress(disk) != pytest.approx(
        sum(v for s, v in DEFAULT_SHARES["bladebit"].items() if s < disk.phase)
    )


def test_step_durations_add_up_to_the_phase_times() -> None:
    info = parse_file(K25)
    steps = step_durations(info)
    assert steps[(1, 2)] == pytest.approx(6.886, abs=0.001)  # Forward propagation table time of table 2
    assert steps[(1, 7)] == pytest.approx(53.902 - (0.486 + 6.886 + 9.753 + 10.636 + 10.083 + 8.749), abs=0.001)
    for major in range(1, 4):
        assert sum(v for s, v in steps.items() if s[0] == major) == pytest.approx(info.phase_times[major])
    assert sum(steps.values()) == pytest.approx(100.795)  # what the plotter timed after phase 4 goes to its last step
    # A log whose steps are not stamped (or a hand-made one) counts each phase as one step.
    assert step_durations(LogInfo(phase_times={1: 3.0, 2: 1.0})) == {(1, 0): 3.0, (2, 0): 1.0}


def test_without_history_the_k32_shares_scale_by_the_jobs_own_time() -> None:
    info = parse_file(K25_SIGTERM)  # k25 chia, killed in table 2 (1:2) after F1 took 0.46 s
    model = EtaModel.learn([])
    assert info.start_time is not None and info.phase == (1, 2)
    began = info.step_starts[(1, 2)]
    assert began == pytest.approx(0.46, abs=0.01)
    shares = DEFAULT_SHARES["chia"]
    before = sum(v for s, v in shares.items() if s < (1, 2))
    total = sum(shares.values())  # 1 but for rounding
    whole = began / before  # the job's whole time, estimated from F1 and its share
    now = info.start_time + began + 3  # 3 s into table 2
    assert model.eta_s(info, now) == pytest.approx(whole * (total - before) - 3)
    assert model.progress(info, now) == pytest.approx((before + 3 / whole) / total)
    # Nothing timed yet (still in the first step): no ETA, as there is nothing to scale the shares by.
    first = dataclasses.replace(info, phase=(1, 1))
    assert model.eta_s(first, now) is None
    # No start time in the log: the caller's `started` (the process's start) takes its place.
    unstarted = dataclasses.replace(info, start_time=None)
    assert model.eta_s(unstarted, now) == pytest.approx(whole * (total - before))  # no time in the step known: flat
    assert model.eta_s(unstarted, now, started=info.start_time) == model.eta_s(info, now)


def test_learned_step_durations_give_progress_and_eta() -> None:
    history = [
        parse_file(SAMPLES / "chia-2.7.5-k25.plot.log"),
        parse_file(SAMPLES / "chia-2.7.5-k25-minimal-config.plot.log"),
    ]
    model = EtaModel.learn(history)
    profile = model.profiles[(Plotter.CHIA, None, 25)]
    assert profile.count == 2
    assert profile.means[1] == pytest.approx((53.902 + 57.964) / 2)
    total = profile.total_s
    assert total == pytest.approx((100.795 + 107.134) / 2)
    assert profile.steps[(1, 2)] == pytest.approx((6.886 + step_durations(history[1])[(1, 2)]) / 2)

    job = parse_file(K25_SIGTERM)
    assert job.start_time is not None
    began = job.step_starts[(1, 2)]
    before = sum(v for s, v in profile.steps.items() if s < (1, 2))
    here = profile.steps[(1, 2)]
    prior = 0.2 * total
    pace = (began + prior) / (before + prior)  # the job's pace so far, drawn towards 1 early on
    now = job.start_time + began + 3  # 3 s into table 2
    assert model.progress(job, now) == pytest.approx((before + 3 / pace) / total)
    assert model.eta_s(job, now) == pytest.approx((here * pace - 3) + (total - before - here) * pace)
    # Within the step the predicted end holds still and progress rises: no flat ETA that jumps at the next table.
    later = now + 2
    assert later + (model.eta_s(job, later) or 0) == pytest.approx(now + (model.eta_s(job, now) or 0))
    assert model.progress(job, later) > model.progress(job, now)
    # A step running longer than learned makes the job slower from there on.
    slow = job.start_time + began + 4 * here
    assert model.eta_s(job, slow) == pytest.approx((total - before - here) * (began + 4 * here) / (before + here))
    # Another plotter or k has no history: the default shares.
    other = dataclasses.replace(job, k=32)
    assert model.profile(other) is None
    assert model.progress(other, now) == EtaModel().progress(other, now)


def test_learned_eta_follows_the_jobs_pace() -> None:
    model = EtaModel.learn([parse_file(K25)])
    profile = model.profiles[(Plotter.CHIA, None, 25)]
    means = profile.means
    slow = LogInfo(plotter=Plotter.CHIA, k=25, phase=(2, 0), phase_times={1: 2 * means[1]}, start_time=0.0)
    now = 2 * means[1]  # phase 2 just started, phase 1 took twice the learned time
    prior = 0.2 * profile.total_s
    pace = (2 * means[1] + prior) / (means[1] + prior)
    assert model.eta_s(slow, now) == pytest.approx(pace * (profile.total_s - means[1]), rel=0.01)
    assert model.progress(slow, now) == pytest.approx(means[1] / profile.total_s, rel=0.01)


def test_progress_with_history_is_monotonic_over_a_log() -> None:
    model = EtaModel.learn([parse_file(SAMPLES / "chia-2.7.5-k25-minimal-config.plot.log")])
    parser = LogParser()
    values = []
    etas = []
    for line in K25.read_bytes().splitlines(keepends=True):
        parser.feed(line)
        info = parser.info
        now = (info.start_time or 0.0) + info.elapsed_s  # a clock that follows the log's own timings
        values.append(model.progress(info, now))
        etas.append(model.eta_s(info, now))
    assert values == sorted(values) and values[-1] == 1.0
    assert etas[-1] == 0.0
    # The ETA falls over the log; it may tick up a little when a finished phase updates the job's pace.
    known = [e for e in etas if e is not None]
    assert known[0] == pytest.approx(107.134)
    assert all(b <= a + 0.02 * known[0] for a, b in itertools.pairwise(known))


def test_learn_ignores_incomplete_and_unknown_logs() -> None:
    model = EtaModel.learn([LogInfo(), parse_file(K25_SIGTERM), LogInfo(plotter=Plotter.CHIA, k=25, completed=True)])
    assert model.profiles == {}


def test_bladebit_modes_learn_apart() -> None:
    """A diskplot job's ETA comes from diskplot history, never from RAM (or cudaplot) plots of the same k."""
    ram = parse_file(SAMPLES / "plotman-bladebit.plot.log")
    disk = parse_file(SAMPLES / "plotman-bladebit2disk.plot.log")
    cuda = parse_file(SAMPLES / "bladebit-cuda-3.1-from-source-n2.plot.log")
    model = EtaModel.learn([ram, disk, cuda])
    assert sorted(model.profiles, key=str) == sorted(
        [(Plotter.BLADEBIT, "cuda", 32), (Plotter.BLADEBIT, "disk", 32), (Plotter.BLADEBIT, "ram", 32)], key=str
    )
    data = (SAMPLES / "plotman-bladebit2disk.plot.log").read_bytes()
    parser = LogParser()
    parser.feed(data[: data.index(b"Running Phase 3")])
    running = parser.info
    assert running.mode == "disk" and running.phase == (3, 0)
    profile = model.profile(running)
    assert profile is not None and profile.mode == "disk" and profile.means == {1: 526.48, 2: 100.36, 3: 562.95}
    # with phases 1 and 2 as long as the history's, what is left is phase 3 as diskplot takes it (not 383 s)
    assert model.eta_s(running, now=0.0) == pytest.approx(562.95)
