"""Phase-time statistics over parsed logs, grouped by plotter, mode, k and/or tmp dir: what ``plotboss-cli analyze``
shows, over an agent's log dir (AnalyzeLogs) or over log files on the CLI's machine (the same code, see
:func:`read_logs`).

The mode keeps apart what one plotter does in very different ways: bladebit's RAM plotter, diskplot and cudaplot
(phase 3 of a k32 plot: about 200 s in RAM, 560 s on disk). chia and madMAx have one mode (None).
"""

from __future__ import annotations

import logging
import os
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from plotter_agent.logparse import LogInfo, Plotter, parse_file

log = logging.getLogger(__name__)

GroupKey = Literal["plotter", "mode", "k", "tmp"]
GROUP_KEYS: tuple[GroupKey, ...] = ("plotter", "mode", "k", "tmp")
DEFAULT_BY: tuple[GroupKey, ...] = ("plotter", "mode", "k")


@dataclass(frozen=True)
class PhaseStats:
    """Seconds one phase (``major``; 0 for the total) took over the logs of a group that give it."""

    major: int
    mean_s: float
    min_s: float
    max_s: float
    median_s: float
    count: int

    @classmethod
    def of(cls, major: int, values: Sequence[float]) -> PhaseStats:
        return cls(
            major=major,
            mean_s=sum(values) / len(values),
            min_s=min(values),
            max_s=max(values),
            median_s=statistics.median(values),
            count=len(values),
        )


@dataclass(frozen=True)
class GroupStats:
    """One group of completed logs. A key the grouping does not use is None (and so is chia's or madMAx's mode, and
    the tmp dir of a bladebit RAM plot, which has none)."""

    plotter: Plotter | None
    k: int | None
    mode: str | None
    tmp_dir: str | None
    count: int
    phases: tuple[PhaseStats, ...]
    total: PhaseStats

    @property
    def total_mean_s(self) -> float:
        return self.total.mean_s


def _key(info: LogInfo, by: Sequence[GroupKey]) -> tuple[Plotter | None, str | None, int | None, str | None]:
    return (
        info.plotter if "plotter" in by else None,
        info.mode if "mode" in by else None,
        info.k if "k" in by else None,
        _dir(info.tmp_dir) if "tmp" in by else None,
    )


def _dir(path: str | None) -> str | None:
    """A dir as logs name it, without a trailing slash (madMAx writes one, chia not): one dir, one group."""
    return path.rstrip("/") or "/" if path else path


def analyze(
    infos: Iterable[LogInfo],
    k: int | None = None,
    plotter: Plotter | None = None,
    *,
    since: float | None = None,
    by: Sequence[GroupKey] = DEFAULT_BY,
) -> tuple[list[GroupStats], int]:
    """Group completed logs by the keys ``by`` and summarise their phase times; also count the incomplete logs.

    ``k``/``plotter``/``since`` (epoch seconds; the plot's start per its log) filter both the groups and the
    incomplete count: a log that does not say its plotter or k is counted as incomplete only when no k/plotter filter
    excludes it; with ``since`` a log that gives no start time is left out. The total of a log is its total time, or
    its summed phase times where it gives no total. Groups are sorted by plotter, mode, k, then tmp dir.
    """
    unknown = [key for key in by if key not in GROUP_KEYS]
    if unknown:
        raise ValueError(f"unknown group key(s) {', '.join(unknown)}")
    phases: dict[tuple[Plotter | None, str | None, int | None, str | None], dict[int, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    totals: dict[tuple[Plotter | None, str | None, int | None, str | None], list[float]] = defaultdict(list)
    incomplete = 0
    for info in infos:
        if k is not None and info.k != k:
            continue
        if plotter is not None and info.plotter != plotter:
            continue
        if since is not None and (info.start_time is None or info.start_time < since):
            continue
        if not info.completed or info.plotter is None or info.k is None:
            incomplete += 1
            continue
        key = _key(info, by)
        for major, seconds in info.phase_times.items():
            phases[key][major].append(seconds)
        total = info.total_time if info.total_time is not None else sum(info.phase_times.values())
        totals[key].append(total)
    groups = []
    for key in sorted(totals, key=lambda kk: (str(kk[0] or ""), kk[1] or "", kk[2] or 0, kk[3] or "")):
        t = totals[key]
        groups.append(
            GroupStats(
                plotter=key[0],
                mode=key[1],
                k=key[2],
                tmp_dir=key[3],
                count=len(t),
                phases=tuple(PhaseStats.of(m, v) for m, v in sorted(phases[key].items())),
                total=PhaseStats.of(0, t),
            )
        )
    return groups, incomplete


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


def read_logs(paths: Iterable[Path]) -> tuple[list[LogInfo], list[Skipped]]:
    """Parse log files with the agent's parser. A file that cannot be read, or in which no known plotter's log is
    recognised, is skipped (with the reason), never an error: callers decide what a skip means."""
    infos: list[LogInfo] = []
    skipped: list[Skipped] = []
    for path in paths:
        try:  # parse_file turns an unreadable file into an empty LogInfo; say why instead
            fd = os.open(path, os.O_RDONLY)
            os.close(fd)
        except OSError as e:
            skipped.append(Skipped(path, f"cannot read: {e.strerror or e}"))
            continue
        info = parse_file(path)
        if info.plotter is None:
            skipped.append(Skipped(path, "not a log of any known plotter (chia, chiapos, madMAx, bladebit)"))
            continue
        infos.append(info)
    return infos, skipped


def logs_in(directory: Path) -> list[Path]:
    """The files directly in ``directory`` that could be logs (regular, not hidden), sorted; OSError when it cannot
    be listed."""
    with os.scandir(directory) as it:
        return sorted(Path(e.path) for e in it if not e.name.startswith(".") and e.is_file())
