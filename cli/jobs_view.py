"""How plot jobs, dirs and log statistics from plotter agents look: --json dicts and text grids (pure helpers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cli.render import Grid, bar, human_bytes, human_duration
from plotboss.rpc import from_duration, from_timestamp
from plotboss.v1 import plotter_pb2

PLOTTER_NAMES = {
    plotter_pb2.PLOTTER_KIND_CHIA: "chia",
    plotter_pb2.PLOTTER_KIND_MADMAX: "madmax",
    plotter_pb2.PLOTTER_KIND_BLADEBIT: "bladebit",
}
PLOTTER_KINDS = {v: k for k, v in PLOTTER_NAMES.items()}
STATE_NAMES = {
    plotter_pb2.JOB_STATE_RUNNING: "running",
    plotter_pb2.JOB_STATE_SLEEPING: "sleeping",
    plotter_pb2.JOB_STATE_DISK_WAIT: "disk-wait",
    plotter_pb2.JOB_STATE_STOPPED: "stopped",
    plotter_pb2.JOB_STATE_ZOMBIE: "zombie",
}
ROLE_NAMES = {plotter_pb2.DIR_ROLE_TMP: "tmp", plotter_pb2.DIR_ROLE_TMP2: "tmp2", plotter_pb2.DIR_ROLE_DST: "dst"}


def phase_text(p: plotter_pb2.Phase) -> str | None:
    return f"{p.major}:{p.minor}" if p.known else None


def status_phase(j: plotter_pb2.Job) -> str:
    """The status table's phase cell: ``M:m``, with ``#i/n`` (``#i`` when endless) for a multi-plot job."""
    text = phase_text(j.phase) or "?"
    if j.plot_count == 1:
        return text
    return f"{text} #{j.plot_index or 1}" + (f"/{j.plot_count}" if j.plot_count else "")


def job_json(j: plotter_pb2.Job) -> dict[str, Any]:
    """One job as --json shows it (snake_case, sizes in bytes, durations in seconds)."""
    return {
        "plot_id": j.plot_id or None,
        "k": j.k or None,
        "plotter": PLOTTER_NAMES.get(j.plotter),
        "mode": j.mode or None,
        "pid": j.pid,
        "tmp_dir": j.tmp_dir or None,
        "tmp2_dir": j.tmp2_dir or None,
        "dst_dir": j.dst_dir or None,
        "phase": phase_text(j.phase),
        "progress": round(j.progress, 4),
        "eta_s": round(from_duration(j.eta), 1) if j.HasField("eta") else None,
        "state": STATE_NAMES.get(j.state, "unknown"),
        "wall_s": round(from_duration(j.wall), 1),
        "tmp_bytes": j.tmp_bytes,
        "logfile": j.logfile or None,
        "phase_unknown_reason": j.phase_unknown_reason or None,
        "stalled": j.stalled,
        "plot_name": j.plot_name or None,
        "plot_index": j.plot_index or 1,
        "plot_count": j.plot_count or None,
        "user_s": round(from_duration(j.user_cpu), 2),
        "sys_s": round(from_duration(j.sys_cpu), 2),
        "iowait_s": round(from_duration(j.iowait), 2),
        "rss_bytes": j.rss_bytes,
        "threads": j.threads or None,
        "buckets": j.buckets or None,
        "buffer_mib": j.buffer_mib or None,
        "start_time": from_timestamp(j.start_time) if j.HasField("start_time") else None,
        "phase_times": {str(p.major): round(from_duration(p.duration), 3) for p in j.phase_times},
        "cmdline": list(j.cmdline),
    }


def dir_json(d: plotter_pb2.Dir) -> dict[str, Any]:
    return {
        "path": d.path,
        "role": ROLE_NAMES.get(d.role),
        "total_bytes": d.total_bytes,
        "free_bytes": d.free_bytes,
        "jobs": [{"plot_id": j.plot_id or None, "pid": j.pid, "phase": phase_text(j.phase)} for j in d.jobs],
        "plot_count": d.plot_count,
        "plot_bytes": d.plot_bytes,
        "orphan_files": d.orphan_files,
        "orphan_bytes": d.orphan_bytes,
        "suspects": [
            {"name": f.name, "size_bytes": f.size_bytes, "mtime": from_timestamp(f.modified_time), "reason": f.reason}
            for f in d.suspects
        ],
        "error": d.error or None,
    }


def short_ids(ids: Sequence[str], min_len: int = 8) -> dict[str, str]:
    """The shortest prefix (at least ``min_len``) that tells each id apart from the others."""
    out: dict[str, str] = {}
    for i in ids:
        n = min_len
        while n < len(i) and sum(1 for o in ids if o.startswith(i[:n])) > 1:
            n += 1
        out[i] = i[:n]
    return out


