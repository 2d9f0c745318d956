"""The scheduler's status as people and scripts see it: one line under the jobs in `status`, the `scheduler status`
report, and its --json form."""

from __future__ import annotations

import datetime as dt
from typing import Any

from plotboss.rpc import from_timestamp
from plotboss.v1 import plotter_pb2

STATE_NAMES = {
    plotter_pb2.SCHEDULER_STATE_UNSPECIFIED: "unknown",
    plotter_pb2.SCHEDULER_STATE_RUNNING: "running",
    plotter_pb2.SCHEDULER_STATE_PAUSED: "paused",
    plotter_pb2.SCHEDULER_STATE_DRAINING: "draining",
    plotter_pb2.SCHEDULER_STATE_DISABLED: "disabled",
}


def _time(msg: plotter_pb2.GetSchedulerStatusResponse, field: str) -> float | None:
    return from_timestamp(getattr(msg, field)) if msg.HasField(field) else None


def _clock(t: float | None) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t is not None else "-"


def scheduler_line(msg: plotter_pb2.GetSchedulerStatusResponse) -> str:
    """``scheduler: running, waiting: global stagger: 12 min left``: the one line `status` prints under the jobs."""
    state = STATE_NAMES.get(msg.state, "unknown")
    if msg.state == plotter_pb2.SCHEDULER_STATE_DISABLED:
        return f"scheduler: {msg.reason}"
    if msg.would_start and msg.state != plotter_pb2.SCHEDULER_STATE_RUNNING:
        return f"scheduler: {state} (would {msg.reason})"
    what = msg.reason if msg.would_start else f"waiting: {msg.reason}"
    return f"scheduler: {state}, {what}"


def scheduler_json(msg: plotter_pb2.GetSchedulerStatusResponse) -> dict[str, Any]:
    return {
        "state": STATE_NAMES.get(msg.state, "unknown"),
        "reason": msg.reason,
        "would_start": msg.would_start,
        "wait_reasons": list(msg.wait_reasons),
        "decision_time": _time(msg, "decision_time"),
        "running_jobs": msg.running_jobs,
        "tmp_dirs": [
            {"tmp_dir": t.tmp_dir, "eligible": t.eligible, "reason": t.reason, "running_jobs": t.running_jobs}
            for t in msg.tmp_dirs
        ],
        "last_start": (
            {
                "time": _time(msg, "last_start_time"),
                "pid": msg.last_start_pid,
                "tmp_dir": msg.last_start_tmp_dir,
                "dst_dir": msg.last_start_dst_dir,
                "logfile": msg.last_start_logfile,
            }
            if msg.HasField("last_start_time")
            else None
        ),
        "config_load_time": _time(msg, "config_load_time"),
        "reload_error": msg.reload_error,
        "launch_error": msg.launch_error,
    }


def scheduler_report(msg: plotter_pb2.GetSchedulerStatusResponse) -> list[str]:
    """The lines of `scheduler status` for one plotter."""
    lines = [f"  state        {STATE_NAMES.get(msg.state, 'unknown')}"]
    lines.append(f"  decision     {msg.reason} (at {_clock(_time(msg, 'decision_time'))})")
    for r in msg.wait_reasons:
        lines.append(f"    - {r}")
    for t in msg.tmp_dirs:
        lines.append(f"  {'ok  ' if t.eligible else 'wait'}         {t.reason}")
    lines.append(f"  jobs         {msg.running_jobs} running")
    if msg.HasField("last_start_time"):
        lines.append(
            f"  last start   pid {msg.last_start_pid} at {_clock(_time(msg, 'last_start_time'))} in "
            f"{msg.last_start_tmp_dir} -> {msg.last_start_dst_dir}, log {msg.last_start_logfile}"
        )
    if msg.launch_error:
        lines.append(f"  launch error {msg.launch_error}")
    lines.append(f"  config       loaded {_clock(_time(msg, 'config_load_time'))}")
    if msg.reload_error:
        lines.append(f"  reload       refused, old config kept: {msg.reload_error}")
    return lines
