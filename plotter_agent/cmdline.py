"""Recognise plot jobs by their command line and parse it: plotter, k, tmp/tmp2/dst, threads, buckets, buffer.

Pure functions over ``argv`` (and the process's cwd, against which relative paths resolve). Recognised:

- chia: ``[python, .../chia, plots, create, ...]`` or ``[.../chia, plots, create, ...]`` (chia 1.x/2.x);
  chia 2.x ``chia plotters chiapos|madmax|bladebit ...``;
- madMAx: ``chia_plot`` / ``chia_plot_k34``;
- bladebit: RAM (``bladebit [opts] <dst>``, v2+ ``bladebit [opts] ramplot <dst>``), ``diskplot`` and ``cudaplot``.

Short options may carry their value attached (``-k33``, ``-t/mnt/tmp``, ``-n2``), as click (``chia plots create``) and
cxxopts (madMAx) accept; a word that is itself a known option (bladebit's ``-t1``, madMAx's ``-2``) is never split.
Parsing is tolerant: an unknown option is skipped (its value too when written ``--opt=value``), because a job that
runs is a job whatever options a newer plotter version grew. ``--help``/``--version`` invocations are not jobs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from plotter_agent.logparse import Plotter
from plotter_agent.plotters import bladebit, chia, madmax
from plotter_agent.plotters.options import Opt

#: argv[0] basenames of interpreters that may run the ``chia`` entry script.
_INTERPRETERS = ("python", "python3", "pypy", "pypy3")


@dataclass(frozen=True)
class JobCommand:
    """What a plot job's command line says. Paths are absolute when the cwd was known (or they were absolute)."""

    plotter: Plotter
    k: int | None
    tmp_dir: str | None
    tmp2_dir: str | None
    dst_dir: str | None
    threads: int | None = None
    buckets: int | None = None
    buffer_mib: int | None = None
    #: How many plots the job makes; 0 or less: until stopped (madMAx ``-n -1``, bladebit ``-n 0``).
    count: int = 1
    #: chia 2.x ``chia plotters <name>`` wrappers spawn the real plotter as a child; the child is the same job.
    wrapper: bool = False
    #: bladebit's plotting mode: ``ram`` (``ramplot`` or no subcommand, as bladebit 1.x), ``disk`` or ``cuda``; None
    #: for chia and madMAx (see :attr:`plotter_agent.plotters.base.LogInfo.mode`).
    mode: str | None = None


_CHIA = chia.OPTIONS
_MADMAX = madmax.OPTIONS
_BLADEBIT = bladebit.OPTIONS
_CHIA_BLADEBIT = bladebit.CHIA_OPTIONS
_BLADEBIT_SUBCOMMANDS = bladebit.SUBCOMMANDS
#: bladebit subcommand -> the mode its log reports (plotter_agent/plotters/bladebit.py).
_BLADEBIT_MODES = {"ramplot": "ram", "diskplot": "disk", "cudaplot": "cuda"}
_HELP = frozenset({"-h", "--help", "--version", "-V"})
#: What each plotter command uses for an option it is not given (a job's log, once it states a value, wins over
#: these). ``chia plots create``: click defaults (chia/cmds/plots.py). ``chia plotters chiapos``: chia passes 0 for
#: buffer, threads and buckets, and chiapos then uses 4608 MiB, 2 threads and 128 buckets (plotter_disk.hpp); -t and
#: -d are required. madMAx: 4 threads, 256 buckets, final dir = tmp dir (``chia plotters madmax`` the same, -t and -d
#: required). bladebit: threads default to all cores (unknown here), so only k and the out dir.
_DEFAULTS_CHIA_CREATE = {"k": "32", "tmp": ".", "dst": ".", "threads": "2", "buckets": "128", "buffer": "3389"}
_DEFAULTS_CHIAPOS = {"k": "32", "threads": "2", "buckets": "128", "buffer": "4608"}
_DEFAULTS_MADMAX = {"k": "32", "tmp": ".", "threads": "4", "buckets": "256"}
_DEFAULTS_CHIA_MADMAX = {"k": "32", "threads": "4", "buckets": "256"}
_DEFAULTS_BLADEBIT = {"k": "32", "dst": "."}
_DEFAULTS_CHIA_BLADEBIT = {"k": "32"}


