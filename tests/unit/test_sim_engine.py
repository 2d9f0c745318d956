"""The simulation's engine, job model and links: pure, in-process, fast."""

from __future__ import annotations

import random

from plotter_agent.logparse import Plotter
from sim.engine import Engine
from sim.jobmodel import default_model, from_log_dir, step_at
from tests.unit.logsamples import SAMPLES


def test_events_run_in_time_order_then_in_scheduling_order() -> None:
    eng = Engine(100.0)
    seen: list[tuple[float, str]] = []
    eng.at(105.0, lambda: seen.append((eng.now, "b")))
    eng.at(101.0, lambda: seen.append((eng.now, "a")))
    eng.at(105.0, lambda: seen.append((eng.now, "c")))
    eng.run(200.0)
    assert seen == [(101.0, "a"), (105.0, "b"), (105.0, "c")]
    assert eng.now == 200.0 and eng.events == 3


def test_a_cancelled_event_does_not_run_and_is_not_counted() -> None:
    eng = Engine()
    ran: list[int] = []
    ev = eng.after_s(5, ran.append, 1)
    eng.after_s(6, ran.append, 2)
    eng.cancel(ev)
    eng.run(10)
    assert ran == [2] and eng.events == 1


def test_events_past_the_end_wait_and_an_event_is_never_in_the_past() -> None:
    eng = Engine(50.0)
    ran: list[float] = []
    eng.at(10.0, lambda: ran.append(eng.now))  # in the past: runs now
    eng.at(70.0, lambda: ran.append(eng.now))
    eng.run(60.0)
    assert ran == [50.0] and eng.pending == 1
    eng.run(80.0)
    assert ran == [50.0, 70.0]


def test_the_gap_before_each_event_is_reported_for_integrals() -> None:
    eng = Engine(0.0)
    gaps: list[float] = []
    eng.before = gaps.append
    eng.at(3.0, lambda: None)
    eng.run(10.0)
    assert gaps == [3.0, 10.0]


def test_learned_model_scales_with_k_and_speed() -> None:
    m = from_log_dir(SAMPLES, Plotter.CHIA, None, 25)
    assert m.k == 25 and m.total_s > 0 and "logs" in m.source
    k26 = m.scaled(26)
    assert 1.9 < k26.total_s / m.total_s < 2.2
    fast = m.scaled(speed=2.0)
    assert abs(fast.total_s - m.total_s / 2) < 1e-6


def test_defaults_without_logs_follow_the_agents_shares() -> None:
    m = default_model(Plotter.CHIA, None, 32)
    assert abs(m.total_s - 18380.0) < 1.0
    assert m.steps[0][0] < m.steps[-1][0]


def test_draw_is_seeded_and_jitter_spreads_jobs() -> None:
    m = default_model(Plotter.CHIA, None, 32)
    a = m.draw(random.Random(7), 0.1)
    assert a == m.draw(random.Random(7), 0.1)
    totals = {round(m.draw(random.Random(s), 0.1)[1][-1]) for s in range(20)}
    assert len(totals) > 10
    none = m.draw(random.Random(1), 0.0)[1][-1]
    assert abs(none - m.total_s) < 1e-6


def test_step_at_finds_the_step_a_job_is_in() -> None:
    steps = ((1, 1), (1, 2), (2, 1))
    ends = (10.0, 20.0, 30.0)
    assert step_at(steps, ends, 0.0) == (1, 1)
    assert step_at(steps, ends, 10.0) == (1, 2)
    assert step_at(steps, ends, 29.9) == (2, 1)
    assert step_at(steps, ends, 99.0) == (2, 1)
