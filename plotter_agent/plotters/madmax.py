"""Log handlers for madMAx ``chia_plot`` / ``chia_plot_k34``.

madMAx reports a step when it ends, so the minor is the step now running. The mapping is plotman's, line for line
(``tests/data/logs/plotman-madmax.marked``):

- 1:1  ``Plot Name: ...`` (table 1 starts); 1:N+1 after ``[P1] Table N took`` (capped at 7); ``Phase 1 took`` keeps
  1:7 (phase 2 starts on its first line)
- 2:1  ``[P2] max_table_size``; 2:9-N after ``[P2] Table N rewrite took`` (table 2 -> 2:7)
- n:0  ``Phase n-1 took ...`` for n = 3..5 (5:0: plotting done)
- 3:1  ``Wrote plot header``; 3:N after ``[P3-2] Table N took`` (tables N and N+1 next; capped at 6)
- 4:1  ``[P4] Starting to write C1 and C3 tables``; 4:2 ``[P4] Writing C2 table``
- 5:1  ``Started copy to ...``; 5:2 and ``completed`` on ``Renamed final plot to ...``
"""

from __future__ import annotations

import re

from plotter_agent.plotters.base import HandlerSet, LogInfo, Plotter, advance, is_other_plot, set_plot_name, to_float
from plotter_agent.plotters.options import PlotSpec, opt, table

handlers = HandlerSet(Plotter.MADMAX)
# Crafting plot 2 out of 2 (-n 2; the copy of plot 1 to the final dir may still be running and report later)
handlers.next_plot_on("Crafting plot ", r"Crafting plot \d+ out of ")


IDENTIFY_PREFIXES = ("Multi-threaded pipelined Chia",)


def identify(line: str) -> bool:
    # Multi-threaded pipelined Chia k33 plotter - 974d6e5
    return line.startswith("Multi-threaded pipelined Chia")


@handlers.on("Multi-threaded pipelined Chia", r"Multi-threaded pipelined Chia k(\d{2}) plotter")
def _banner(m: re.Match[str], info: LogInfo) -> None:
    # Multi-threaded pipelined Chia k33 plotter - 974d6e5
    if info.k is None:
        info.k = int(m[1])


@handlers.on("Final Directory:", r"Final Directory:\s*(.+)$")
def _dst(m: re.Match[str], info: LogInfo) -> None:
    # Final Directory: /farm/yards/902/fake_dst/
    if info.dst_dir is None:
        info.dst_dir = m[1]


@handlers.on("Working Directory:", r"Working Directory:\s*(.+)$")
def _tmp(m: re.Match[str], info: LogInfo) -> None:
    # Working Directory:   /farm/yards/902/
    if info.tmp_dir is None:
        info.tmp_dir = m[1]


@handlers.on("Working Directory 2:", r"Working Directory 2:\s*(.+)$")
def _tmp2(m: re.Match[str], info: LogInfo) -> None:
    # Working Directory 2: /farm/yards/902/fake_tmp2/
    if info.tmp2_dir is None:
        info.tmp2_dir = m[1]


@handlers.on("Number of Threads:", r"Number of Threads:\s*(\d{1,6})")
def _threads(m: re.Match[str], info: LogInfo) -> None:
    # Number of Threads: 8
    info.threads = int(m[1])


@handlers.on("Number of Buckets P1:", r"Number of Buckets P1:.*\((\d{1,7})\)")
def _buckets(m: re.Match[str], info: LogInfo) -> None:
    # Number of Buckets P1:    2^8 (256)
    info.buckets = int(m[1])


@handlers.on("Plot Name: ", r"Plot Name: (plot-\S+)$")
def _plot_name(m: re.Match[str], info: LogInfo) -> None:
    # Plot Name: plot-k33-2021-07-14-21-56-522acbd6308af7e229281352f746449134126482cfabd51d38e0f89745d21698
    if info.plot_name is None:
        name = m[1] if m[1].endswith(".plot") else m[1] + ".plot"
        set_plot_name(info, name)
    advance(info, 1, 1)


@handlers.on("[P1] Table ", r"\[P1\] Table ([1-7]) took")
def _p1(m: re.Match[str], info: LogInfo) -> None:
    # [P1] Table 2 took 300.748 sec, found 4295036171 matches
    advance(info, 1, min(int(m[1]) + 1, 7))


@handlers.on("[P2] max_table_size", r"\[P2\] max_table_size")
def _p2_start(m: re.Match[str], info: LogInfo) -> None:
    # [P2] max_table_size = 4295077044
    advance(info, 2, 1)


@handlers.on("[P2] Table ", r"\[P2\] Table ([2-7]) rewrite took")
def _p2(m: re.Match[str], info: LogInfo) -> None:
    # [P2] Table 7 rewrite took 95.6021 sec, dropped 0 entries (0 %)
    advance(info, 2, 9 - int(m[1]))