class Classified(NamedTuple):
    """Which plotter runs a command line and how to read it."""

    plotter: Plotter
    #: the option words after the command's own words
    words: list[str]
    table: dict[str, Opt]
    #: a chia 2.x ``chia plotters madmax|bladebit`` wrapper (its child is the real plotter)
    wrapper: bool
    #: what the command uses for an option it is not given
    defaults: dict[str, str]


def _base(arg: str) -> str:
    return arg.rsplit("/", 1)[-1]


def _is_interpreter(arg: str) -> bool:
    b = _base(arg)
    return b.startswith(_INTERPRETERS) and (b[len("python") :].replace(".", "").isdigit() or b in _INTERPRETERS)


def _strip_interpreter(argv: Sequence[str]) -> list[str]:
    """Drop a leading interpreter (and its options like ``-u``/``-X dev``) so argv[0] is the script."""
    args = list(argv)
    if args and _is_interpreter(args[0]):
        i = 1
        while i < len(args) and args[i].startswith("-"):
            i += 2 if args[i] in ("-X", "-W") else 1
        return args[i:]
    return args


def classify(argv: Sequence[str]) -> Classified | None:
    """Which plotter runs this command line, the option words, their table, whether it is a chia wrapper, and the
    command's defaults. None when ``argv`` is not a plot job.
    """
    args = _strip_interpreter(argv)
    if not args:
        return None
    prog = _base(args[0])
    if prog == "chia":
        if args[1:3] == ["plots", "create"]:
            return Classified(Plotter.CHIA, args[3:], _CHIA, False, _DEFAULTS_CHIA_CREATE)
        if len(args) >= 3 and args[1] == "plotters":
            sub = args[2]
            if sub == "chiapos":
                return Classified(Plotter.CHIA, args[3:], _CHIA, False, _DEFAULTS_CHIAPOS)
            if sub == "madmax":
                return Classified(Plotter.MADMAX, args[3:], _MADMAX, True, _DEFAULTS_CHIA_MADMAX)
            if sub == "bladebit" and len(args) >= 4 and args[3] in _BLADEBIT_SUBCOMMANDS:
                return Classified(Plotter.BLADEBIT, args[4:], _CHIA_BLADEBIT, True, _DEFAULTS_CHIA_BLADEBIT)
        return None
    if prog in ("chia_plot", "chia_plot_k34"):
        return Classified(Plotter.MADMAX, args[1:], _MADMAX, False, _DEFAULTS_MADMAX)
    if prog == "bladebit" or prog == "bladebit_cuda":
        return Classified(Plotter.BLADEBIT, args[1:], _BLADEBIT, False, _DEFAULTS_BLADEBIT)
    return None


def is_candidate(argv: Sequence[str]) -> bool:
    """A cheap test for the process-table scan: could this be a plot job? (parse_cmdline decides.)"""
    return classify(argv) is not None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _count(plotter: Plotter, value: str | None) -> int:
    """The ``-n`` value as :attr:`JobCommand.count`. bladebit ``-n 0`` and madMAx ``-n -1`` plot until stopped; chia
    (and madMAx ``-n 0``, which would make none and exit) count as at least one plot."""
    n = _int(value)
    if n is None:
        return 1
    if plotter is Plotter.BLADEBIT or (plotter is Plotter.MADMAX and n < 0):
        return n
    return max(n, 1)


def resolve_path(path: str | None, cwd: str | None) -> str | None:
    """``path`` as the process sees it: absolute and normalised when it or the cwd is known; None for none."""
    if path is None or path == "":
        return None
    path = os.path.expanduser(path) if path.startswith("~") else path
    if os.path.isabs(path):
        return os.path.normpath(path)
    if cwd is None:
        return path
    return os.path.normpath(os.path.join(cwd, path))


def _short_group(word: str, table: dict[str, Opt]) -> tuple[Opt, str | None] | None:
    """A short-option word that is not itself an option name, read as getopt, click and cxxopts read it: ``-k33`` is
    ``-k 33``, ``-t/mnt/tmp`` is ``-t /mnt/tmp``, ``-xk33`` is ``-x -k 33`` (flags, then an option that takes the rest
    of the word as its value, or the next word when nothing is left).

    (the value-taking option, its attached value or None), or None when the word is not such a group (an unknown
    letter, or flags only). Callers first look the whole word up, so bladebit's ``-t1``/``-t2`` stay options of their
    own. (bladebit's own parser matches whole words only, so a running bladebit never has an attached value.)
    """
    if len(word) < 3 or word[0] != "-" or word[1] == "-":
        return None
    for j in range(1, len(word)):
        opt = table.get("-" + word[j])
        if opt is None:
            return None
        if opt.takes_value:
            return opt, word[j + 1 :] or None
    return None


