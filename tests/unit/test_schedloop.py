"""The scheduler loop (one start per pass, a start counts at once, pause/drain/resume kept in a state file) and the
production launcher (a real detached child)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from plotboss.errors import ConfigError
from plotter_agent.launcher import PopenLauncher, new_log_path
from plotter_agent.schedloop import HOLD_BASE_S, PENDING_MAX_S, Scheduler, pid_alive
from plotter_agent.schedstate import SchedState, load_state
from plotter_agent.scheduler import Start, Wait
from plotter_agent.view import Snapshot
from tests.unit.schedsnaps import ROOMY, T0, TMP0, TMP1, config, job


class Recorder:
    """The launch seam, recording: each start gets the next pid."""

    def __init__(self) -> None:
        self.starts: list[tuple[tuple[str, ...], Path, int]] = []

    def __call__(self, argv: Sequence[str], log_path: Path, nice: int) -> int:
        self.starts.append((tuple(argv), log_path, nice))
        return 90000 + len(self.starts)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _scheduler(
    tmp_path: Path, snaps: list[Snapshot], clock: Clock, alive: set[int] | None = None, **rules: Any
) -> tuple[Scheduler, Recorder]:
    rec = Recorder()
    # which recorded pids still run (default: all of them)
    sched = Scheduler(
        lambda: snaps[-1],
        config(**rules),
        log_dir=tmp_path,
        nice=7,
        state_path=tmp_path / "state.json",
        launch=rec,
        polling_time_s=1,
        clock=clock,
        alive=lambda pid: alive is None or pid in alive,
    )
    return sched, rec


def test_never_two_starts_from_one_stale_snapshot(tmp_path: Path) -> None:
    clock = Clock()
    stale = [Snapshot(time=T0 - 5, version=3, jobs=(), dirs=ROOMY)]
    alive: set[int] = set()
    sched, rec = _scheduler(tmp_path, stale, clock, alive, global_max_jobs=1, global_stagger_m=0)
    assert isinstance(sched.step(), Start)
    alive.add(90001)
    clock.now += 30
    second = sched.step()
    assert isinstance(second, Wait) and second.reasons == ("global_max_jobs (1) reached",)
    assert len(rec.starts) == 1
    argv, log_path, nice = rec.starts[0]
    assert argv[:3] == ("chia", "plots", "create") and nice == 7
    assert log_path.parent == tmp_path and log_path.name.endswith(".plot.log")
    assert sched.status.last_start is not None and sched.status.last_start.pid == 90001
    # a newer snapshot that does not show the job while its process lives (a scan that missed it): it still counts
    stale.append(Snapshot(time=clock.now, version=4, jobs=(), dirs=ROOMY))
    assert isinstance(sched.step(), Wait)
    # its process is gone: it ended, and no longer counts (it ended unseen: the next start waits HOLD_BASE_S)
    alive.discard(90001)
    assert isinstance(sched.step(), Start) and len(rec.starts) == 1
    clock.now += HOLD_BASE_S
    assert isinstance(sched.step(), Start)
    assert len(rec.starts) == 2
    # a started job never seen as a plot job (a wrapper forking it under another pid) counts for PENDING_MAX_S
    alive.add(90002)
    clock.now += PENDING_MAX_S + 1
    assert isinstance(sched.step(), Start)


def test_a_just_started_job_counts_as_just_started_in_its_tmp_dir(tmp_path: Path) -> None:
    clock = Clock()
    snaps = [Snapshot(time=T0 - 5, version=3, jobs=(), dirs=ROOMY)]
    sched, rec = _scheduler(tmp_path, snaps, clock, global_stagger_m=0)
    first = sched.step()
    second = sched.step()
    assert isinstance(first, Start) and isinstance(second, Start) and (first.tmp, second.tmp) == (TMP0, TMP1)
    third = sched.step()
    assert isinstance(third, Wait)
    assert third.reasons == (
        "tmp /mnt/tmp/00: 1 job before 2:1 (limit 1)",
        "tmp /mnt/tmp/01: 1 job before 2:1 (limit 1)",
    )
    # the view now sees both, one already past 2:1: the pending ones give way to the real ones
    real = (job(90001, TMP0, (2, 2), 1), job(90002, TMP1, (1, 1), 1))
    snaps.append(Snapshot(time=clock.now + 1, version=4, jobs=real, dirs=ROOMY))
    clock.now += 2
    fourth = sched.step()
    assert isinstance(fourth, Start) and fourth.tmp == TMP0
    assert len(rec.starts) == 3


def test_pause_drain_resume_and_the_state_survives(tmp_path: Path) -> None:
    clock = Clock()
    snaps = [Snapshot(time=T0, version=1, jobs=(job(1, TMP0, (3, 1), 100),), dirs=ROOMY)]
    sched, rec = _scheduler(tmp_path, snaps, clock, global_stagger_m=0)
    assert sched.pause() is SchedState.PAUSED
    assert isinstance(sched.step(), Start) and rec.starts == []  # the decision is made and shown, not acted on
    assert json.loads((tmp_path / "state.json").read_text())["state"] == "paused"
    again, rec2 = _scheduler(tmp_path, snaps, clock, global_stagger_m=0)  # a restarted agent
    assert again.status.state == "paused"
    assert again.drain() is SchedState.DRAINING
    again.step()
    assert again.status.state == "draining" and rec2.starts == []  # a job is still running
    snaps.append(Snapshot(time=T0 + 1, version=2, jobs=(), dirs=ROOMY))
    again.step()
    assert again.status.state == "paused" and rec2.starts == []  # none left: paused
    assert load_state(tmp_path / "state.json") is SchedState.PAUSED
    assert again.resume() is SchedState.RUNNING
    assert isinstance(again.step(), Start) and len(rec2.starts) == 1


def test_a_corrupt_state_file_is_a_config_error_and_stays(tmp_path: Path) -> None:
    bad = tmp_path / "state.json"
    for text in ("{not json", '{"state": "sideways"}', "[]"):
        bad.write_text(text)
        with pytest.raises(ConfigError, match="not a plotboss scheduler state file"):
            load_state(bad)
        assert bad.read_text() == text
    assert load_state(tmp_path / "missing.json") is SchedState.RUNNING


def test_popen_launcher_detaches_the_job(tmp_path: Path) -> None:
    launcher = PopenLauncher()
    log_path = new_log_path(tmp_path, time.time())
    pid = launcher(["sh", "-c", "echo out; echo err >&2; exec sleep 30"], log_path, 5)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and b"err" not in log_path.read_bytes():
            time.sleep(0.05)
        assert log_path.read_bytes() == b"out\nerr\n"
        assert os.getsid(pid) == pid != os.getsid(0)  # its own session
        assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
        assert os.readlink(f"/proc/{pid}/fd/1") == os.readlink(f"/proc/{pid}/fd/2") == str(log_path)
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 5)
    finally:
        os.kill(pid, 9)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and launcher._children:
            launcher.reap()
            time.sleep(0.05)
    assert launcher._children == []  # reaped: no zombie left behind


def test_popen_launcher_never_reuses_or_follows_a_log_name(tmp_path: Path) -> None:
    launcher = PopenLauncher()
    taken = tmp_path / "taken.plot.log"
    taken.write_text("someone else's log\n")
    with pytest.raises(FileExistsError):
        launcher(["true"], taken, 0)
    assert taken.read_text() == "someone else's log\n"
    target = tmp_path / "target"
    link = tmp_path / "link.plot.log"
    link.symlink_to(target)
    with pytest.raises(FileExistsError):
        launcher(["true"], link, 0)
    assert not target.exists()
    with pytest.raises(FileNotFoundError):
        launcher(["/no/such/plotter"], tmp_path / "gone.plot.log", 0)
    assert not (tmp_path / "gone.plot.log").exists()
    names = {new_log_path(tmp_path, T0).name for _ in range(50)}
    assert len(names) == 50


def test_popen_launcher_children_outlive_it(tmp_path: Path) -> None:
    """The job is no child of the launcher's session: killing the launcher's process group leaves it running."""
    script = (
        "import sys, time; from pathlib import Path; from plotter_agent.launcher import PopenLauncher;"
        "pid = PopenLauncher()(['sleep', '30'], Path(sys.argv[1]), 0); print(pid, flush=True); time.sleep(30)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "j.plot.log")],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    try:
        os.killpg(parent.pid, 9)
        parent.wait(10)
        time.sleep(0.2)
        os.kill(pid, 0)  # still there
        with open(f"/proc/{pid}/stat") as f:
            assert f.read().split(") ")[1].split()[0] in "RSD"
    finally:
        os.kill(pid, 9)


def test_pid_alive_reads_the_process_table() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        assert pid_alive(proc.pid) and pid_alive(os.getpid())
        proc.kill()
        deadline = time.monotonic() + 10
        while pid_alive(proc.pid) and time.monotonic() < deadline:  # a zombie until reaped: not alive already
            time.sleep(0.02)
        assert not pid_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert not pid_alive(proc.pid)


def test_a_plotter_that_exits_at_once_is_not_started_every_pass(tmp_path: Path) -> None:
    """A job that ended before the view saw it run (a plotter refusing its options) holds starts for 30 s, then 60 s
    after a second such failure in a row; a start that is seen running resets the hold."""
    clock = Clock()
    snaps = [Snapshot(time=T0, version=1, jobs=(), dirs=ROOMY)]
    alive: set[int] = set()  # every started job is gone by the next pass
    sched, rec = _scheduler(tmp_path, snaps, clock, alive, global_stagger_m=0)
    assert isinstance(sched.step(), Start) and len(rec.starts) == 1
    for _ in range(5):  # passes within the hold
        clock.now += 5
        sched.step()
    assert len(rec.starts) == 1
    assert sched.status.launch_error.startswith("job pid 90001 ended before it was seen running (see ")
    assert sched.status.launch_error.endswith("no start for 30 s")
    clock.now += 5
    sched.step()
    assert len(rec.starts) == 1  # 25 s after the failure was noticed
    clock.now += 5
    sched.step()
    assert len(rec.starts) == 2  # 30 s after it
    clock.now += 1
    sched.step()  # the second failure is noticed: 60 s now
    clock.now += 59
    sched.step()
    assert len(rec.starts) == 2 and sched.status.launch_error.endswith("no start for 60 s")
    clock.now += 1
    sched.step()
    assert len(rec.starts) == 3
    # this one runs and the view shows it: the failures are forgotten
    alive.add(90003)
    snaps.append(Snapshot(time=clock.now + 1, version=2, jobs=(job(90003, TMP0, (3, 1), 0),), dirs=ROOMY))
    clock.now += 2
    sched.step()
    assert sched._failures == 0 and len(rec.starts) == 4 and sched.status.launch_error == ""