def job_label(j: plotter_pb2.Job, shorts: dict[str, str]) -> str:
    return shorts.get(j.plot_id, j.plot_id[:8]) if j.plot_id else f"pid:{j.pid}"


def status_table(jobs: Sequence[plotter_pb2.Job]) -> Grid:
    shorts = short_ids([j.plot_id for j in jobs if j.plot_id])
    columns = (
        "id",
        "plotter",
        "k",
        "tmp",
        "dst",
        "wall",
        "phase",
        "progress",
        "eta",
        "tmp bytes",
        "pid",
        "state",
        "mem",
        "user",
        "sys",
    )
    t = Grid(columns, right=frozenset({"k", "wall", "eta", "tmp bytes", "pid", "mem", "user", "sys"}))
    for j in jobs:
        state = STATE_NAMES.get(j.state, "?") + (" STALLED" if j.stalled else "")
        t.add_row(
            job_label(j, shorts),
            PLOTTER_NAMES.get(j.plotter, "?"),
            str(j.k or "?"),
            j.tmp_dir or "-",
            j.dst_dir or "-",
            human_duration(from_duration(j.wall)),
            status_phase(j),
            f"{bar(j.progress)} {j.progress * 100:3.0f}%",
            human_duration(from_duration(j.eta)) if j.HasField("eta") else "-",
            human_bytes(j.tmp_bytes),
            str(j.pid),
            state,
            human_bytes(j.rss_bytes),
            human_duration(from_duration(j.user_cpu)),
            human_duration(from_duration(j.sys_cpu)),
        )
    return t


def tmp_summary(jobs: Sequence[plotter_pb2.Job]) -> Grid:
    by_tmp: dict[str, list[plotter_pb2.Job]] = {}
    for j in jobs:
        by_tmp.setdefault(j.tmp_dir or "-", []).append(j)
    t = Grid(("tmp", "jobs", "phases", "tmp bytes"), right=frozenset({"jobs", "tmp bytes"}), title="tmp dirs")
    for d, js in sorted(by_tmp.items()):
        phases = ", ".join(sorted(phase_text(j.phase) or "?" for j in js))
        t.add_row(d, str(len(js)), phases, human_bytes(sum(j.tmp_bytes for j in js)))
    return t


def dirs_table(dirs: Sequence[plotter_pb2.Dir]) -> Grid:
    t = Grid(
        ("dir", "role", "size", "free", "jobs", "plots", "plot bytes", "orphans", "suspects", "error"),
        right=frozenset({"size", "free", "plots", "plot bytes"}),
    )
    for d in dirs:
        shorts = short_ids([j.plot_id for j in d.jobs if j.plot_id])
        jobs = " ".join(
            f"{shorts.get(j.plot_id, '') if j.plot_id else f'pid:{j.pid}'}@{phase_text(j.phase) or '?'}" for j in d.jobs
        )
        t.add_row(
            d.path,
            ROLE_NAMES.get(d.role, "?"),
            human_bytes(d.total_bytes),
            human_bytes(d.free_bytes),
            jobs or "-",
            str(d.plot_count),
            human_bytes(d.plot_bytes),
            f"{d.orphan_files} ({human_bytes(d.orphan_bytes)})" if d.orphan_files else "-",
            str(len(d.suspects)) if d.suspects else "-",
            d.error or "",
        )
    return t


def suspects_lines(dirs: Sequence[plotter_pb2.Dir]) -> list[str]:
    """One line per suspect (a file named like a plot that is not a whole one): never counted, never archived."""
    lines: dict[str, str] = {}
    for d in dirs:
        for f in d.suspects:
            path = f"{d.path.rstrip('/')}/{f.name}"
            lines.setdefault(path, f"suspect (not counted, never archived): {path}: {f.reason}")
    return list(lines.values())


SORT_KEYS = ("phase", "age", "eta", "plotter")


def sort_jobs(jobs: Sequence[plotter_pb2.Job], key: str) -> list[plotter_pb2.Job]:
    """``status --sort``: phase = furthest along first; age = oldest (longest wall time) first; eta = soonest ETA
    first, jobs without one last; plotter = by plotter program, oldest first within one. Ties: by pid."""
    if key == "phase":
        return sorted(jobs, key=lambda j: (-j.phase.major, -j.phase.minor, -j.progress, j.pid))
    if key == "age":
        return sorted(jobs, key=lambda j: (-from_duration(j.wall), j.pid))
    if key == "eta":
        return sorted(jobs, key=lambda j: (not j.HasField("eta"), from_duration(j.eta), j.pid))
    if key == "plotter":
        return sorted(jobs, key=lambda j: (PLOTTER_NAMES.get(j.plotter, "~"), -from_duration(j.wall), j.pid))
    raise ValueError(f"unknown sort key {key!r}")
