"""Replay a real plotter log on a virtual clock and measure the ETA the model gives along the way.

The clock comes from the log itself, not from the parser: each line is stamped with the seconds since the job's start
that the log's own timings put it at (see :data:`_DURATIONS`). A line that says how long a piece of work took moves
the clock on by that much; a ``Time for phase N`` / ``Phase N took`` / ``Finished Phase N in`` line sets it to the sum
of the phase times so far, and the plot's total-time line to that total (what the plotter measured wins over the sum
of the pieces); a chiapos line that ends in a ``ctime`` stamp moves it on to that stamp when the pieces missed more
than the stamp's one second of resolution (chiapos prints no sort time for table 7 in phase 2). Lines in between are
stamped with the time of the last timing line before them: they were written at or just after it.

The model is then asked, as the agent's view asks it, at every line where the phase changes and every 1% of the job's
time in between (the parser holding every line stamped up to then), for the time to completion. The error at a point
is the predicted end (now + ETA) minus the real end: the stamp of the line where plotting finished (``Total time``,
5:0). The job's start is the one the log states (the view falls back on the process's start time when the log states
none; here the process started with the log).

Run ``python -m tests.unit.eta_replay`` for the table of figures, ``--steps LOG [HISTORY]`` for the error at every
phase step of one log (HISTORY: how many finished logs to learn from, default 2), ``--shares`` for DEFAULT_SHARES.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from plotter_agent.logparse import PHASE_DONE, LogInfo, LogParser, parse_file
from plotter_agent.plotters.base import clean_line
from plotter_agent.progress import EtaModel, step_durations
from tests.unit.logsamples import SAMPLES

_SECONDS = r"([\d.]+) sec"
#: Lines that say how long the piece of work they end took.
_DURATIONS = tuple(
    re.compile(p)
    for p in (
        # chiapos / chia plots create
        r"F1 complete, time: " + _SECONDS,
        r"Forward propagation table time: " + _SECONDS,
        r"scanned time =\s+" + _SECONDS,
        r"sort time =\s+" + _SECONDS,
        r"Total compress table time: " + _SECONDS,
        r"Copy time = " + _SECONDS,
        # madMAx
        r"\[P1\] Table \d took " + _SECONDS,
        r"\[P2\] Table \d (?:scan|rewrite) took " + _SECONDS,
        r"\[P3-[12]\] Table \d took " + _SECONDS,
        # bladebit (RAM)
        r"Finished F1 (?:generation|sort) in " + _SECONDS,
        r"Finished forward propagating table \d in " + _SECONDS,
        r"Finished prunning table \d in " + _SECONDS,
        r"Finished writing (?:P7|C\d table|tables to disk) in " + _SECONDS,
        # bladebit diskplot (and compressing, both)
        r"Finished f1 generation in " + _SECONDS,
        r"Completed (?:table \d|C processing tables|pending writes) in " + _SECONDS,
        r"Finished marking table \d in " + _SECONDS,
        r"Finished writing P7 parks in " + _SECONDS,
        r"Finished compressing tables \d and \d in " + _SECONDS,
    )
)
#: Lines that give a phase's total time: (phase, seconds).
_PHASE = tuple(
    re.compile(p)
    for p in (
        r"Time for phase ([1-4]) = " + _SECONDS,
        r"Phase ([1-4]) took " + _SECONDS,
        r"Finished Phase ([1-4]) in " + _SECONDS,
    )
)
_CTIME = re.compile(r"(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})$")
#: The plot was done at this line (the model's ETA is to this point; a final copy may follow).
_DONE = re.compile(r"(?:Total time = |Total plot creation time was |Finished plotting in )" + _SECONDS)


@dataclass(frozen=True)
class Stamped:
    line: bytes
    t: float  # seconds since the job's start, per the log's own timings


def stamp(path: Path) -> list[Stamped]:
    """Every line of a log with the time the log's own timings put it at."""
    out = []
    t = 0.0  # the end of the last piece of work the log timed
    last = 0.0
    phases: dict[int, float] = {}
    ctime0: float | None = None
    for raw in path.read_bytes().splitlines(keepends=True):
        line = clean_line(raw.decode("utf-8", errors="replace"))
        c = _CTIME.search(line)
        at = time.mktime(time.strptime(" ".join(c[1].split()), "%a %b %d %H:%M:%S %Y")) if c is not None else None
        if ctime0 is None and at is not None and line.startswith("Starting phase 1/4"):
            ctime0 = at
        for rx in _DURATIONS:
            m = rx.search(line)
            if m is not None:
                t += float(m[1])
                if at is not None and ctime0 is not None and at - ctime0 - 1.0 > t:
                    t = at - ctime0 - 0.5  # the piece started later than the last one ended: a gap went untimed
                break
        for rx in _PHASE:
            m = rx.match(line)
            if m is not None and int(m[1]) not in phases:
                phases[int(m[1])] = float(m[2])
                t = sum(phases.values())
        m = _DONE.match(line)
        if m is not None:
            t = float(m[1])  # the plotter's own total
        last = max(last, t)  # a phase total a little below the sum of its pieces does not turn the clock back
        out.append(Stamped(raw, last))
    return out


