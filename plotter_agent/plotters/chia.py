"""Log handlers for ``chia plots create`` (chia's header lines, then chiapos output) and chiapos called directly.

Phase mapping: plotman's, line for line (``tests/data/logs/plotman-chianetwork.marked``); minors count up within a
phase and each is reached on the line named here:

- n:0  ``Starting phase n/4``
- 1:N  ``Computing table N``, N = 1..7 (forward propagation of table N)
- 2:M  ``Backpropagating on table N``, M = 8 - N: table 7 -> 2:1 ... table 2 -> 2:6; 2:7 ``table 1 new size``
- 3:N  ``Compressing tables N and N+1``, N = 1..6
- 4:1  ``Starting to write C1 and C3 tables``; 4:2 ``Writing C2 table``; 4:3 ``Final table pointers:``
- 5:0  ``Approximate working space used``: plotting done (``Total time`` follows)
- 5:1  ``Copied final file`` (final dir on another file system); 5:2 ``Removed temp2 file``; 5:3 ``Renamed final
  file``, which also sets ``completed``
"""

from __future__ import annotations

import re

from plotter_agent.plotters.base import (
    HandlerSet,
    LogInfo,
    Plotter,
    advance,
    parse_ctime,
    parse_time,
    set_plot_name,
    to_float,
)
from plotter_agent.plotters.options import PlotSpec, opt, table

handlers = HandlerSet(Plotter.CHIA)

#: Lines that mark a chiapos log. Chia's own header lines alone do not: `chia plotters ...` prints them too.
_IDENTIFY_RE = re.compile(r"(Starting plotting progress into temporary dirs:|ID: [0-9a-f]{64}$|Plot size is: \d)")
_HEADER_RE = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\s+(?:\S+\s+)?chia\.plotting\.create_plots\s*:\s*\w+\s+(?P<msg>.*)"
)


IDENTIFY_PREFIXES = ("Starting plotting progress into temporary dirs:", "ID: ", "Plot size is: ", "20")


def identify(line: str) -> bool:
    return _IDENTIFY_RE.match(line) is not None


def header_start_time(line: str) -> float | None:
    """The time of chia's ``Starting plot`` header line, the job's start; None for any other line."""
    # 2026-11-25T17:10:49.588 2.7.5  chia.plotting.create_plots       : INFO     Starting plot 1/1
    m = _HEADER_RE.match(line)
    if m is None or not m["msg"].startswith("Starting plot 1/"):
        return None
    return parse_time(m["ts"], "%Y-%m-%dT%H:%M:%S")


# `chia plots create -n 2` prints a `Starting plot 2/2` header, then chiapos's whole output again for the next plot.
handlers.next_plot_on("20", _HEADER_RE.pattern[: -len("(?P<msg>.*)")] + r"Starting plot \d+/")
handlers.next_plot_on("Starting plotting progress", r"Starting plotting progress into temporary dirs: ")


@handlers.on("20", _HEADER_RE.pattern)
def _header(m: re.Match[str], info: LogInfo) -> None:
    # 2026-11-25T17:10:49.588 2.7.5  chia.plotting.create_plots       : INFO     Starting plot 1/1
    # 2021-07-14T22:33:24.985  chia.plotting.create_plots       : INFO     Starting plot 1/1
    if info.start_time is None and re.match(r"Starting plot \d+/", m["msg"]):
        info.start_time = parse_time(m["ts"], "%Y-%m-%dT%H:%M:%S")


@handlers.on("Starting plotting progress", r"Starting plotting progress into temporary dirs: (.+?) and (.+)$")
def _tmp_dirs(m: re.Match[str], info: LogInfo) -> None:
    # Starting plotting progress into temporary dirs: /mnt/tmp/00 and /mnt/tmp2
    if info.tmp_dir is None:
        info.tmp_dir, info.tmp2_dir = m[1], m[2]


@handlers.on("ID: ", r"ID: ([0-9a-f]{64})$")
def _plot_id(m: re.Match[str], info: LogInfo) -> None:
    # ID: 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
    if info.plot_id is None:
        info.plot_id = m[1]


