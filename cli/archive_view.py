"""The archiver's status as people and scripts see it: the one line under the jobs in `status`, the `archive` report,
its --json form, and the pieces `watch` shows (pure helpers over GetArchiveStatusResponse)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from cli.render import Grid, bar, human_bytes, human_duration
from plotboss.rpc import from_duration, from_timestamp
from plotboss.v1 import plotter_pb2

STATE_NAMES = {
    plotter_pb2.ARCHIVER_STATE_UNSPECIFIED: "unknown",
    plotter_pb2.ARCHIVER_STATE_RUNNING: "running",
    plotter_pb2.ARCHIVER_STATE_PAUSED: "paused",
    plotter_pb2.ARCHIVER_STATE_DISABLED: "disabled",
}
OUTCOME_NAMES = {
    plotter_pb2.TRANSFER_OUTCOME_UNSPECIFIED: "unknown",
    plotter_pb2.TRANSFER_OUTCOME_IN_PROGRESS: "in_progress",
    plotter_pb2.TRANSFER_OUTCOME_DONE: "done",
    plotter_pb2.TRANSFER_OUTCOME_FAILED: "failed",
}
Status = plotter_pb2.GetArchiveStatusResponse


_PLOT_NAME = re.compile(r"^(plot-k\d+-.*-)([0-9a-f]{64})(\.plot)$")


def short_plot(name: str) -> str:
    """A plot's file name with its 64-digit id cut to 8 ('plot-k32-2021-05-01-10-00-3e66c894….plot'): what tells
    plots apart in a table; --json has the whole name."""
    m = _PLOT_NAME.match(name)
    return f"{m[1]}{m[2][:8]}…{m[3]}" if m else name


def _time(msg: Any, field: str) -> float | None:
    return from_timestamp(getattr(msg, field)) if msg.HasField(field) else None


def clock(t: float | None) -> str:
    """Epoch seconds as local 'HH:MM:SS' ('-' for None)."""
    return dt.datetime.fromtimestamp(t).strftime("%H:%M:%S") if t is not None else "-"


def _date(t: float | None) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t is not None else "-"


def fraction(t: plotter_pb2.Transfer) -> float:
    return min(1.0, t.transferred_bytes / t.size_bytes) if t.size_bytes else 0.0


def eta_s(t: plotter_pb2.Transfer) -> float | None:
    """Seconds left; None when unknown: unset, or no rate measured yet (rsync's first progress line says 0:00:00
    before it has one)."""
    if not t.HasField("eta") or (t.rate_bytes_per_s == 0 and t.transferred_bytes < t.size_bytes):
        return None
    return from_duration(t.eta)


def progress_text(t: plotter_pb2.Transfer, width: int = 12) -> str:
    """'█████░░░░░░░  40% 5.3 MiB/13.4 MiB 1.0 MiB/s eta 0:08': a transfer's progress bar, bytes, rate and ETA."""
    frac = fraction(t)
    eta = eta_s(t)
    return (
        f"{bar(frac, width)} {frac * 100:3.0f}% {human_bytes(t.transferred_bytes)}/{human_bytes(t.size_bytes)} "
        f"{human_bytes(t.rate_bytes_per_s)}/s eta {human_duration(eta)}"
    )


def waiting_total(msg: Status) -> tuple[int, int]:
    """(plots, bytes) waiting over all dst dirs."""
    return sum(d.plots_waiting for d in msg.dirs), sum(d.bytes_waiting for d in msg.dirs)


def last_error(msg: Status) -> plotter_pb2.Transfer | None:
    """The newest finished attempt that failed (recent is newest first)."""
    return next((t for t in msg.recent if t.error), None)


def state_name(msg: Status) -> str:
    return STATE_NAMES.get(msg.state, "unknown")


def archive_line(msg: Status) -> str:
    """``archive: running, 1 in flight (40%), 3 plots waiting (40.1 MiB), last error 20:01:05 plot-…: why``: the one
    line `status` prints under the jobs."""
    if msg.state == plotter_pb2.ARCHIVER_STATE_DISABLED:
        return f"archive: {msg.reason}" if msg.reason.startswith("disabled") else f"archive: disabled: {msg.reason}"
    parts = [state_name(msg)]
    if msg.active:
        parts.append(f"{len(msg.active)} in flight ({', '.join(f'{fraction(t) * 100:.0f}%' for t in msg.active)})")
    else:
        parts.append("none in flight" + (f": {msg.reason}" if msg.reason else ""))
    plots, size = waiting_total(msg)
    parts.append(f"{plots} plots waiting ({human_bytes(size)})")
    err = last_error(msg)
    if err is not None:
        parts.append(f"last error {clock(_time(err, 'end_time'))} {short_plot(err.plot_name)}: {err.error}")
    return "archive: " + ", ".join(parts)


def transfer_json(t: plotter_pb2.Transfer) -> dict[str, Any]:
    eta = eta_s(t)
    return {
        "plot_name": t.plot_name,
        "source_path": t.source_path,
        "dst_dir": t.dst_dir,
        "farmer": t.farmer,
        "drive_path": t.drive_path,
        "reservation_id": t.reservation_id,
        "size_bytes": t.size_bytes,
        "transferred_bytes": t.transferred_bytes,
        "progress": round(fraction(t), 4),
        "rate_bytes_per_s": t.rate_bytes_per_s,
        "eta_s": round(eta, 1) if eta is not None else None,
        "start_time": _time(t, "start_time"),
        "end_time": _time(t, "end_time"),
        "outcome": OUTCOME_NAMES.get(t.outcome, "unknown"),
        "error": t.error or None,
        "next_step": t.next_step or None,
        "recovered": t.recovered,
    }


