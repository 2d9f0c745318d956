"""What a plotter log says, and the small machinery the per-plotter line handlers share.

Each plotter module (chia, madmax, bladebit) holds a :class:`HandlerSet`: line handlers registered with a literal
prefix (a cheap ``str.startswith`` prefilter, so the thousands of ``Bucket N uniform sort`` lines cost next to nothing)
and a regex. A handler mutates the :class:`LogInfo` in place. Lines reach handlers cleaned: ANSI colour codes and NUL
bytes removed, surrounding whitespace stripped.
"""

from __future__ import annotations

import enum
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from plotboss.plots import PLOT_NAME_RE

log = logging.getLogger(__name__)

#: How many earlier plots of a multi-plot job a log keeps the ids of.
EARLIER_PLOTS_KEPT = 4

#: The state a finished plot ends in; reached when the plotter reports its total time (copy/rename may follow).
PHASE_DONE = (5, 0)

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


class Plotter(enum.StrEnum):
    CHIA = "chia"
    MADMAX = "madmax"
    BLADEBIT = "bladebit"


@dataclass
class LogInfo:
    """What a log says so far; updated in place as bytes arrive."""

    plotter: Plotter | None = None
    #: How the plotter plots, where one plotter has several ways: bladebit ``ram``, ``disk`` or ``cuda`` (from the
    #: log's header). None for chia and madMAx, which have one. Plots of different modes are timed apart.
    mode: str | None = None
    plot_id: str | None = None  # 64 lower-case hex
    k: int | None = None
    tmp_dir: str | None = None
    tmp2_dir: str | None = None
    dst_dir: str | None = None
    phase: tuple[int, int] = (0, 0)  # (major, minor); (0, 0) = no phase seen yet. Never goes backwards.
    phase_times: dict[int, float] = field(default_factory=dict)  # major -> seconds
    start_time: float | None = None  # epoch seconds of the job's start per the log
    total_time: float | None = None
    plot_name: str | None = None  # final file name plot-k..-<id>.plot when known
    completed: bool = False  # the plot was finished (final rename/copy done)
    threads: int | None = None
    buckets: int | None = None
    buffer_mib: int | None = None
    plot_index: int = 1  # which plot of a multi-plot job (`-n N`) this is; the log follows its current plot
    #: plot ids of the job's latest earlier plots, oldest first (multi-plot jobs); at most EARLIER_PLOTS_KEPT, so a
    #: job that plots until stopped does not grow without bound (only plot N-1's copy or write runs in the background)
    earlier_plots: tuple[str, ...] = ()
    #: seconds of this plot's work the log has timed so far: the durations it states for each piece (table, sort,
    #: pass) added up, set to the sum of the phase times at each phase's end (see plotters/timings.py)
    elapsed_s: float = 0.0
    #: phase step (major, minor) -> ``elapsed_s`` when the log entered it; the ETA model learns step durations from it
    step_starts: dict[tuple[int, int], float] = field(default_factory=dict)

    def copy(self) -> LogInfo:
        """An independent copy (the phase_times dict is not shared)."""
        c = LogInfo(**self.__dict__)
        c.phase_times = dict(self.phase_times)
        c.step_starts = dict(self.step_starts)
        return c

    def next_plot(self) -> LogInfo:
        """The state at the start of the job's next plot: what the job keeps (plotter, mode, k, dirs, threads, buckets,
        buffer) carried over, everything about the plot itself fresh."""
        return LogInfo(
            plotter=self.plotter,
            mode=self.mode,
            k=self.k,
            tmp_dir=self.tmp_dir,
            tmp2_dir=self.tmp2_dir,
            dst_dir=self.dst_dir,
            threads=self.threads,
            buckets=self.buckets,
            buffer_mib=self.buffer_mib,
            plot_index=self.plot_index + 1,
            earlier_plots=(*self.earlier_plots, *((self.plot_id,) if self.plot_id else ()))[-EARLIER_PLOTS_KEPT:],
        )