@handlers.on("Plot size is: ", r"Plot size is: (\d{1,3})$")
def _k(m: re.Match[str], info: LogInfo) -> None:
    # Plot size is: 18
    if info.k is None:
        info.k = int(m[1])


@handlers.on("Buffer size is: ", r"Buffer size is: (\d{1,9})MiB")
def _buffer(m: re.Match[str], info: LogInfo) -> None:
    # Buffer size is: 200MiB
    info.buffer_mib = int(m[1])


@handlers.on("Using ", r"Using (\d{1,6}) buckets")
def _buckets(m: re.Match[str], info: LogInfo) -> None:
    # Using 16 buckets
    info.buckets = int(m[1])


@handlers.on("Using ", r"Using (\d{1,6}) threads of stripe size")
def _threads(m: re.Match[str], info: LogInfo) -> None:
    # Using 2 threads of stripe size 4000
    info.threads = int(m[1])


@handlers.on("Final Directory is: ", r"Final Directory is: (.+)$")
def _dst(m: re.Match[str], info: LogInfo) -> None:
    # Final Directory is: /mnt/dst/00
    if info.dst_dir is None:
        info.dst_dir = m[1]


@handlers.on("Starting phase ", r"Starting phase ([1-4])/4: (.*)\.\.\. *(\w{3} \w{3} +\d+ [\d:]{8} \d{4})$")
def _phase_start(m: re.Match[str], info: LogInfo) -> None:
    # Starting phase 1/4: Forward Propagation into tmp files... Wed Nov 25 17:07:00 2026
    # Starting phase 3/4: Compression from tmp files into "/mnt/tmp2/plot-k18-test.plot.2.tmp" ... Wed Nov 25 17:07:00 2026  # noqa: E501
    major = int(m[1])
    advance(info, major, 0)
    if major == 1 and info.start_time is None:
        info.start_time = parse_ctime(m[3])
    into = re.search(r'into "(.+)"', m[2])
    if into is not None and info.plot_name is None:
        set_plot_name(info, into[1])


@handlers.on("Computing table ", r"Computing table ([1-7])$")
def _p1(m: re.Match[str], info: LogInfo) -> None:
    # Computing table 2
    advance(info, 1, int(m[1]))


@handlers.on("Backpropagating on table ", r"Backpropagating on table ([2-7])$")
def _p2(m: re.Match[str], info: LogInfo) -> None:
    # Backpropagating on table 7
    advance(info, 2, 8 - int(m[1]))


@handlers.on("Compressing tables ", r"Compressing tables ([1-6]) and [2-7]$")
def _p3(m: re.Match[str], info: LogInfo) -> None:
    # Compressing tables 1 and 2
    advance(info, 3, int(m[1]))


@handlers.on("table 1 new size", r"table 1 new size: \d+")
def _p2_table1(m: re.Match[str], info: LogInfo) -> None:
    # table 1 new size: 3425157261
    advance(info, 2, 7)


@handlers.on("Starting to write C1", r"Starting to write C1 and C3 tables")
def _p4(m: re.Match[str], info: LogInfo) -> None:
    # \tStarting to write C1 and C3 tables
    advance(info, 4, 1)


@handlers.on("Writing C2 table", r"Writing C2 table")
def _p4_c2(m: re.Match[str], info: LogInfo) -> None:
    # \tWriting C2 table
    advance(info, 4, 2)


@handlers.on("Final table pointers", r"Final table pointers:")
def _p4_pointers(m: re.Match[str], info: LogInfo) -> None:
    # \tFinal table pointers:
    advance(info, 4, 3)


@handlers.on("Approximate working space used", r"Approximate working space used")
def _plotted(m: re.Match[str], info: LogInfo) -> None:
    # Approximate working space used (without final file): 269.297 GiB
    advance(info, 5, 0)


@handlers.on("Time for phase ", r"Time for phase ([1-4]) = ([\d.]+) seconds")
def _phase_time(m: re.Match[str], info: LogInfo) -> None:
    # Time for phase 1 = 53.902 seconds. CPU (145.280%) Wed Nov 25 17:11:43 2026
    major = int(m[1])
    seconds = to_float(m[2])
    if seconds is not None and major not in info.phase_times:
        info.phase_times[major] = seconds