def archive_json(msg: Status) -> dict[str, Any]:
    plots, size = waiting_total(msg)
    return {
        "state": state_name(msg),
        "reason": msg.reason,
        "max_concurrent_transfers": msg.max_concurrent_transfers,
        "pass_time": _time(msg, "pass_time"),
        "archived_plots": msg.archived_plots,
        "archived_bytes": msg.archived_bytes,
        "plots_waiting": plots,
        "bytes_waiting": size,
        "active": [transfer_json(t) for t in msg.active],
        "recent": [transfer_json(t) for t in msg.recent],
        "dirs": [
            {
                "path": d.path,
                "plots_waiting": d.plots_waiting,
                "bytes_waiting": d.bytes_waiting,
                "score": round(d.score, 4),
                "readers": d.readers,
                "skipped": d.skipped or None,
            }
            for d in msg.dirs
        ],
        "farmers": [
            {
                "name": f.name,
                "address": f.address,
                "reachable": f.reachable,
                "error": f.error or None,
                "unreachable_since_time": _time(f, "unreachable_since_time"),
                "next_try_time": _time(f, "next_try_time"),
                "drives": f.drives,
                "room_bytes": f.room_bytes,
            }
            for f in msg.farmers
        ],
    }


def farmer_text(f: plotter_pb2.ArchiveFarmer, now: float) -> str:
    """'reachable' or 'UNREACHABLE since 20:01:05 (for 2:00), next try 20:03:45: why'."""
    if f.reachable:
        return "reachable"
    since = _time(f, "unreachable_since_time")
    text = "UNREACHABLE"
    if since is not None:
        text += f" since {clock(since)} (for {human_duration(now - since)})"
    nxt = _time(f, "next_try_time")
    if nxt is not None:
        text += f", next try {clock(nxt)}"
    return f"{text}: {f.error}" if f.error else text


def transfers_grid(transfers: Sequence[plotter_pb2.Transfer], title: str) -> Grid:
    t = Grid(
        ("plot", "from", "to", "progress", "done", "size", "rate", "eta"),
        right=frozenset({"done", "size", "rate", "eta"}),
        title=title,
    )
    for x in transfers:
        frac = fraction(x)
        t.add_row(
            short_plot(x.plot_name) + (" (recovered)" if x.recovered else ""),
            x.dst_dir or "-",
            f"{x.farmer}:{x.drive_path}",
            f"{bar(frac)} {frac * 100:3.0f}%",
            human_bytes(x.transferred_bytes),
            human_bytes(x.size_bytes),
            f"{human_bytes(x.rate_bytes_per_s)}/s",
            human_duration(eta_s(x)),
        )
    return t


def recent_grid(transfers: Sequence[plotter_pb2.Transfer]) -> Grid:
    t = Grid(("ended", "outcome", "plot", "to", "size", "took", "error / next step"), title="last results")
    for x in transfers:
        start, end = _time(x, "start_time"), _time(x, "end_time")
        note = "; ".join(p for p in (x.error, x.next_step) if p)
        t.add_row(
            clock(end),
            OUTCOME_NAMES.get(x.outcome, "unknown"),
            short_plot(x.plot_name) + (" (recovered)" if x.recovered else ""),
            f"{x.farmer}:{x.drive_path}",
            human_bytes(x.size_bytes),
            human_duration(end - start) if start is not None and end is not None else "-",
            note or "-",
        )
    return t


def dirs_grid(dirs: Sequence[plotter_pb2.ArchiveDir]) -> Grid:
    t = Grid(
        ("dst dir", "plots", "bytes", "score", "readers", "skipped"),
        right=frozenset({"plots", "bytes", "score", "readers"}),
        title="waiting",
    )
    for d in dirs:
        size = human_bytes(d.bytes_waiting)
        t.add_row(d.path, str(d.plots_waiting), size, f"{d.score:.2f}", str(d.readers), d.skipped or "-")
    return t


def farmers_grid(farmers: Sequence[plotter_pb2.ArchiveFarmer], now: float) -> Grid:
    t = Grid(("farmer", "address", "drives", "room", "reach"), right=frozenset({"drives", "room"}), title="farmers")
    for f in farmers:
        t.add_row(f.name, f.address, str(f.drives), human_bytes(f.room_bytes), farmer_text(f, now))
    return t


def archive_report(msg: Status, now: float) -> list[str | Grid]:
    """What `archive` prints for one plotter: state and reason, counters, then the tables that have rows."""
    state = state_name(msg)
    said = msg.reason if msg.reason.startswith(state) else f"{state}: {msg.reason}" if msg.reason else state
    out: list[str | Grid] = [f"  state        {said}"]
    if msg.state == plotter_pb2.ARCHIVER_STATE_DISABLED:
        return out
    out.append(f"  transfers    {len(msg.active)} in flight, at most {msg.max_concurrent_transfers} at a time")
    out.append(
        f"  archived     {msg.archived_plots} plots ({human_bytes(msg.archived_bytes)}) since the agent started; "
        f"last pass {_date(_time(msg, 'pass_time'))}"
    )
    if msg.active:
        out.append(transfers_grid(msg.active, "in flight"))
    if msg.dirs:
        out.append(dirs_grid(msg.dirs))
    if msg.farmers:
        out.append(farmers_grid(msg.farmers, now))
    if msg.recent:
        out.append(recent_grid(msg.recent))
    return out
