"""How `plotboss-cli watch` looks: a snapshot of what the feeds hold, rendered into one rich renderable (pure).

Nothing here talks to an agent or a terminal: ``render(screen)`` is a function of the snapshot (``now`` included), so
tests build snapshots and read the text a console of a given width prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from cli.archive_view import farmer_text, last_error, progress_text, short_plot, waiting_total
from cli.jobs_view import PLOTTER_NAMES, ROLE_NAMES, STATE_NAMES, job_label, short_ids, status_phase
from cli.render import bar, human_bytes, human_duration
from plotboss.rpc import from_duration, from_timestamp
from plotboss.v1 import farmer_pb2, plotter_pb2

DRIVE_STATES = {
    farmer_pb2.DRIVE_STATE_OK: "ok",
    farmer_pb2.DRIVE_STATE_FULL: "full",
    farmer_pb2.DRIVE_STATE_MISSING: "missing",
    farmer_pb2.DRIVE_STATE_READ_ONLY: "read-only",
    farmer_pb2.DRIVE_STATE_ERROR: "error",
}
KEYS_HELP = "q quit  ↑↓/1-9 plotter  ←→ job  l log  p/r pause/resume scheduler  a/A pause/resume archiver"
PHASES = (1, 2, 3, 4)
JOB_PATH_W, DIR_PATH_W = 28, 48  # paths longer than this keep their end ("…/tmp/00"): what tells dirs apart


def short_path(path: str, width: int) -> str:
    """``path`` cut to ``width`` characters from the left, the end kept: '…ong/path/tmp/00'."""
    return path if len(path) <= width else "…" + path[-(width - 1) :]


def _line(text: str, style: str | None = None) -> Text:
    """A line that never wraps (a long one ends in '…'): rows keep their place on the screen."""
    return Text(text, style=style or "", no_wrap=True, overflow="ellipsis")


@dataclass(frozen=True)
class Reach:
    """Whether an agent answers: ``down_since`` (epoch s) is set from the first failed call until one succeeds."""

    seen: bool = False
    down_since: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class PlotterSnap:
    name: str
    address: str
    reach: Reach = Reach()
    jobs: Sequence[plotter_pb2.Job] = ()
    dirs: Sequence[plotter_pb2.Dir] = ()
    #: GetSchedulerStatusResponse / GetArchiveStatusResponse when the agent answers them; None when it does not
    #: (UNIMPLEMENTED: an agent without a scheduler or archiver), and then no line is shown.
    scheduler: Message | None = None
    archive: Message | None = None


@dataclass(frozen=True)
class FarmerSnap:
    name: str
    address: str
    reach: Reach = Reach()
    drives: Sequence[farmer_pb2.Drive] = ()
    reservations: Sequence[farmer_pb2.Reservation] = ()


@dataclass(frozen=True)
class Screen:
    now: float
    plotters: Sequence[PlotterSnap] = ()
    farmers: Sequence[FarmerSnap] = ()
    selected: int = 0
    selected_job: int = 0
    #: A question waiting for y/n, else the last message; shown at the bottom.
    prompt: str | None = None
    status: str = ""
    #: (title, lines) of the log pane when open.
    log: tuple[str, Sequence[str]] | None = None
    #: The terminal's height (0: no limit). Long lists are cut to a share of it, with a line saying how many more,
    #: so that one busy plotter does not push the rest of the fleet off the screen.
    height: int = 0

    def cap(self, share: int) -> int | None:
        """At most this many rows for a list that may take 1/share of the screen (None: no limit)."""
        return max(3, self.height // share) if self.height else None


def clock_text(t: float) -> str:
    """Epoch seconds as the local wall-clock time."""
    return datetime.fromtimestamp(t).astimezone().strftime("%H:%M:%S")


def down_text(reach: Reach, now: float) -> str:
    """'UNREACHABLE since 20:14:05 (for 0:12): <why>' or 'waiting for a first answer'."""
    if reach.down_since is None:
        return "waiting for a first answer" if not reach.seen else ""
    since = f"UNREACHABLE since {clock_text(reach.down_since)} (for {human_duration(now - reach.down_since)})"
    return f"{since}: {reach.error}" if reach.error else since


def enum_name(msg: Message, field_name: str) -> str | None:
    """An enum field's value name without its prefix, lower case ('SCHEDULER_STATE_PAUSED' -> 'paused'); the number
    when this CLI's stubs do not know it (a newer agent)."""
    fd = msg.DESCRIPTOR.fields_by_name.get(field_name)
    if fd is None or fd.enum_type is None:
        return None
    number = getattr(msg, field_name)
    value = fd.enum_type.values_by_number.get(number)
    if value is None:
        return str(number)
    prefix = fd.enum_type.name  # SchedulerState -> SCHEDULER_STATE_
    snake = "".join("_" + c if c.isupper() else c for c in prefix).lstrip("_").upper() + "_"
    return value.name.removeprefix(snake).lower().replace("_", "-")


