"""The scheduler's status on the wire and in the CLI: what a decision, a wait, a disabled scheduler look like."""

from __future__ import annotations

from cli.sched_view import scheduler_json, scheduler_line, scheduler_report
from plotter_agent.schedloop import LastStart, SchedulerStatus
from plotter_agent.schedstate import SchedState
from plotter_agent.scheduler import Start, TmpDecision, Wait
from plotter_agent.service import scheduler_status_message

T = 1_800_000_000.0
TMP = (
    TmpDecision("/mnt/tmp/00", False, "tmp /mnt/tmp/00: 1 job before 2:1 (limit 1)", 1),
    TmpDecision("/mnt/tmp/01", True, "tmp /mnt/tmp/01: ready (0 jobs)", 0),
)


def test_a_wait_with_its_reasons() -> None:
    wait = Wait(
        ("global stagger: 12 min left", "dst: no dir can take another k32 plot (needs 101.4 GiB, most free 60.2 GiB)"),
        TMP,
    )
    msg = scheduler_status_message(SchedulerStatus(SchedState.RUNNING, wait, T, None, 1, T - 60))
    assert list(msg.wait_reasons) == list(wait.reasons) and not msg.would_start
    assert (
        msg.reason
        == "global stagger: 12 min left; dst: no dir can take another k32 plot (needs 101.4 GiB, most free 60.2 GiB)"
    )
    assert scheduler_line(msg) == f"scheduler: running, waiting: {msg.reason}"
    data = scheduler_json(msg)
    assert data["state"] == "running" and data["decision_time"] == T and data["config_load_time"] == T - 60
    assert [t["eligible"] for t in data["tmp_dirs"]] == [False, True] and data["last_start"] is None
    report = "\n".join(scheduler_report(msg))
    assert "wait         tmp /mnt/tmp/00: 1 job before 2:1 (limit 1)" in report
    assert "    - global stagger: 12 min left" in report


def test_a_start_held_by_a_pause_and_the_last_start() -> None:
    start = Start("/mnt/tmp/01", None, "/mnt/dst/00", ("chia", "plots", "create"), TMP)
    last = LastStart(T - 5, 4242, "/mnt/tmp/00", "/mnt/dst/00", "/var/log/plots/x.plot.log")
    msg = scheduler_status_message(SchedulerStatus(SchedState.PAUSED, start, T, last, 2, T, reload_error="bad"))
    assert msg.would_start and scheduler_line(msg) == "scheduler: paused (would start in /mnt/tmp/01 -> /mnt/dst/00)"
    data = scheduler_json(msg)
    assert data["last_start"] == {
        "time": T - 5,
        "pid": 4242,
        "tmp_dir": "/mnt/tmp/00",
        "dst_dir": "/mnt/dst/00",
        "logfile": "/var/log/plots/x.plot.log",
    }
    assert data["reload_error"] == "bad"
    assert "  reload       refused, old config kept: bad" in scheduler_report(msg)


def test_a_disabled_scheduler_says_why() -> None:
    msg = scheduler_status_message(SchedulerStatus(SchedState.DISABLED, None, None, None, 0, T))
    assert scheduler_line(msg) == "scheduler: disabled: no plotting section in the config, the agent only watches"
    assert scheduler_json(msg)["state"] == "disabled"