@dataclass(frozen=True)
class Point:
    t: float  # seconds since the start
    phase: tuple[int, int]
    eta_s: float | None
    error_s: float | None  # predicted end - real end


@dataclass(frozen=True)
class Replay:
    name: str
    total_s: float  # real time to the end of plotting
    points: tuple[Point, ...]

    def after(self, fraction: float) -> list[Point]:
        return [p for p in self.points if p.t >= fraction * self.total_s]

    def unknown_after(self, fraction: float) -> int:
        """Points after ``fraction`` of the job where the model gave no ETA."""
        return sum(1 for p in self.after(fraction) if p.error_s is None)

    def worst_after(self, fraction: float) -> float:
        """max |error| / total time over the points after ``fraction`` of the job's time (inf if an ETA was missing)."""
        errors = [p.error_s for p in self.after(fraction)]
        if not errors or any(e is None for e in errors):
            return math.inf
        return max(abs(e) for e in errors if e is not None) / self.total_s

    def jump_after(self, fraction: float) -> float:
        """The largest move of the predicted end between two points in a row after ``fraction`` of the job's time,
        as a share of the total (a model that holds still within a step and then jumps shows here)."""
        ends = [p.t + p.eta_s for p in self.after(fraction) if p.eta_s is not None]
        return max((abs(b - a) for a, b in itertools.pairwise(ends)), default=0.0) / self.total_s

    def range_after(self, fraction: float) -> tuple[float, float] | None:
        """(most early, most late) signed error in seconds over the points after ``fraction``; None if none known."""
        errors = [p.error_s for p in self.after(fraction) if p.error_s is not None]
        return (min(errors), max(errors)) if errors else None


def replay(path: Path, model: EtaModel, grid: int = 100) -> Replay:
    """Feed ``path`` to a parser on a virtual clock and ask ``model`` for the ETA at every phase change and every
    1/``grid`` of the job's time."""
    lines = stamp(path)
    done_at = next((s.t for s in lines if _DONE.match(clean_line(s.line.decode(errors="replace")))), None)
    if done_at is None or done_at <= 0:
        raise ValueError(f"{path.name}: the log does not finish a plot")
    start = parse_file(path).start_time
    epoch = start if start is not None else 1.0e9
    parser = LogParser()
    points: list[Point] = []

    def ask(t: float) -> None:
        info = parser.info
        if info.phase >= PHASE_DONE:
            return
        eta = _eta(model, info, epoch + t, epoch)
        error = None if eta is None else (t + eta) - done_at
        points.append(Point(t, info.phase, eta, error))

    ticks = [done_at * i / grid for i in range(grid)]
    i = 0
    for s in lines:
        while i < len(ticks) and ticks[i] < s.t:
            ask(ticks[i])
            i += 1
        before = parser.info.phase
        parser.feed(s.line)
        if parser.info.phase != before:
            ask(s.t)
    return Replay(path.name, done_at, tuple(points))


def _eta(model: EtaModel, info: LogInfo, now: float, started: float) -> float | None:
    """What the view asks: the log's info, the clock, and the process's start for a log that states none."""
    return model.eta_s(info, now, started=started)


#: The finished sample logs, and the finished logs of the same plotter and k to learn from (the log itself fills up to
#: two where fewer others exist: the samples hold two k25 chia runs, two k22 chiapos runs, one of each other kind).
def finished_logs() -> list[Path]:
    """The finished single-plot sample logs (a replay follows one plot; the multi-plot samples are built by hand)."""
    return [p for p in sorted(SAMPLES.glob("*.plot.log")) if _parsed(p).completed and _parsed(p).plot_index == 1]


@functools.cache
def _parsed(path: Path) -> LogInfo:
    return parse_file(path)


def _kind(info: LogInfo) -> tuple[object, ...]:
    """Plotter, k, and for bladebit whether it plots in RAM or on disk (a diskplot log names its temp dirs)."""
    return (info.plotter, info.k, info.plotter == "bladebit" and info.tmp_dir is not None)


def history_for(path: Path, logs: Sequence[Path], n: int = 2) -> list[Path]:
    me = _kind(_parsed(path))
    same = [p for p in logs if p != path and _kind(_parsed(p)) == me]
    return (same + [path] * n)[:n]


@dataclass(frozen=True)
class Row:
    name: str
    history: tuple[str, ...]
    total_s: float
    worst: float  # max |error| / total after the first 10%
    lo_s: float | None
    hi_s: float | None
    unknown: int
    jump: float  # largest move of the predicted end between two points in a row, / total


