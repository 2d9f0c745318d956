"""The view asks the ETA model on its own clock, with the process's start for a log that states none."""

from __future__ import annotations

from pathlib import Path

import pytest

from plotter_agent.loglib import LogLibrary
from plotter_agent.logparse import parse_file
from plotter_agent.progress import EtaModel
from plotter_agent.view import View
from testbed.clock import VirtualClock
from testbed.procs import FakeTable, proc
from tests.unit.logsamples import SAMPLES

BLADEBIT = SAMPLES / "plotman-bladebit.plot.log"


def test_a_bladebit_job_gets_an_eta_from_its_process_start(tmp_path: Path) -> None:
    """bladebit's log names no start time until the plot is written: without the process's start the view had no
    ETA for it (and a learned one could not move within a step)."""
    logs, dst = tmp_path / "logs", tmp_path / "dst"
    logs.mkdir()
    dst.mkdir()
    lines = BLADEBIT.read_bytes().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if line.startswith(b"Forward propagating to table 4"))
    log = logs / "bb.log"
    log.write_bytes(b"".join(lines[: cut + 1]))  # in table 4 of phase 1
    partial = parse_file(log)
    assert partial.start_time is None and partial.phase[0] == 1
    clock = VirtualClock(5000.0)
    began = partial.step_starts[partial.phase]  # 135.2 s into the job by its own timings
    created = clock.t - began - 20.0  # the process started so long ago: 20 s into table 4
    table = FakeTable(
        [proc(40, ("bladebit", "-n", "1", str(dst)), fds=((1, str(log)), (2, str(log))), create_time=created)]
    )
    view = View(log_dir=logs, dirs=[], table=table, library=LogLibrary(logs, clock=clock), stall_after_s=600,
                poll_s=0.1, clock=clock)  # fmt: skip
    (job,) = view.poll().jobs
    expected = EtaModel().eta_s(partial, clock.t, started=created)
    assert expected is not None and job.eta_s is not None and job.eta_s == pytest.approx(expected)
    assert EtaModel().eta_s(partial, clock.t) is not None  # the step's start is known, not the time in it
    # The ETA counts the 20 s already spent in table 4: 10 s later the predicted end has not moved.
    end = clock.t + job.eta_s
    clock.t += 10
    (later,) = view.poll().jobs
    assert later.eta_s is not None and clock.t + later.eta_s == pytest.approx(end)
    assert later.progress > job.progress
