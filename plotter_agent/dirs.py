"""The tmp, tmp2 and dst dirs: space, jobs using them, complete plots, temp files and orphans.

A temp file is a file whose name carries a 64-hex plot id and ends in ``.tmp``. That covers chiapos
(``<plot>.plot.table1.tmp`` .. ``table7``, ``.sort.tmp``, ``.p1.t3.sort_bucket_012.tmp``, ``<plot>.plot.2.tmp``),
madMAx (``<plot>.p1.t1.sort_bucket_000.tmp``, ``<plot>.plot.tmp``) and bladebit's final ``<plot>.plot.tmp``. A name
ending in ``.plot`` is never a temp file, whatever it otherwise looks like (a compressed ``plot-k32-c05-...``, a
plot format we do not know yet); nor is any other name without the ``.tmp`` suffix (an rsync partial
``.plot-k32-....plot.AbC123``). Files without a plot id in the name (bladebit diskplot's ``t1_*.tmp`` buckets)
cannot be attributed and are never touched. An orphan is a temp file whose plot id no running job has, neither as
its current plot nor as an earlier plot of a multi-plot job (madMAx and bladebit ``-n N`` copy or write plot N-1 in
the background while plot N runs); ``clean`` removes only those.

A finished plot is a regular file with a final plot name (``plot-k<k>[-c<NN>]-<date>-<id>.plot``) whose size is one a
whole plot of its k and compression level can have (:func:`plotboss.plots.is_plausible_plot_size`). Anything else so
named (a 6-byte file, a copy cut short, an impossible k, a symlink) is a *suspect*: listed with the reason, never
counted as a plot, never archived, never removed.

Scanning and classifying are split: ``scan_dir`` does the I/O (one ``scandir`` per dir), the rest is pure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from plotboss.errors import InvalidArgument
from plotboss.plots import PLOT_NAME_RE, is_plausible_plot_size, parse_plot_name, plausible_plot_size_range
from plotter_agent.jobs import PLOT_ID_IN_NAME_RE, Job

log = logging.getLogger(__name__)

ROLES = ("tmp", "tmp2", "dst")


@dataclass(frozen=True)
class TempFile:
    path: str
    plot_id: str
    size_bytes: int
    mtime: float


@dataclass(frozen=True)
class PlotFile:
    """A file named like a final plot: a finished plot (``reason`` empty) or a suspect (``reason`` says why not)."""

    path: str
    name: str
    size_bytes: int
    mtime: float
    reason: str = ""


@dataclass(frozen=True)
class DirScan:
    path: str
    total_bytes: int = 0
    free_bytes: int = 0
    #: the finished plots, by name
    plots: tuple[PlotFile, ...] = ()
    temp_files: tuple[TempFile, ...] = ()
    error: str = ""
    #: files named like a plot that are not a whole one, by name
    suspects: tuple[PlotFile, ...] = ()

    @property
    def plot_count(self) -> int:
        return len(self.plots)

    @property
    def plot_bytes(self) -> int:
        return sum(p.size_bytes for p in self.plots)


@dataclass(frozen=True)
class DirJob:
    plot_id: str | None
    pid: int
    phase: tuple[int, int] | None


@dataclass(frozen=True)
class DirView:
    path: str
    role: str
    total_bytes: int
    free_bytes: int
    jobs: tuple[DirJob, ...]
    #: the finished plots waiting in the dir (name, size, mtime: what the archiver chooses from)
    plots: tuple[PlotFile, ...]
    orphans: tuple[TempFile, ...]
    error: str = ""
    #: files named like a plot that are not a whole one (see the module doc)
    suspects: tuple[PlotFile, ...] = ()

    @property
    def plot_count(self) -> int:
        return len(self.plots)

    @property
    def plot_bytes(self) -> int:
        return sum(p.size_bytes for p in self.plots)

    @property
    def orphan_bytes(self) -> int:
        return sum(f.size_bytes for f in self.orphans)


#: Every temp file of chiapos, madMAx and bladebit ends so; nothing else is ever removed.
TEMP_SUFFIX = ".tmp"


def temp_plot_id(name: str) -> str | None:
    """The plot id a temp file is named for, or None (not a temp file, or a finished plot).

    The one rule for what may be removed: orphan detection, orphan cleaning and kill's clean-up all go through it, and
    :func:`remove_files` applies it again to each name right before unlinking.
    """
    if name.endswith(".plot") or not name.endswith(TEMP_SUFFIX):
        return None
    hit = PLOT_ID_IN_NAME_RE.search(name)
    return hit.group(1) if hit is not None else None


def suspect_reason(name: str, size_bytes: int) -> str:
    """Why a regular file with a final plot name is not a finished plot ("" when it is one)."""
    try:
        plot = parse_plot_name(name)
    except InvalidArgument as e:
        return str(e).removeprefix(f"plot name {name[:100]!r}: ")
    if is_plausible_plot_size(size_bytes, plot.k, plot.compression):
        return ""
    lo, hi = plausible_plot_size_range(plot.k, plot.compression)
    level = f" c{plot.compression:02d}" if plot.compression else ""
    return f"{size_bytes} bytes is not the size of a whole k{plot.k}{level} plot ({lo}..{hi} bytes)"


def scan_dir(path: str) -> DirScan:
    """Space, finished plots, suspects and temp files of one dir (not recursive). Errors are reported, never raised."""
    try:
        st = os.statvfs(path)
        total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    except OSError as e:
        return DirScan(path=path, error=e.strerror or str(e))
    plots: list[PlotFile] = []
    suspects: list[PlotFile] = []
    temps: list[TempFile] = []
    try:
        with os.scandir(path) as it:
            for entry in it:
                name = entry.name
                is_plot = PLOT_NAME_RE.match(name) is not None
                pid = None if is_plot else temp_plot_id(name)
                if not is_plot and pid is None:
                    continue
                try:
                    regular = entry.is_file(follow_symlinks=False)
                    st2 = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if is_plot:
                    reason = suspect_reason(name, st2.st_size) if regular else "not a regular file"
                    f = PlotFile(entry.path, name, st2.st_size, st2.st_mtime, reason)
                    (suspects if reason else plots).append(f)
                elif pid is not None and regular:
                    temps.append(TempFile(entry.path, pid, st2.st_size, st2.st_mtime))
    except OSError as e:
        return DirScan(path=path, total_bytes=total, free_bytes=free, error=e.strerror or str(e))
    temps.sort(key=lambda t: t.path)
    plots.sort(key=lambda p: p.name)
    suspects.sort(key=lambda p: p.name)
    return DirScan(path, total, free, tuple(plots), tuple(temps), suspects=tuple(suspects))


def dir_mtime_ns(path: str) -> int | None:
    """A dir's mtime (it changes when files are created, removed or renamed in it), None when it cannot be read."""
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def configured_dirs(tmp: Sequence[str], tmp2: str | None, dst: Sequence[str]) -> list[tuple[str, str]]:
    """(path, role) for every configured dir, in config order, without duplicates of the same pair."""
    out: list[tuple[str, str]] = []
    for role, paths in (("tmp", list(tmp)), ("tmp2", [tmp2] if tmp2 else []), ("dst", list(dst))):
        for p in paths:
            if (p, role) not in out:
                out.append((p, role))
    return out