def figures(logs: Iterable[Path] | None = None, history: int = 2, others_only: bool = False) -> list[Row]:
    """One row per finished sample log: the ETA error after the first 10% of the job's time. ``others_only``: learn
    only from the other logs of the same kind (rows only for logs that have some)."""
    every = finished_logs()
    rows = []
    for path in logs if logs is not None else every:
        learned = history_for(path, every, history) if history else []
        if others_only:
            learned = [p for p in learned if p != path]
            if not learned:
                continue
        r = replay(path, EtaModel.learn([_parsed(p).copy() for p in learned]))
        span = r.range_after(0.10)
        rows.append(
            Row(
                path.name,
                tuple("itself" if p == path else p.name for p in learned),
                r.total_s,
                r.worst_after(0.10),
                span[0] if span else None,
                span[1] if span else None,
                r.unknown_after(0.10),
                r.jump_after(0.10),
            )
        )
    return rows


def table(rows: Sequence[Row], title: str) -> str:
    head = f"{'log':46} {'total s':>8} {'max|err|':>8} {'err s (early..late)':>22} {'jump':>6} {'no ETA':>6}  history"
    out = [title, head]
    for r in rows:
        span = "n/a" if r.lo_s is None or r.hi_s is None else f"{r.lo_s:+.1f} .. {r.hi_s:+.1f}"
        worst = "n/a" if math.isinf(r.worst) else f"{100 * r.worst:.1f}%"
        out.append(
            f"{r.name:46} {r.total_s:8.1f} {worst:>8} {span:>22} {100 * r.jump:5.1f}% {r.unknown:6d}  "
            + (", ".join(r.history) or "-")
        )
    return "\n".join(out)


def report() -> str:
    return "\n\n".join(
        (
            table(figures(history=0), "ETA error after the first 10% of each job, no history:"),
            table(figures(history=2), "... with 2 finished logs of the same plotter, k and mode as history:"),
            table(figures(history=2, others_only=True), "... with only the other finished logs of that kind:"),
        )
    )


#: The real k32 (madMAx: k33) sample log each set of DEFAULT_SHARES comes from.
SHARES_SOURCES = {
    "chia": "plotman-chianetwork.plot.log",
    "madmax": "plotman-madmax.plot.log",
    "bladebit": "plotman-bladebit.plot.log",
    "bladebit-disk": "plotman-bladebit2disk.plot.log",
}


def shares_of(path: Path) -> dict[tuple[int, int], float]:
    """The share of the plot's time each phase step took in a finished log, rounded as DEFAULT_SHARES holds them."""
    durations = step_durations(parse_file(path))
    total = sum(durations.values())
    return {s: round(v / total, 5) for s, v in durations.items() if round(v / total, 5) > 0}


def shares_source() -> str:
    """DEFAULT_SHARES as Python source, from the sample logs."""
    out = ["DEFAULT_SHARES: Mapping[str, Mapping[Step, float]] = {"]
    for key, name in SHARES_SOURCES.items():
        items = [f"{s}: {v}" for s, v in shares_of(SAMPLES / name).items()]
        out.append(f'    "{key}": {{')
        out.extend("        " + ", ".join(items[i : i + 5]) + "," for i in range(0, len(items), 5))
        out.append("    },")
    out.append("}  # fmt: skip")
    return "\n".join(out)


def steps_table(name: str, history: int = 2) -> str:
    """The ETA error at every phase step of one sample log (the first point of each step, and its worst)."""
    path = SAMPLES / name
    learned = history_for(path, finished_logs(), history) if history else []
    r = replay(path, EtaModel.learn([_parsed(p).copy() for p in learned]))
    out = [f"{name}, history: {', '.join('itself' if p == path else p.name for p in learned) or '-'}"]
    out.append(f"{'step':>5} {'at s':>9} {'done':>5} {'error at entry s':>17} {'worst in step s':>16}")
    for step in sorted({p.phase for p in r.points}):
        pts = [p for p in r.points if p.phase == step]
        known = [p.error_s for p in pts if p.error_s is not None]
        entry = "n/a" if pts[0].error_s is None else f"{pts[0].error_s:+.1f}"
        worst = "n/a" if not known else f"{max(known, key=abs):+.1f}"
        done = f"{100 * pts[0].t / r.total_s:.0f}%"
        out.append(f"{step[0]}:{step[1]:<3} {pts[0].t:9.1f} {done:>5} {entry:>17} {worst:>16}")
    return "\n".join(out)


def main() -> None:
    args = sys.argv[1:]
    if args == ["--shares"]:
        print(shares_source())
    elif args[:1] == ["--steps"] and len(args) in (2, 3):
        print(steps_table(args[1], int(args[2]) if len(args) == 3 else 2))
    elif not args:
        print(report())
    else:
        sys.exit("usage: python -m tests.unit.eta_replay [--shares | --steps LOG [HISTORY]]")


if __name__ == "__main__":
    main()