@handlers.on("Total time = ", r"Total time = ([\d.]+) seconds")
def _total(m: re.Match[str], info: LogInfo) -> None:
    # Total time = 100.795 seconds. CPU (124.110%) Wed Nov 25 17:12:30 2026
    if info.total_time is None:
        info.total_time = to_float(m[1])
    advance(info, 5, 0)


@handlers.on("Copied final file from ", r'Copied final file from "(.*)" to "(.+)"$')
def _copied(m: re.Match[str], info: LogInfo) -> None:
    # Copied final file from "xfs/tmp2/plot-k22-xfs.plot.2.tmp" to "/mnt/dst/01/plot-k22-xfs.plot.2.tmp"
    advance(info, 5, 1)


@handlers.on("Removed temp2 file ", r'Removed temp2 file "(.*)"')
def _removed_temp2(m: re.Match[str], info: LogInfo) -> None:
    # Removed temp2 file "xfs/tmp2/plot-k22-xfs.plot.2.tmp"? 1
    advance(info, 5, 2)


@handlers.on("Renamed final file from ", r'Renamed final file from "(.*)" to "(.+)"$')
def _renamed(m: re.Match[str], info: LogInfo) -> None:
    # Renamed final file from "/mnt/tmp2/plot-k18-test.plot.2.tmp" to "/mnt/dst/00/plot-k18-test.plot"
    if info.completed:
        return
    set_plot_name(info, m[2])
    advance(info, 5, 3)
    info.completed = True


# --- Command line: `chia plots create` (and chia 2.x `chia plotters chiapos`, which takes the same spellings plus a
# few long aliases). parse: plotter_agent.cmdline.parse_options; build: build_argv.
OPTIONS = table(
    {
        "k": ("-k", "--size"),
        "count": ("-n", "--num", "--count"),
        "buffer": ("-b", "--buffer"),
        "threads": ("-r", "--num_threads", "--threads"),
        "buckets": ("-u", "--buckets"),
        "tmp": ("-t", "--tmp_dir"),
        "tmp2": ("-2", "--tmp2_dir", "--tmp_dir2"),
        "dst": ("-d", "--final_dir"),
        "farmer_pk": ("-f", "--farmer_public_key", "--farmerkey"),
        "pool_pk": ("-p", "--pool_public_key", "--pool-key"),
        "pool_contract_address": ("-c", "--pool_contract_address", "--contract"),
        "": ("-a", "--alt_fingerprint", "-i", "--plotid", "--id", "-m", "--memo", "--stripe"),
    },
    flags=("--override-k", "-e", "--nobitfield", "-x", "--exclude_final_dir", "--override_k"),
    flag_fields={
        "--override-k": "override_k",
        "--override_k": "override_k",
        "-e": "nobitfield",
        "--nobitfield": "nobitfield",
        "-x": "exclude_final_dir",
        "--exclude_final_dir": "exclude_final_dir",
    },
)


def build_argv(spec: PlotSpec, tmp: str, tmp2: str | None, dst: str) -> list[str]:
    """``chia plots create`` (or ``chia plotters chiapos``) for ``spec``; ``--override-k`` below k32, which chia
    requires for a test plot."""
    argv = [*spec.executable, *spec.command, "-k", str(spec.k)]
    if spec.override_k or spec.k < 32:
        argv.append("--override-k")
    argv += opt("-n", spec.count) + opt("-r", spec.threads) + opt("-u", spec.buckets) + opt("-b", spec.buffer_mib)
    argv += ["-t", tmp, *opt("-2", tmp2), "-d", dst]
    argv += opt("-f", spec.farmer_pk) + opt("-p", spec.pool_pk) + opt("-c", spec.pool_contract_address)
    if spec.nobitfield:
        argv.append("-e")
    if spec.exclude_final_dir:
        argv.append("-x")
    return argv + list(spec.extra_args)
