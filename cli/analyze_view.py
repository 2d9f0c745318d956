"""How `plotboss-cli analyze` shows phase statistics: the agents' answers turned into the domain's GroupStats (the same
type the local form computes), and GroupStats as a table, JSON and CSV rows."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cli.render import Grid, human_duration
from plotboss.rpc import from_duration
from plotboss.v1 import plotter_pb2
from plotter_agent.analyze import GroupKey, GroupStats, PhaseStats
from plotter_agent.logparse import Plotter

PLOTTER_OF = {
    plotter_pb2.PLOTTER_KIND_CHIA: Plotter.CHIA,
    plotter_pb2.PLOTTER_KIND_MADMAX: Plotter.MADMAX,
    plotter_pb2.PLOTTER_KIND_BLADEBIT: Plotter.BLADEBIT,
}
PB_KEY: dict[GroupKey, plotter_pb2.LogGroupKey] = {
    "plotter": plotter_pb2.LOG_GROUP_KEY_PLOTTER,
    "mode": plotter_pb2.LOG_GROUP_KEY_MODE,
    "k": plotter_pb2.LOG_GROUP_KEY_K,
    "tmp": plotter_pb2.LOG_GROUP_KEY_TMP_DIR,
}
CSV_COLUMNS = (
    "source", "plotter", "mode", "k", "tmp_dir", "phase", "count", "mean_s", "median_s", "min_s", "max_s",
)  # fmt: skip

_RELATIVE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([smhdw])\Z")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """``--since``: an ISO date or date-time (local time unless it gives an offset or Z), or an age like ``36h``,
    ``7d``, ``2w``; epoch seconds. ValueError with what is accepted."""
    t = text.strip()
    m = _RELATIVE.match(t)
    if m:
        return (time.time() if now is None else now) - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        when = datetime.fromisoformat(t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t)
    except ValueError:
        raise ValueError(
            f"{text!r}: give a date (2024-05-01), a date and time (2024-05-01T12:00, +02:00 or Z for the zone) "
            "or an age (36h, 7d, 2w)"
        ) from None
    return when.timestamp()  # a naive datetime is local time


def _phase(p: plotter_pb2.PhaseStats) -> PhaseStats:
    return PhaseStats(
        major=p.major,
        mean_s=from_duration(p.mean),
        min_s=from_duration(p.min),
        max_s=from_duration(p.max),
        median_s=from_duration(p.median),
        count=p.count,
    )


def group_of(g: plotter_pb2.LogGroupStats, by: Sequence[GroupKey]) -> GroupStats:
    total = (
        _phase(g.total)
        if g.HasField("total")
        else PhaseStats(0, from_duration(g.total_mean), 0.0, 0.0, 0.0, g.count)  # an agent without the full total
    )
    return GroupStats(
        plotter=PLOTTER_OF.get(g.plotter) if "plotter" in by else None,
        k=(g.k or None) if "k" in by else None,
        mode=(g.mode or None) if "mode" in by else None,
        tmp_dir=(g.tmp_dir or None) if "tmp" in by else None,
        count=g.count,
        phases=tuple(_phase(p) for p in g.phases),
        total=total,
    )


def _stats_json(p: PhaseStats) -> dict[str, Any]:
    return {
        "major": p.major,
        "count": p.count,
        "mean_s": round(p.mean_s, 3),
        "median_s": round(p.median_s, 3),
        "min_s": round(p.min_s, 3),
        "max_s": round(p.max_s, 3),
    }


def group_json(g: GroupStats) -> dict[str, Any]:
    total = _stats_json(g.total)
    del total["major"]
    return {
        "plotter": str(g.plotter) if g.plotter is not None else None,
        "mode": g.mode,
        "k": g.k,
        "tmp_dir": g.tmp_dir,
        "count": g.count,
        "phases": [_stats_json(p) for p in g.phases],
        "total": total,
        "total_mean_s": round(g.total.mean_s, 3),
    }


def _key_cells(g: GroupStats, by: Sequence[GroupKey]) -> list[str]:
    cells = {
        "plotter": str(g.plotter) if g.plotter is not None else "?",
        "mode": g.mode or "-",
        "k": str(g.k) if g.k is not None else "-",
        "tmp": g.tmp_dir or "-",
    }
    return [cells[key] for key in by]


def groups_grid(groups: Sequence[GroupStats], by: Sequence[GroupKey]) -> Grid:
    """One row per phase of each group and one for its total; the group's keys only on its first row."""
    stats = ("plots", "mean", "median", "min", "max")
    grid = Grid((*by, "phase", *stats), right=frozenset(stats))
    for g in groups:
        keys = _key_cells(g, by)
        for i, p in enumerate((*g.phases, g.total)):
            grid.add_row(
                *(keys if i == 0 else [""] * len(keys)),
                str(p.major) if p.major else "total",
                str(p.count),
                *(human_duration(v) for v in (p.mean_s, p.median_s, p.min_s, p.max_s)),
            )
    return grid


def csv_rows(source: str, groups: Sequence[GroupStats]) -> list[list[str]]:
    rows = []
    for g in groups:
        keys = [str(g.plotter) if g.plotter else "", g.mode or "", str(g.k) if g.k else "", g.tmp_dir or ""]
        for p in (*g.phases, g.total):
            rows.append(
                [
                    source,
                    *keys,
                    str(p.major) if p.major else "total",
                    str(p.count),
                    *(f"{v:.3f}" for v in (p.mean_s, p.median_s, p.min_s, p.max_s)),
                ]
            )
    return rows


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