def _str_field(msg: Message, name: str) -> str:
    if name not in msg.DESCRIPTOR.fields_by_name:
        return ""
    value = getattr(msg, name)
    return value if isinstance(value, str) else ""


def _errors(msg: Message) -> list[str]:
    """Every non-empty string field named *_error: a field a newer agent adds shows without a change here."""
    return [
        f"{f.name}: {getattr(msg, f.name)}"
        for f in msg.DESCRIPTOR.fields
        if f.name.endswith("_error") and f.type == f.TYPE_STRING and getattr(msg, f.name)
    ]


def state_and_reason(msg: Message) -> list[str]:
    """The state's name and the reason, the state left out when the reason starts with it ('disabled: ...')."""
    state, reason = enum_name(msg, "state"), _str_field(msg, "reason")
    if state and reason.startswith(state):
        state = None
    return [p for p in (state, reason) if p]


def scheduler_line(msg: Message) -> Text:
    """'scheduler: running: start in /mnt/tmp/00' from whatever GetSchedulerStatusResponse holds (read defensively)."""
    parts = state_and_reason(msg)
    line = Text("scheduler: ", style="bold")
    line.append(": ".join(parts) or "?")
    for err in _errors(msg):
        line.append(f"  {err}", style="red")
    return line


def archive_lines(msg: Message, now: float) -> list[Text]:
    """The archiver: state and reason with the counts; each transfer in flight with its progress bar, bytes, rate and
    ETA; the plots waiting per dst dir; each farmer it cannot reach (since when, next try); the last error."""
    parts = state_and_reason(msg)
    head = Text("archive: ", style="bold", no_wrap=True, overflow="ellipsis")
    head.append(": ".join(parts) or "?")
    for err in _errors(msg):
        head.append(f"  {err}", style="red")
    if not isinstance(msg, plotter_pb2.GetArchiveStatusResponse):
        return [head]
    if msg.state == plotter_pb2.ARCHIVER_STATE_DISABLED:
        return [head]
    plots, size = waiting_total(msg)
    head.append(
        f"  ({len(msg.active)}/{msg.max_concurrent_transfers or '?'} in flight, {plots} waiting ({human_bytes(size)}), "
        f"{msg.archived_plots} archived)",
        style="dim",
    )
    lines = [head]
    for t in msg.active:
        recovered = " (recovered)" if t.recovered else ""
        lines.append(  # the numbers first: a narrow terminal cuts the paths, not the progress
            _line(
                f"  → {progress_text(t)}  {short_plot(t.plot_name)}{recovered} "
                f"{short_path(t.dst_dir, JOB_PATH_W)} → {t.farmer}:{short_path(t.drive_path, JOB_PATH_W)}"
            )
        )
    waiting = [d for d in msg.dirs if d.plots_waiting]
    if waiting:
        text = ", ".join(
            f"{short_path(d.path, JOB_PATH_W)} {d.plots_waiting} ({human_bytes(d.bytes_waiting)})"
            + (f" [{d.skipped}]" if d.skipped else "")
            for d in waiting
        )
        lines.append(_line(f"  waiting: {text}"))
    for f in msg.farmers:
        if not f.reachable:
            lines.append(_line(f"  farmer {f.name} ({f.address}) {farmer_text(f, now)}", "yellow"))
    failed = last_error(msg)
    if failed is not None:
        when = clock_text(from_timestamp(failed.end_time)) if failed.HasField("end_time") else "?"
        step = f" → {failed.next_step}" if failed.next_step else ""
        lines.append(_line(f"  last archive error {when}: {short_plot(failed.plot_name)}: {failed.error}{step}", "red"))
    return lines


