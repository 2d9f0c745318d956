"""A real plot job (the chia stand-in over chiapos) followed while it runs, then its log parsed whole."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from chiapos import DiskProver

from plotter_agent.loglib import LogLibrary
from plotter_agent.logparse import LogFollower, Plotter, parse_file
from plotter_agent.progress import EtaModel
from testbed.standin import start_chia_job


def test_real_k18_job_is_followed_and_parsed(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    logs = tmp_path / "logs"
    log = logs / "job.plot.log"
    proc = start_chia_job(18, tmp_path / "tmp", tmp_path / "dst", log, tmp2=tmp_path / "tmp2")
    procs.append(proc)
    follower = LogFollower(log)
    phases = []
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        follower.poll()
        phases.append(follower.info.phase)
        time.sleep(0.005)
    assert proc.wait(timeout=5) == 0, log.read_text(errors="replace")
    follower.poll()
    phases.append(follower.info.phase)
    assert phases == sorted(phases)

    (plot,) = (tmp_path / "dst").iterdir()
    info = parse_file(log)
    assert follower.info == info
    assert info.plotter is Plotter.CHIA
    assert info.completed and info.phase == (5, 3)  # renamed (tmp2 and dst share a file system)
    assert info.k == 18
    assert info.plot_name == plot.name
    assert info.plot_id == DiskProver(str(plot)).get_id().hex()
    assert info.dst_dir == str(tmp_path / "dst")
    assert info.tmp_dir == str(tmp_path / "tmp") and info.tmp2_dir == str(tmp_path / "tmp2")
    assert sorted(info.phase_times) == [1, 2, 3, 4]
    assert info.total_time is not None and info.total_time > 0
    assert info.start_time is not None and abs(info.start_time - plot.stat().st_mtime) < 120

    # The finished log teaches the ETA model of its (plotter, k).
    lib = LogLibrary(logs)
    lib.refresh()
    assert lib.completed() == [info]
    model: EtaModel = lib.eta_model()
    assert model.profiles[(Plotter.CHIA, None, 18)].count == 1


def test_real_two_plot_job_is_followed_to_its_second_plot(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """`chia plots create -n 2`: after the first plot, the follower moves on to the second one."""
    log = tmp_path / "logs" / "job.plot.log"
    proc = start_chia_job(18, tmp_path / "tmp", tmp_path / "dst", log, extra=("-n", "2"))
    procs.append(proc)
    follower = LogFollower(log)
    seen: list[tuple[int, tuple[int, int]]] = []
    ids: set[str | None] = set()
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        follower.poll()
        seen.append((follower.info.plot_index, follower.info.phase))
        ids.add(follower.info.plot_id)
        time.sleep(0.005)
    assert proc.wait(timeout=5) == 0, log.read_text(errors="replace")
    follower.poll()
    seen.append((follower.info.plot_index, follower.info.phase))
    assert seen == sorted(seen)
    assert {index for index, _ in seen} == {1, 2}

    by_id = {DiskProver(str(p)).get_id().hex(): p for p in (tmp_path / "dst").iterdir()}
    assert len(by_id) == 2
    info = parse_file(log)
    assert follower.info == info
    assert info.plot_index == 2 and info.completed and info.plot_id in by_id
    assert info.plot_name == by_id[info.plot_id].name
    (first,) = info.earlier_plots
    assert {first, info.plot_id} == set(by_id)
    assert ids - {None} <= set(by_id)