def advance(info: LogInfo, major: int, minor: int = 0) -> None:
    """Move the phase forward to (major, minor); never backwards. Notes when (by the log's timings) the step began."""
    new = (major, minor)
    if new > info.phase:
        info.phase = new
        info.step_starts.setdefault(new, info.elapsed_s)


def base_name(name: str) -> str:
    """A plot path as the log prints it -> the final file name (directories and temp suffixes dropped)."""
    base = name.rstrip().rsplit("/", 1)[-1]
    for suffix in (".2.tmp", ".tmp"):
        if base.endswith(".plot" + suffix):
            base = base[: -len(suffix)]
    return base


def is_other_plot(info: LogInfo, name: str) -> bool:
    """True when ``name`` is a different plot than the one ``info`` follows (a line about an earlier plot of the same
    job, such as madMAx or bladebit finishing the copy or write of plot 1 while plot 2 runs)."""
    base = base_name(name)
    if info.plot_name is not None:
        return base != info.plot_name
    m = PLOT_NAME_RE.match(base)
    if m is None:
        return False
    return m["plot_id"] in info.earlier_plots or (info.plot_id is not None and m["plot_id"] != info.plot_id)


def set_plot_name(info: LogInfo, name: str) -> None:
    """Record the final file name (directories and temp suffixes dropped) and what it tells: k, id, start date."""
    base = base_name(name)
    if not base:
        return
    info.plot_name = base
    m = PLOT_NAME_RE.match(base)
    if m is None:
        return
    if info.k is None:
        info.k = int(m["k"])
    if info.plot_id is None:
        info.plot_id = m["plot_id"]
    if info.start_time is None:
        info.start_time = parse_time(m["date"], "%Y-%m-%d-%H-%M")


def parse_time(text: str, fmt: str) -> float | None:
    """Local time text -> epoch seconds (the log was written on this machine, in its time zone); None if malformed."""
    frac = 0.0
    if "." in text and fmt.endswith("%S"):
        text, _, ms = text.partition(".")
        frac = float("0." + ms) if ms.isascii() and ms.isdigit() else 0.0
    try:
        return time.mktime(time.strptime(text.strip(), fmt)) + frac
    except (ValueError, OverflowError):
        return None


def parse_ctime(text: str) -> float | None:
    """``Wed Nov 25 17:07:00 2026`` (chiapos's ctime stamps) -> epoch seconds."""
    return parse_time(" ".join(text.split()), "%a %b %d %H:%M:%S %Y")


def to_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value >= 0 and value != float("inf") else None


def clean_line(line: str) -> str:
    """Drop NUL bytes and ANSI escapes, strip surrounding whitespace."""
    if "\x00" in line:
        line = line.replace("\x00", "")
    if "\x1b" in line:
        line = ANSI_RE.sub("", line)
    return line.strip()


def line_filter(prefixes: Iterable[str]) -> re.Pattern[bytes]:
    """A bytes regex that matches a raw line which, once cleaned, may start with one of ``prefixes``.

    It lets the parser skip most lines (chiapos's thousands of ``Bucket N uniform sort`` lines) without decoding them.
    Leading whitespace, NUL bytes and ANSI codes are allowed before the prefix, as :func:`clean_line` removes them.
    """
    return re.compile(rb"(?:[\s\x00]|" + _ANSI_BYTES + rb")*(?:" + _alternatives(prefixes) + rb")")


_ANSI_BYTES = rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]"


def _alternatives(prefixes: Iterable[str]) -> bytes:
    return b"|".join(re.escape(p.encode()) for p in sorted(set(prefixes), key=len, reverse=True)) or rb"(?!)"


