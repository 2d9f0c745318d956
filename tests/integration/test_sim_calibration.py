"""The simulation against reality: a real plotter agent runs real plot jobs (the chia stand-in at k=20) with real
scheduling for a few minutes; the simulation then runs the same plotter.yaml with the phase times learned from that
run's own logs (what `plotboss-cli simulate --logs DIR` does) plus the jobs' start-up that no log times (measured in
the same run: ~1-2 s, which matters for a k20 plot of ~15 s, not for a k32 one of hours), and the plots each makes in
the same window agree within 20 %.

Both windows start at the first job's start (the agent's own start-up is not the scheduler's doing). The simulated
count is the mean over a few seeds of the phase-time jitter.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plotboss.config import load_config
from plotter_agent.config import PlotterConfig
from plotter_agent.logparse import Plotter
from sim.jobmodel import from_log_dir
from sim.whatif import dir_sizes, what_if
from tests.integration.test_scheduler_run import Bed, read_job_log, wait_for

pytestmark = pytest.mark.slow

WINDOW_S = 180.0
SEEDS = (1, 2, 3, 4, 5)


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Bed]:
    b = Bed(tmp_path)
    try:
        yield b
    finally:
        b.cleanup()


def test_simulated_throughput_of_one_plotter_matches_a_real_run(bed: Bed) -> None:
    rules = {
        "global_max_jobs": 3,
        "global_stagger_m": 0.1,
        "tmpdir_max_jobs": 2,
        "tmpdir_stagger_phase_major": 1,
        "tmpdir_stagger_phase_minor": 5,
        "tmpdir_stagger_phase_limit": 1,
    }
    bed.write_config(rules, k=20)
    bed.start_agent()
    wait_for("the first job's log", lambda: any(bed.logs.glob("*.plot.log")), 60)

    def first_start() -> float | None:
        starts = [j.start for j in (read_job_log(p) for p in bed.logs.glob("*.plot.log")) if j.start is not None]
        return min(starts) if starts else None

    wait_for("the first job's start in its log", lambda: first_start() is not None, 60)
    t0 = first_start()
    assert t0 is not None
    time.sleep(max(0.0, t0 + WINDOW_S + 2.0 - time.time()))
    bed.kill_agent()
    logs = [read_job_log(p) for p in bed.logs.glob("*.plot.log")]
    real = sum(1 for j in logs if j.ok and j.end is not None and j.end <= t0 + WINDOW_S)
    assert real >= 4, f"only {real} plots in {WINDOW_S:.0f} s: the machine is too loaded to calibrate against"

    cfg = load_config(bed.config, PlotterConfig)
    # what no log times: from each job's process start (sampled from the process table) to its log's first line
    startup = [j.start - bed.created[j.pid] for j in logs if j.pid in bed.created and j.start is not None]
    model = from_log_dir(bed.logs, Plotter.CHIA, None, 20).with_start_overhead(statistics.median(startup))
    sizes = dir_sizes(cfg, str(bed.config), {})
    made = [what_if(cfg, "calibration", model, sizes, days=WINDOW_S / 86400, seed=s).report.plots_made for s in SEEDS]
    simulated = sum(made) / len(made)
    ratio = simulated / real
    detail = f"real {real} plots, simulated {simulated:.1f} ({made}) in {WINDOW_S:.0f} s; {model.source}"
    print(detail)
    assert 0.8 <= ratio <= 1.2, detail