def job_dirs(job: Job) -> list[tuple[str, str]]:
    """(path, role) of each dir the job uses, each path once under its first role: a chia job without ``-2`` uses
    its tmp dir as tmp2 (its log says so), and that is one dir, not a tmp and a tmp2."""
    out: list[tuple[str, str]] = []
    for role, d in (("tmp", job.tmp_dir), ("tmp2", job.tmp2_dir), ("dst", job.dst_dir)):
        if d and all(d != p for p, _r in out):
            out.append((d, role))
    return out


def find_orphans(scan: DirScan, jobs: Sequence[Job]) -> tuple[TempFile, ...]:
    """Temp files in ``scan`` named for a plot id no running job has (current or earlier plot of a multi-plot job).

    Conservative while a job using this dir has no known plot id yet: files modified since that job started might be
    its own, so they are not orphans.
    """
    live = {i for j in jobs for i in j.plot_ids}
    unknown_since = [j.create_time for j in jobs if not j.plot_id and scan.path in j.dirs]
    guard = min(unknown_since) if unknown_since else None
    return tuple(f for f in scan.temp_files if f.plot_id not in live and (guard is None or f.mtime < guard))


def job_temp_bytes(job: Job, scans: dict[str, DirScan]) -> int:
    """Bytes of the temp files named for ``job``'s plot id in its tmp/tmp2/dst dirs."""
    if not job.plot_id:
        return 0
    total = 0
    for d in job.dirs:
        scan = scans.get(d)
        if scan is not None:
            total += sum(f.size_bytes for f in scan.temp_files if f.plot_id == job.plot_id)
    return total


