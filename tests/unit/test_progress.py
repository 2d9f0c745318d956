"""Progress and ETA: fixed phase weights without history, learned phase durations with it."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from plotter_agent.logparse import LogInfo, LogParser, Plotter, parse_file
from plotter_agent.progress import COPYING_PROGRESS, PHASE_WEIGHTS, EtaModel, phase_progress
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


def test_weights_sum_to_one() -> None:
    for weights in PHASE_WEIGHTS.values():
        assert sum(weights.values()) == pytest.approx(1.0, abs=0.002)


def test_phase_progress_points() -> None:
    chia = LogInfo(plotter=Plotter.CHIA)
    assert phase_progress(dataclasses.replace(chia, phase=(1, 1))) == 0.0
    assert phase_progress(dataclasses.replace(chia, phase=(2, 0))) == pytest.approx(0.443)
    assert phase_progress(dataclasses.replace(chia, phase=(3, 4))) == pytest.approx(0.443 + 0.180 + 0.354 * 3 / 6)
    assert phase_progress(dataclasses.replace(chia, phase=(5, 0))) == COPYING_PROGRESS  # copying, not done
    assert phase_progress(dataclasses.replace(chia, phase=(5, 0), completed=True)) == 1.0
    assert phase_progress(LogInfo()) == 0.0


def test_without_history_progress_is_phase_progress_and_eta_extrapolates() -> None:
    info = parse_file(K25_SIGTERM)  # k25 chia, killed in phase 1:2
    model = EtaModel.learn([])
    assert model.progress(info, now=0.0) == phase_progress(info)
    assert info.start_time is not None
    p = phase_progress(info)
    assert model.eta_s(info, info.start_time + 60) == pytest.approx(60 * (1 - p) / p)
    assert model.eta_s(dataclasses.replace(info, start_time=None), 0.0) is None
    assert model.eta_s(LogInfo(plotter=Plotter.CHIA, start_time=0.0), 10.0) is None  # no progress to go by


def test_learned_phase_durations_give_progress_and_eta() -> None:
    history = [
        parse_file(SAMPLES / "chia-2.7.5-k25.plot.log"),
        parse_file(SAMPLES / "chia-2.7.5-k25-minimal-config.plot.log"),
    ]
    model = EtaModel.learn(history)
    profile = model.profiles[(Plotter.CHIA, None, 25)]
    assert profile.count == 2
    assert profile.means[1] == pytest.approx((53.902 + 57.964) / 2)
    total = profile.total_s
    assert total == pytest.approx((53.902 + 8.026 + 36.979 + 1.886 + 57.964 + 8.22 + 38.903 + 2.046) / 2)

    job = parse_file(K25_SIGTERM)
    assert job.start_time is not None
    # 20 s into phase 1 of a k25 job: the learned phase 1 is ~56 s, so about 20/total done and total-20 to go.
    now = job.start_time + 20
    assert model.progress(job, now) == pytest.approx(20 / total, rel=0.01)
    assert model.eta_s(job, now) == pytest.approx(total - 20, rel=0.01)
    # Another plotter or k has no history: fixed weights.
    other = dataclasses.replace(job, k=32)
    assert model.progress(other, now) == phase_progress(other)


def test_learned_eta_follows_the_jobs_pace() -> None:
    model = EtaModel.learn([parse_file(K25)])
    means = model.profiles[(Plotter.CHIA, None, 25)].means
    slow = LogInfo(plotter=Plotter.CHIA, k=25, phase=(2, 0), phase_times={1: 2 * means[1]}, start_time=0.0)
    now = 2 * means[1]  # phase 2 just started
    eta = model.eta_s(slow, now)
    assert eta == pytest.approx(2 * (means[2] + means[3] + means[4]), rel=0.01)
    assert model.progress(slow, now) == pytest.approx(means[1] / sum(means.values()), rel=0.01)


def test_progress_with_history_is_monotonic_over_a_log() -> None:
    model = EtaModel.learn([parse_file(SAMPLES / "chia-2.7.5-k25-minimal-config.plot.log")])
    parser = LogParser()
    values = []
    etas = []
    for line in K25.read_bytes().splitlines(keepends=True):
        parser.feed(line)
        info = parser.info
        now = (info.start_time or 0.0) + sum(info.phase_times.values())  # a clock that follows the log
        values.append(model.progress(info, now))
        etas.append(model.eta_s(info, now))
    assert values == sorted(values) and values[-1] == 1.0
    assert etas[-1] == 0.0
    # The ETA falls over the log; it may tick up a little when a finished phase updates the job's pace.
    known = [e for e in etas if e is not None]
    assert known[0] == pytest.approx(107.133)
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
