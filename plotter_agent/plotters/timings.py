"""The lines in which each plotter says how long a piece of its work took, and the clock they give a log.

:func:`note` runs on every line of an identified log before the plotter's handlers do. A piece line (a table, a sort,
a compression pass) moves :attr:`LogInfo.elapsed_s` on by its seconds; a phase total sets it to the sum of the phase
times so far (the plotter timed the whole phase, which also covers what no piece line reports, such as chiapos's
table-7 sort in phase 2). :func:`plotter_agent.plotters.base.advance` stamps each phase step with it, so a finished
log says how long each of its steps took and a running one says when its current step began, whatever the steps are
numbered. Only sub-pieces already counted in a piece are left out (chiapos's ``First computation pass``, bladebit's
``Finished pairing`` and ``I/O wait``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from plotter_agent.plotters.base import LogInfo, Plotter, to_float


@dataclass(frozen=True)
class Timing:
    prefix: str
    pattern: re.Pattern[str]
    #: True: groups (phase, seconds) of a phase total; False: group 1 is the seconds of a piece
    phase: bool = False


def _piece(prefix: str, regex: str) -> Timing:
    return Timing(prefix, re.compile(regex))


def _phase(prefix: str, regex: str) -> Timing:
    return Timing(prefix, re.compile(regex), phase=True)


_S = r"([\d.]+) sec"
TIMINGS: Mapping[Plotter, tuple[Timing, ...]] = {
    Plotter.CHIA: (
        _piece("F1 complete, time: ", r"F1 complete, time: " + _S),  # F1 complete, time: 0.486 seconds. CPU ...
        _piece("Forward propagation table time: ", r"Forward propagation table time: " + _S),
        _piece("scanned time = ", r"scanned time =\s+" + _S),  # scanned time =  0.141 seconds. CPU ...
        _piece("sort time = ", r"sort time =\s+" + _S),
        _piece("Total compress table time: ", r"Total compress table time: " + _S),
        _phase("Time for phase ", r"Time for phase ([1-4]) = " + _S),  # Time for phase 1 = 53.902 seconds. ...
    ),
    Plotter.MADMAX: (
        _piece("[P1] Table ", r"\[P1\] Table \d took " + _S),  # [P1] Table 2 took 300.748 sec, found ...
        _piece("[P2] Table ", r"\[P2\] Table \d (?:scan|rewrite) took " + _S),
        _piece("[P3-", r"\[P3-[12]\] Table \d took " + _S),  # [P3-1] Table 2 took 134.927 sec, wrote ...
        _phase("Phase ", r"Phase ([1-4]) took " + _S),  # Phase 1 took 2197.52 sec
    ),
    Plotter.BLADEBIT: (
        # RAM: Finished F1 generation in 6.93 seconds. / diskplot: Finished f1 generation in 7.11 seconds.
        # cudaplot: Finished F1 in 0.95 seconds.
        _piece("Finished F1 ", r"Finished F1 (?:generation |sort )?in " + _S),
        _piece("Finished f1 ", r"Finished f1 generation in " + _S),
        _piece("Finished forward propagating ", r"Finished forward propagating table \d in " + _S),
        _piece("Finished prunning ", r"Finished prunning table \d in " + _S),  # (sic)
        _piece("Finished compressing ", r"Finished compressing tables \d and \d in " + _S),
        _piece("Finished writing ", r"Finished writing (?:P7|C\d table|P7 parks|tables to disk) in " + _S),
        _piece("Finished marking ", r"Finished marking table \d in " + _S),  # diskplot phase 2
        # diskplot (and cudaplot's phase 3): Completed table 2 in 52.96 seconds with 4294924903 entries.
        _piece(
            "Completed ", r"Completed (?:table \d|C processing tables|pending writes|serializing P7 entries) in " + _S
        ),
        _phase("Finished Phase ", r"Finished Phase ([1-4]) in " + _S),  # Finished Phase 1 in 313.98 seconds.
        # cudaplot (cuda/CudaPlotter.cu): Table 2 completed in 3.42 seconds with ... / Finalized Table 7 in 1.52
        # seconds. / Marked Table 6 in 0.82 seconds. / Completed Phase 1 in 28.31 seconds
        _piece("Table ", r"Table \d completed in " + _S),
        _piece("Finalized Table ", r"Finalized Table \d in " + _S),
        _piece("Marked Table ", r"Marked Table \d in " + _S),
        _phase("Completed Phase ", r"Completed Phase ([1-4]) in " + _S),
    ),
}
PREFIXES: Mapping[Plotter, tuple[str, ...]] = {p: tuple(t.prefix for t in ts) for p, ts in TIMINGS.items()}


def note(plotter: Plotter, line: str, info: LogInfo) -> None:
    """Move the log's clock on for a cleaned line that times a piece or a phase (before the handlers see the line, so
    the step a handler then enters begins when the piece before it ended)."""
    if not line.startswith(PREFIXES.get(plotter, ())):
        return
    for t in TIMINGS.get(plotter, ()):
        if not line.startswith(t.prefix):
            continue
        m = t.pattern.match(line)
        if m is None:
            continue
        seconds = to_float(m[m.lastindex or 1])
        if seconds is None:
            return
        if not t.phase:
            info.elapsed_s += seconds
            return
        major = int(m[1])
        earlier = [info.phase_times.get(n) for n in range(1, major)]
        if major not in info.phase_times and all(s is not None for s in earlier):
            info.elapsed_s = sum(s for s in earlier if s is not None) + seconds
        return