def build_dirs(pairs: Iterable[tuple[str, str]], scans: dict[str, DirScan], jobs: Sequence[Job]) -> tuple[DirView, ...]:
    """The configured dirs, then the dirs running jobs use that are not configured (jobs started by hand).

    Orphans are looked for only in configured dirs: an unconfigured dir (``-t .`` in someone's home) is listed for
    its space and jobs, and nothing in it is ever offered for removal. A dir listed under several roles (configured
    as tmp and dst) carries its orphans on its first row only, so that they are counted once.
    """
    pairs = list(pairs)
    configured = {p for p, _r in pairs}
    extra = sorted({pr for j in jobs for pr in job_dirs(j) if pr not in pairs})
    out: list[DirView] = []
    listed: set[str] = set()
    for path, role in pairs + extra:
        first = path not in listed
        listed.add(path)
        scan = scans.get(path) or DirScan(path=path, error="not scanned")
        using = tuple(
            DirJob(j.plot_id, j.pid, j.phase)
            for j in jobs
            if (role == "tmp" and j.tmp_dir == path)
            or (role == "tmp2" and j.tmp2_dir == path)
            or (role == "dst" and j.dst_dir == path)
        )
        out.append(
            DirView(
                path=path,
                role=role,
                total_bytes=scan.total_bytes,
                free_bytes=scan.free_bytes,
                jobs=using,
                plots=scan.plots,
                suspects=scan.suspects,
                orphans=find_orphans(scan, jobs) if path in configured and first else (),
                error=scan.error,
            )
        )
    return tuple(out)


def remove_files(paths: Iterable[TempFile]) -> tuple[list[str], int]:
    """Delete temp files (never a finished plot: re-checked by name here). Returns (removed paths, bytes)."""
    removed: list[str] = []
    total = 0
    for f in paths:
        name = os.path.basename(f.path)
        if temp_plot_id(name) != f.plot_id:
            log.warning("not removing %s: not a temp file of plot %s", f.path, f.plot_id)
            continue
        try:
            size = os.stat(f.path, follow_symlinks=False).st_size
            os.unlink(f.path)
        except FileNotFoundError:
            continue
        except OSError as e:
            log.warning("could not remove %s: %s", f.path, e.strerror or e)
            continue
        removed.append(f.path)
        total += size
    return removed, total


def temp_files_of(plot_ids: str | Iterable[str], dirs: Iterable[str]) -> list[TempFile]:
    """Fresh listing of the temp files named for ``plot_ids`` (one id, or several) in ``dirs`` (for kill cleanup)."""
    ids = frozenset((plot_ids,) if isinstance(plot_ids, str) else plot_ids)
    out: list[TempFile] = []
    seen: set[str] = set()
    for d in dirs:
        if d in seen:
            continue
        seen.add(d)
        out.extend(f for f in scan_dir(d).temp_files if f.plot_id in ids)
    return out