def block_filter(prefixes: Iterable[str]) -> re.Pattern[bytes]:
    """The :func:`line_filter` of the same ``prefixes`` for a search through many lines at once: it matches a newline
    and then the rest of a line (up to, not including, its newline) that :func:`line_filter` lets through.

    ``finditer`` over a block of lines finds the few wanted lines in C, where a Python loop over every line with
    :func:`line_filter` spent ~1 us per line (2,000 chia logs: 1.7 million lines, 117 thousand wanted). The leading
    whitespace it allows is ``\\s`` without the newline: a line split off a block never holds one. It does not let
    through lines with a carriage return anywhere, as the line-by-line reading does: callers look for ``\\r`` first.
    """
    return re.compile(rb"\n(?:[ \t\r\f\v\x00]|" + _ANSI_BYTES + rb")*(?:" + _alternatives(prefixes) + rb")[^\n]*")


Apply = Callable[[re.Match[str], LogInfo], None]


@dataclass(frozen=True)
class Handler:
    prefix: str
    pattern: re.Pattern[str]
    apply: Apply


class HandlerSet:
    """The line handlers of one plotter format. The first handler whose prefix and regex match a line applies."""

    def __init__(self, plotter: Plotter) -> None:
        self.plotter = plotter
        self.handlers: list[Handler] = []
        self.prefixes: tuple[str, ...] = ()
        self._filters: tuple[re.Pattern[bytes], re.Pattern[bytes]] | None = None
        #: the handlers by the first character of their prefix, in registration order (a line is tried only against
        #: those that can match it: most lines that get this far match one of a handful)
        self._by_first: dict[str, list[Handler]] = {}
        self.next_plot_markers: list[tuple[str, re.Pattern[str]]] = []
        self._also: tuple[str, ...] = ()

    def _update_prefixes(self) -> None:
        every = [h.prefix for h in self.handlers] + [p for p, _ in self.next_plot_markers]
        self.prefixes = tuple(dict.fromkeys(every))
        self._filters = None  # compiled on first use: every registration changes them, and compiling costs

    def _compiled(self) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
        if self._filters is None:
            every = (*self.prefixes, *self._also)
            self._filters = (line_filter(every), block_filter(every))
        return self._filters

    @property
    def byte_filter(self) -> re.Pattern[bytes]:
        """Matches a raw line that may concern a handler or an :meth:`also_read` reader (see :func:`line_filter`)."""
        return self._compiled()[0]

    @property
    def block_filter(self) -> re.Pattern[bytes]:
        """The same lines, found in a block of lines (see :func:`block_filter`)."""
        return self._compiled()[1]

    def also_read(self, prefixes: Iterable[str]) -> None:
        """Let lines with these literal prefixes through :attr:`byte_filter` too: lines that another reader of the
        log (its clock, plotters/timings.py) wants although no handler does."""
        self._also = tuple(dict.fromkeys((*self._also, *prefixes)))
        self._update_prefixes()

    def next_plot_on(self, prefix: str, regex: str) -> None:
        """Lines (literal prefix, anchored regex) with which the plotter starts another plot of a multi-plot job."""
        self.next_plot_markers.append((prefix, re.compile(regex)))
        self._update_prefixes()

    def starts_next_plot(self, line: str) -> bool:
        """True when a cleaned line is where the plotter starts a plot (the first or a later one)."""
        return any(line.startswith(p) and r.match(line) is not None for p, r in self.next_plot_markers)

    def on(self, prefix: str, regex: str) -> Callable[[Apply], Apply]:
        """Register a handler for lines that start with ``prefix`` and match ``regex`` (anchored at the start)."""
        if not prefix:
            raise ValueError("a handler needs a literal prefix")

        def register(fn: Apply) -> Apply:
            handler = Handler(prefix, re.compile(regex), fn)
            self.handlers.append(handler)
            self._by_first.setdefault(prefix[0], []).append(handler)
            self._update_prefixes()
            return fn

        return register

    def apply(self, line: str, info: LogInfo) -> bool:
        """Apply the first matching handler to a cleaned line; True if one matched."""
        if not line.startswith(self.prefixes):
            return False
        for h in self._by_first.get(line[:1], ()):
            if line.startswith(h.prefix):
                m = h.pattern.match(line)
                if m is not None:
                    h.apply(m, info)
                    return True
        return False