@handlers.on("Wrote plot header", r"Wrote plot header")
def _p3_start(m: re.Match[str], info: LogInfo) -> None:
    # Wrote plot header with 252 bytes
    advance(info, 3, 1)


@handlers.on("[P3-2] Table ", r"\[P3-2\] Table ([2-7]) took")
def _p3(m: re.Match[str], info: LogInfo) -> None:
    # [P3-2] Table 2 took 101.677 sec, wrote 3429447361 left entries, 3429447361 final
    advance(info, 3, min(int(m[1]), 6))


@handlers.on("[P4] Starting", r"\[P4\] Starting")
def _p4(m: re.Match[str], info: LogInfo) -> None:
    # [P4] Starting to write C1 and C3 tables
    advance(info, 4, 1)


@handlers.on("[P4] Writing C2", r"\[P4\] Writing C2 table")
def _p4_c2(m: re.Match[str], info: LogInfo) -> None:
    # [P4] Writing C2 table
    advance(info, 4, 2)


@handlers.on("Phase ", r"Phase ([1-4]) took ([\d.]+) sec")
def _phase_took(m: re.Match[str], info: LogInfo) -> None:
    # Phase 1 took 2197.52 sec
    # Phase 4 took 86.9555 sec, final plot size is 108836238815 bytes
    major = int(m[1])
    seconds = to_float(m[2])
    if seconds is not None and major not in info.phase_times:
        info.phase_times[major] = seconds
    if major >= 2:  # phase 2 starts on its own first line ([P2] max_table_size), as plotman has it
        advance(info, major + 1, 0)


@handlers.on("Total plot creation time was ", r"Total plot creation time was ([\d.]+) sec")
def _total(m: re.Match[str], info: LogInfo) -> None:
    # Total plot creation time was 4968.41 sec (82.8069 min)
    if info.total_time is None:
        info.total_time = to_float(m[1])
    advance(info, 5, 0)


@handlers.on("Started copy to ", r"Started copy to (.+)$")
def _copy(m: re.Match[str], info: LogInfo) -> None:
    # Started copy to /farm/yards/902/fake_dst/plot-k33-2021-07-14-21-56-522acbd6...d21698.plot
    if not is_other_plot(info, m[1]):
        set_plot_name(info, m[1])
        advance(info, 5, 1)


@handlers.on("Renamed final plot to ", r"Renamed final plot to (.+)$")
def _renamed(m: re.Match[str], info: LogInfo) -> None:
    # Renamed final plot to /farm/yards/902/fake_dst/plot-k33-2021-07-14-21-56-522acbd6...d21698.plot
    if is_other_plot(info, m[1]):
        return  # the background copy of an earlier plot of this job finished
    set_plot_name(info, m[1])
    advance(info, 5, 2)
    info.completed = True


# --- Command line: madMAx chia_plot / chia_plot_k34, and chia 2.x `chia plotters madmax`.
OPTIONS = table(
    {
        "k": ("-k", "--size"),
        "count": ("-n", "--count"),
        "threads": ("-r", "--threads"),
        "buckets": ("-u", "--buckets"),
        "tmp": ("-t", "--tmpdir", "--tmp_dir"),
        "tmp2": ("-2", "--tmpdir2", "--tmp_dir2"),
        "dst": ("-d", "--finaldir", "--final_dir"),
        "farmer_pk": ("-f", "--farmerkey"),
        "pool_pk": ("-p", "--poolkey", "--pool-key"),
        "pool_contract_address": ("-c", "--contract"),
        "buckets3": ("-v", "--buckets3"),
        "rmulti2": ("-K", "--rmulti2"),
        "": ("-x", "--port", "-s", "--stagedir"),
    },
    flags=("-w", "--waitforcopy", "-G", "--tmptoggle", "-D", "--directout", "-Z", "--unique", "--override-k"),
)


def _slash(path: str) -> str:
    # madMAx joins file names onto its dirs as strings: they must end with '/' (plotman adds it too)
    return path if path.endswith("/") else path + "/"


def build_argv(spec: PlotSpec, tmp: str, tmp2: str | None, dst: str) -> list[str]:
    """madMAx ``chia_plot`` (or ``chia plotters madmax``) for ``spec``."""
    argv = [*spec.executable, *spec.command, "-k", str(spec.k)]
    argv += opt("-n", spec.count) + opt("-r", spec.threads) + opt("-u", spec.buckets)
    argv += ["-t", _slash(tmp)] + (["-2", _slash(tmp2)] if tmp2 else []) + ["-d", _slash(dst)]
    argv += opt("-f", spec.farmer_pk) + opt("-p", spec.pool_pk) + opt("-c", spec.pool_contract_address)
    return argv + list(spec.extra_args)
