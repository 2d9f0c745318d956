"""Which plot to archive next: a pure choice over the dst dirs' views, the jobs, and the transfers in flight.

Each dst dir gets a priority score, as plotman's archiver scores them (plotman/archive.py ``compute_priority``), made
scale-free so it works for a 20 MiB test dir as for a 18 TB drive::

    score = 50 - inbound_penalty + fullness_weight * used_fraction + waiting_plots / 10

``inbound_penalty`` is the largest penalty of the jobs writing into the dir, by their phase in plotman's numbering:
(3,4) 4, (3,5) 8, (3,6) 16, (3,7) or later (phase 4 is the final copy) 32; earlier phases cost nothing. So a dir about
to receive a plot is read from only when no better dir has a plot to send (concurrent I/O on a dst drive slows both
the job's final copy and the transfer). ``used_fraction`` is 1 - free/total.

From the best dir (ties: the dir listed first), the oldest complete plot (by mtime, then name): a final plot name,
a size a whole plot of its k and compression level can have, not open in any process (``SourceJob.open_paths``, which
the caller takes from its snapshot: this module does no I/O), not the current plot of a running job, not being
archived, not parked until later (``not_before``), and last modified at least ``settle_s`` ago. A dir that already
has ``max_readers_per_dir`` transfers reading from it is skipped (default 1: never two transfers read one dst dir).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from plotboss.errors import InvalidArgument
from plotboss.plots import is_plausible_plot_size, parse_plot_name
from plotter_agent.dirs import DirView, PlotFile
from plotter_agent.jobs import Job

Phase = tuple[int, int]

#: plotman's penalties for a dir that a job in this phase (or later) is about to write into
DEFAULT_INBOUND_PENALTIES: tuple[tuple[Phase, float], ...] = (
    ((3, 4), 4.0),
    ((3, 5), 8.0),
    ((3, 6), 16.0),
    ((3, 7), 32.0),
)


@dataclass(frozen=True)
class SourceRules:
    inbound_penalties: tuple[tuple[Phase, float], ...] = DEFAULT_INBOUND_PENALTIES
    fullness_weight: float = 20.0
    max_readers_per_dir: int = 1
    #: a plot last modified less than this long ago is left alone (a tool still writing under the final name)
    settle_s: float = 5.0


@dataclass(frozen=True)
class SourceJob:
    """What the choice needs of one plot job (see :func:`source_jobs` for building these from the agent's Jobs)."""

    pid: int
    dst_dir: str | None
    phase: Phase | None
    #: the plot the job is making now (its final file may appear before the job is done with it)
    plot_id: str | None = None
    #: files the job's processes hold open, when the caller read them
    open_paths: frozenset[str] = frozenset()


@dataclass(frozen=True)
class InFlight:
    """A transfer running now: the plot file it reads and the dst dir that file is in."""

    source_path: str
    dst_dir: str


@dataclass(frozen=True)
class DirScore:
    path: str
    score: float
    waiting: int
    inbound_penalty: float
    readers: int
    #: why no plot is taken from this dir ("" when it can give one)
    skipped: str = ""


@dataclass(frozen=True)
class Choice:
    dst_dir: str
    plot: PlotFile
    score: float
    #: every dst dir's score, best first (for status displays)
    ranking: tuple[DirScore, ...] = field(default=())


def _norm(path: str) -> str:
    return posixpath.normpath(path)


def source_jobs(jobs: Iterable[Job], open_paths: Mapping[int, Iterable[str]] | None = None) -> tuple[SourceJob, ...]:
    """The agent's Jobs as the choice sees them; ``open_paths`` by job pid (all of the job's processes' files)."""
    opened = open_paths or {}
    return tuple(
        SourceJob(j.pid, j.dst_dir, j.phase, j.plot_id, frozenset(_norm(p) for p in opened.get(j.pid, ())))
        for j in jobs
    )


def inbound_penalty(phase: Phase | None, rules: SourceRules) -> float:
    if phase is None:
        return 0.0
    return max((p for at, p in rules.inbound_penalties if phase >= at), default=0.0)


def why_not_archivable(
    plot: PlotFile, busy_ids: frozenset[str], open_paths: frozenset[str], now: float, rules: SourceRules
) -> str:
    """Why this plot may not be sent now ("" when it may)."""
    try:
        name = parse_plot_name(plot.name)
    except InvalidArgument as e:
        return str(e)
    if plot.reason:
        return f"suspect: {plot.reason}"
    if not is_plausible_plot_size(plot.size_bytes, name.k, name.compression):
        return f"{plot.size_bytes} bytes is not the size of a whole k{name.k} plot"
    if name.plot_id in busy_ids:
        return "a running job is still making it"
    if _norm(plot.path) in open_paths:
        return "open in a process"
    if now - plot.mtime < rules.settle_s:
        return "modified less than settle_s ago"
    return ""


def score_dirs(
    dst_views: Sequence[DirView],
    jobs: Sequence[SourceJob],
    in_flight: Sequence[InFlight],
    now: float,
    *,
    rules: SourceRules = SourceRules(),
    not_before: Mapping[str, float] | None = None,
) -> list[tuple[DirScore, list[PlotFile]]]:
    """Every dst dir's score with its sendable plots, oldest first; best dir first (stable: ties keep input order)."""
    parked = {_norm(p): t for p, t in (not_before or {}).items()}
    sending = {_norm(f.source_path) for f in in_flight}
    readers: dict[str, int] = {}
    for f in in_flight:
        readers[_norm(f.dst_dir)] = readers.get(_norm(f.dst_dir), 0) + 1
    busy_ids = frozenset(j.plot_id for j in jobs if j.plot_id)
    open_paths = frozenset().union(*(j.open_paths for j in jobs)) if jobs else frozenset()
    rows: list[tuple[DirScore, list[PlotFile]]] = []
    for view in dst_views:
        path = _norm(view.path)
        penalty = max(
            (inbound_penalty(j.phase, rules) for j in jobs if j.dst_dir is not None and _norm(j.dst_dir) == path),
            default=0.0,
        )
        used = 1.0 - view.free_bytes / view.total_bytes if view.total_bytes > 0 else 0.0
        ok = [
            p
            for p in view.plots
            if _norm(p.path) not in sending
            and parked.get(_norm(p.path), float("-inf")) <= now
            and not why_not_archivable(p, busy_ids, open_paths, now, rules)
        ]
        ok.sort(key=lambda p: (p.mtime, p.name))
        score = 50.0 - penalty + rules.fullness_weight * max(0.0, min(1.0, used)) + len(view.plots) / 10
        n_readers = readers.get(path, 0)
        skipped = ""
        if view.error:
            skipped = f"dir error: {view.error}"
        elif n_readers >= rules.max_readers_per_dir:
            skipped = f"{n_readers} transfer(s) already read from it"
        elif not ok:
            skipped = "no plot ready to send"
        rows.append((DirScore(view.path, score, len(ok), penalty, n_readers, skipped), ok))
    rows.sort(key=lambda r: -r[0].score)
    return rows


def choose_source(
    dst_views: Sequence[DirView],
    jobs: Sequence[SourceJob],
    in_flight: Sequence[InFlight],
    now: float,
    *,
    rules: SourceRules = SourceRules(),
    not_before: Mapping[str, float] | None = None,
) -> Choice | None:
    """The plot to send next and its dir, or None when no dir can give one now (see the module doc)."""
    rows = score_dirs(dst_views, jobs, in_flight, now, rules=rules, not_before=not_before)
    ranking = tuple(r for r, _ in rows)
    for row, plots in rows:
        if not row.skipped:
            return Choice(row.path, plots[0], row.score, ranking)
    return None