class Parsed(NamedTuple):
    """A plot job's command line, read by :func:`parse_options`."""

    plotter: Plotter
    #: every option the command line sets, by its field name (flags with a field read ``"1"``; bladebit's
    #: positional out dir as ``dst``); no defaults applied
    values: dict[str, str]
    #: a chia 2.x ``chia plotters madmax|bladebit`` wrapper (its child is the real plotter)
    wrapper: bool
    #: what this command uses for an option it is not given
    defaults: dict[str, str]
    #: bladebit's mode (``ram``, ``disk``, ``cuda``); None for chia and madMAx
    mode: str | None


def parse_options(argv: Sequence[str]) -> Parsed | None:
    """The tokenizer: which plotter, every option the command line sets by its field name (the plotter module's
    table), whether it is a chia wrapper, the command's defaults and bladebit's mode. None when ``argv`` is not a
    plot job (or only asks for help/version)."""
    found = classify(argv)
    if found is None:
        return None
    plotter, words, table, wrapper, defaults = found
    values: dict[str, str] = {}
    positionals: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        i += 1
        if w in _HELP:
            return None
        if w == "--":
            positionals.extend(words[i:])
            break
        name, eq, inline = w.partition("=") if w.startswith("--") else (w, "", "")
        opt = table.get(name)
        attached: str | None = None
        if opt is None:
            grouped = _short_group(w, table)
            if grouped is None:  # an unknown word is a flag or a positional
                if not w.startswith("-") or w == "-":
                    positionals.append(w)
                continue
            opt, attached = grouped
        if not opt.takes_value:
            if opt.field:
                values[opt.field] = "1"
            continue
        if attached is not None:
            value = attached
        elif eq:
            value = inline
        elif i < len(words):
            value = words[i]
            i += 1
        else:
            break
        if opt.field:
            values[opt.field] = value
    mode = None
    if plotter is Plotter.BLADEBIT:
        mode = _bladebit_mode(argv, positionals, wrapper)
    if plotter is Plotter.BLADEBIT and not wrapper:
        # bladebit: [global opts] [ramplot|diskplot|cudaplot] [sub opts] <out_dir>
        rest = [p for p in positionals if p not in _BLADEBIT_SUBCOMMANDS]
        if rest:
            values["dst"] = rest[-1]
    return Parsed(plotter, values, wrapper, defaults, mode)


def parse_cmdline(argv: Sequence[str], cwd: str | None = None) -> JobCommand | None:
    """Parse a plot job's command line; None when it is not one (or only asks for help/version)."""
    parsed = parse_options(argv)
    if parsed is None:
        return None
    plotter, values, wrapper, defaults, mode = parsed
    merged = {**defaults, **values}
    if plotter is Plotter.MADMAX and "dst" not in merged and "tmp" in merged:
        merged["dst"] = merged["tmp"]  # madMAx: the final dir defaults to the tmp dir
    tmp = resolve_path(merged.get("tmp"), cwd)
    return JobCommand(
        plotter=plotter,
        k=_int(merged.get("k")),
        tmp_dir=tmp,
        tmp2_dir=resolve_path(merged.get("tmp2"), cwd),
        dst_dir=resolve_path(merged.get("dst"), cwd),
        threads=_int(merged.get("threads")),
        buckets=_int(merged.get("buckets")),
        buffer_mib=_int(merged.get("buffer")),
        count=_count(plotter, merged.get("count")),
        wrapper=wrapper,
        mode=mode,
    )


def _bladebit_mode(argv: Sequence[str], positionals: Sequence[str], wrapper: bool) -> str:
    """``chia plotters bladebit <sub>`` names the mode right after ``bladebit``; bladebit itself takes the first
    subcommand word among its positionals, and plots in RAM without one (bladebit 1.x)."""
    if wrapper:
        args = _strip_interpreter(argv)
        return _BLADEBIT_MODES.get(args[3] if len(args) > 3 else "", "ram")
    for word in positionals:
        if word in _BLADEBIT_MODES:
            return _BLADEBIT_MODES[word]
    return "ram"