def window(n: int, cap: int | None, around: int | None) -> range:
    """Which of ``n`` rows to show: all, or ``cap`` of them with row ``around`` inside."""
    if cap is None or n <= cap:
        return range(n)
    start = max(0, min((around or 0) - cap // 2, n - cap))
    return range(start, start + cap)


def more_line(shown: int, n: int, what: str) -> Text | None:
    return _line(f"  … {n - shown} more {what}", "dim") if shown < n else None


def jobs_table(jobs: Sequence[plotter_pb2.Job], selected: int | None, rows: range | None = None) -> Table:
    shorts = short_ids([j.plot_id for j in jobs if j.plot_id])
    t = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for col in ("", "job", "plotter", "k", "tmp", "dst", "phase", "progress", "eta", "wall", "state"):
        t.add_column(col, justify="right" if col in ("k", "eta", "wall") else "left", no_wrap=True)
    for i, j in enumerate(jobs):
        if rows is not None and i not in rows:
            continue
        state = STATE_NAMES.get(j.state, "?") + (" STALLED" if j.stalled else "")
        t.add_row(
            "›" if i == selected else "",
            job_label(j, shorts),
            PLOTTER_NAMES.get(j.plotter, "?"),
            str(j.k or "?"),
            short_path(j.tmp_dir or "-", JOB_PATH_W),
            short_path(j.dst_dir or "-", JOB_PATH_W),
            status_phase(j),
            f"{bar(j.progress, 12)} {j.progress * 100:3.0f}%",
            human_duration(from_duration(j.eta)) if j.HasField("eta") else "-",
            human_duration(from_duration(j.wall)),
            state,
            style="reverse" if i == selected else None,
        )
    return t


def histogram(jobs: Sequence[plotter_pb2.Job], cap: int | None = None, keep: frozenset[str] = frozenset()) -> Table:
    """How many jobs are in each major phase, per tmp dir and in all: the shape of the pipeline."""
    majors = sorted(set(PHASES) | {j.phase.major for j in jobs if j.phase.known})
    counts: dict[str, dict[int | None, int]] = {}
    for j in jobs:
        key = j.phase.major if j.phase.known else None
        for row in (j.tmp_dir or "-", "all"):
            counts.setdefault(row, {})
            counts[row][key] = counts[row].get(key, 0) + 1
    top = max((n for row in counts.values() for n in row.values()), default=1)
    t = Table(box=None, pad_edge=False, header_style="bold", title="phases", title_justify="left", show_edge=False)
    t.add_column("tmp", no_wrap=True)
    cols: list[int | None] = [*majors, None]
    for m in cols:
        t.add_column(f"phase {m}" if m is not None else "unknown", no_wrap=True)
    dirs = sorted(k for k in counts if k != "all")
    if cap is not None and len(dirs) > cap:  # the selected job's tmp dir, then the busiest; "all" counts every job
        dirs = sorted(sorted(dirs, key=lambda d: (d not in keep, -sum(counts[d].values())))[:cap])
        t.caption, t.caption_justify = f"… {len(counts) - 1 - cap} more tmp dirs", "left"
    rows = dirs + (["all"] if counts else [])
    for row in rows:
        cells = []
        for m in cols:
            n = counts[row].get(m, 0)
            cells.append(f"{'■' * max(1, round(8 * n / top)) if n else '·'} {n}")
        t.add_row(short_path(row, DIR_PATH_W), *cells, style="bold" if row == "all" else None)
    return t


def space_bar(total: int, free: int, width: int = 20) -> str:
    """Used space as a bar and percentage ('██████░░░░  60%')."""
    used = (total - free) / total if total else 0.0
    return f"{bar(used, width)} {used * 100:3.0f}%"


def dirs_table(dirs: Sequence[plotter_pb2.Dir], cap: int | None = None, keep: frozenset[str] = frozenset()) -> Table:
    t = Table(box=None, pad_edge=False, header_style="bold", title="dirs", title_justify="left", show_edge=False)
    for col in ("dir", "role", "used", "free", "size", "jobs", "plots"):
        t.add_column(col, justify="right" if col in ("free", "size", "jobs", "plots") else "left", no_wrap=True)
    if cap is not None and len(dirs) > cap:
        t.caption, t.caption_justify = f"… {len(dirs) - cap} more dirs", "left"
        shown = set(sorted(range(len(dirs)), key=lambda i: (dirs[i].path not in keep, i))[:cap])
        dirs = [d for i, d in enumerate(dirs) if i in shown]  # the selected job's dirs first, then in order
    for d in dirs:
        t.add_row(
            short_path(d.path, DIR_PATH_W),
            ROLE_NAMES.get(d.role, "?"),
            space_bar(d.total_bytes, d.free_bytes) if not d.error else d.error,
            human_bytes(d.free_bytes),
            human_bytes(d.total_bytes),
            str(len(d.jobs)),
            str(d.plot_count),
        )
    return t


def drives_table(drives: Sequence[farmer_pb2.Drive]) -> Table:
    """Fill counts what is reserved as used: the room a new reservation could still get."""
    t = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for col in ("drive", "fill", "free", "reserved", "size", "plots", "writers", "state"):
        t.add_column(col, justify="left" if col in ("drive", "fill", "state") else "right", no_wrap=True)
    for d in drives:
        state = DRIVE_STATES.get(d.state, "unknown")
        t.add_row(
            short_path(d.path, DIR_PATH_W),
            space_bar(d.total_bytes, max(0, d.free_bytes - d.reserved_bytes)),
            human_bytes(d.free_bytes),
            human_bytes(d.reserved_bytes),
            human_bytes(d.total_bytes),
            str(d.plot_count),
            str(d.writers),
            f"{state}: {d.error}" if d.error else state,
            style=None if d.state == farmer_pb2.DRIVE_STATE_OK else "yellow",
        )
    return t


def reservation_lines(reservations: Sequence[farmer_pb2.Reservation], now: float) -> list[Text]:
    out = []
    for r in reservations:
        left = max(0.0, r.expire_time.ToNanoseconds() / 1e9 - now)
        out.append(
            _line(
                f"  reserved {human_bytes(r.size_bytes)} on {r.drive_path} for {r.requester} (lease {left:.0f} s): "
                f"{r.plot_name}"
            )
        )
    return out


def _heading(index: int | None, name: str, address: str, rest: str, selected: bool, down: bool) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    if index is not None:
        t.append(f"[{index}] ", style="bold")
    t.append(name, style="bold reverse" if selected else "bold")
    t.append(f" ({address})")
    if rest:
        t.append(f"  {rest}", style="bold red" if down else None)
    return t


def plotter_part(p: PlotterSnap, index: int, screen: Screen) -> list[RenderableType]:
    selected = index == screen.selected
    down = down_text(p.reach, screen.now)
    if down:
        return [_heading(index + 1, p.name, p.address, down, selected, p.reach.down_since is not None)]
    out: list[RenderableType] = [_heading(index + 1, p.name, p.address, f"{len(p.jobs)} jobs", selected, False)]
    if p.scheduler is not None:
        out.append(scheduler_line(p.scheduler))
    if p.archive is not None:
        out.extend(archive_lines(p.archive, screen.now))
    mark = screen.selected_job if selected else None
    job = p.jobs[mark] if mark is not None and mark < len(p.jobs) else None
    # the selected job's dirs stay in view when lists are cut
    keep = frozenset(d for d in (job.tmp_dir, job.tmp2_dir, job.dst_dir) if d) if job is not None else frozenset()
    if p.jobs:
        rows = window(len(p.jobs), screen.cap(4), mark)
        out.append(jobs_table(p.jobs, mark, rows))
        more = more_line(len(rows), len(p.jobs), "jobs (←→ scrolls)")
        if more is not None:
            out.append(more)
        out.append(histogram(p.jobs, screen.cap(6), keep))
    if p.dirs:
        out.append(dirs_table(p.dirs, screen.cap(6), keep))
    return out


def farmer_part(f: FarmerSnap, now: float) -> list[RenderableType]:
    down = down_text(f.reach, now)
    if down:
        return [_heading(None, f.name, f.address, down, False, f.reach.down_since is not None)]
    rest = f"{len(f.drives)} drives, {len(f.reservations)} reservations"
    return [
        _heading(None, f.name, f.address, rest, False, False),
        drives_table(f.drives),
        *reservation_lines(f.reservations, now),
    ]


def render(screen: Screen) -> RenderableType:
    """The whole screen: a title, the keys, the status line (or a y/n question), the log pane when open, then each
    plotter and each farmer. What a short terminal cannot hold is cut at the bottom, so the lines users act on come
    first."""
    title = f"plotboss watch  {clock_text(screen.now)}  {len(screen.plotters)} plotters, {len(screen.farmers)} farmers"
    parts: list[RenderableType] = [Text(title, style="bold"), Text(KEYS_HELP, style="dim")]
    if screen.prompt:
        parts.append(Text(screen.prompt, style="bold yellow"))
    else:
        parts.append(Text(screen.status))
    if screen.log is not None:
        log_title, lines = screen.log
        parts.append(Text(f"log: {log_title}", style="bold"))
        parts.extend(_line(line) for line in lines)
    for i, p in enumerate(screen.plotters):
        parts.append(Text(""))
        parts.extend(plotter_part(p, i, screen))
    for f in screen.farmers:
        parts.append(Text(""))
        parts.extend(farmer_part(f, screen.now))
    return Group(*parts)
