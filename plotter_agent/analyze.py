"""Phase-time statistics over parsed logs, grouped by (plotter, mode, k): what ``plotboss-cli analyze`` shows.

The mode keeps apart what one plotter does in very different ways: bladebit's RAM plotter, diskplot and cudaplot
(phase 3 of a k32 plot: about 200 s in RAM, 560 s on disk). chia and madMAx have one mode (None).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from plotter_agent.logparse import LogInfo, Plotter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhaseStats:
    major: int
    mean_s: float
    min_s: float
    max_s: float


@dataclass(frozen=True)
class GroupStats:
    plotter: Plotter
    k: int
    mode: str | None
    count: int
    phases: tuple[PhaseStats, ...]
    total_mean_s: float


def analyze(
    infos: Iterable[LogInfo], k: int | None = None, plotter: Plotter | None = None
) -> tuple[list[GroupStats], int]:
    """Group completed logs by (plotter, mode, k) and summarise their phase times; also count the incomplete logs.

    ``k``/``plotter`` filter both the groups and the incomplete count (a log that does not say its plotter or k is
    counted as incomplete only when no filter excludes it). The total of a group is the mean of the logs' total times,
    or of their summed phase times where a log gives no total. Groups are sorted by plotter, mode, then k.
    """
    phases: dict[tuple[Plotter, str | None, int], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    totals: dict[tuple[Plotter, str | None, int], list[float]] = defaultdict(list)
    incomplete = 0
    for info in infos:
        if k is not None and info.k != k:
            continue
        if plotter is not None and info.plotter != plotter:
            continue
        if not info.completed or info.plotter is None or info.k is None:
            incomplete += 1
            continue
        key = (info.plotter, info.mode, info.k)
        for major, seconds in info.phase_times.items():
            phases[key][major].append(seconds)
        total = info.total_time if info.total_time is not None else sum(info.phase_times.values())
        totals[key].append(total)
    groups = []
    for key in sorted(totals, key=lambda kk: (str(kk[0]), kk[1] or "", kk[2])):
        stats = tuple(
            PhaseStats(major=m, mean_s=sum(v) / len(v), min_s=min(v), max_s=max(v))
            for m, v in sorted(phases[key].items())
        )
        t = totals[key]
        groups.append(
            GroupStats(plotter=key[0], k=key[2], mode=key[1], count=len(t), phases=stats, total_mean_s=sum(t) / len(t))
        )
    return groups, incomplete
