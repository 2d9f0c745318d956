"""Log handlers for bladebit: the RAM plotter (4 phases) and diskplot (3 phases; its phase 1 also writes the C tables).

Phase mapping:

- n:0  ``Running Phase n``
- 1:1  ``Generating F1`` / ``Generating f1``; 1:N ``Forward propagating to table N`` (RAM) or ``Table N`` (disk)
- 2:M  RAM ``Prunning table N`` -> M = 7 - N (6 -> 1 ... 2 -> 5); disk ``Finished marking table N`` -> M = 8 - N
- 3:N  ``Compressing tables N and N+1``
- 4:1  RAM ``Writing C1 table``
- n+1:0 ``Finished Phase n in ...``; 5:0 and ``completed`` on ``Finished plotting in ...`` (bladebit writes the final
  file itself, so the plot is in place by then)

Bladebit before 3.0 plots k=32 only, and its log names k only in the final file name, so k is taken as 32 until then.
"""

from __future__ import annotations

import re

from plotter_agent.plotters.base import (
    HandlerSet,
    LogInfo,
    Plotter,
    advance,
    is_other_plot,
    set_plot_name,
    to_float,
)
from plotter_agent.plotters.options import PlotSpec, opt, table

handlers = HandlerSet(Plotter.BLADEBIT)

_IDENTIFY_RE = re.compile(r"(Creating \d+ plots:$|\[Bladebit|Bladebit Chia Plotter)")


IDENTIFY_PREFIXES = ("Creating ", "[Bladebit", "Bladebit Chia Plotter")


def identify(line: str) -> bool:
    # Creating 1 plots:
    # [Bladebit Disk Plotter]
    # (bladebit 3.x, not in the samples: "Bladebit Chia Plotter")
    return _IDENTIFY_RE.match(line) is not None


@handlers.on("Output path", r"Output path\s*: (.+)$")
def _dst(m: re.Match[str], info: LogInfo) -> None:
    # Output path           : /mnt/tmp/01/manual-transfer/
    if info.dst_dir is None:
        info.dst_dir = m[1]


@handlers.on("Temp1 path", r"Temp1 path\s*: (.+)$")
def _tmp(m: re.Match[str], info: LogInfo) -> None:
    # Temp1 path     : /farm/yards/907/1
    if info.tmp_dir is None:
        info.tmp_dir = m[1]


@handlers.on("Temp2 path", r"Temp2 path\s*: (.+)$")
def _tmp2(m: re.Match[str], info: LogInfo) -> None:
    # Temp2 path     : /farm/yards/907/2
    if info.tmp2_dir is None:
        info.tmp2_dir = m[1]


@handlers.on("Thread count", r"Thread count\s*: (\d{1,6})")
def _threads(m: re.Match[str], info: LogInfo) -> None:
    # Thread count          : 88
    info.threads = int(m[1])


@handlers.on("Bucket count", r"Bucket count\s*: (\d{1,7})")
def _buckets(m: re.Match[str], info: LogInfo) -> None:
    # Bucket count   : 256
    info.buckets = int(m[1])


# Generating plot 2 / 2: <id> (bladebit -n 2)
# Generating plot 2: <id> (bladebit -n 0: plots until stopped; main.cpp leaves out " / M")
handlers.next_plot_on("Generating plot ", r"Generating plot \d+(?: / \d+)?: ")


@handlers.on("Generating plot ", r"Generating plot \d+(?: / \d+)?: ([0-9a-f]{64})$")
def _plot_id(m: re.Match[str], info: LogInfo) -> None:
    # Generating plot 1 / 1: 1fc7b57baae24da78e3bea44d58ab51f162a3ed4d242bab2fbcc24f6577d88b3
    # Generating plot 1: 1fc7b57baae24da78e3bea44d58ab51f162a3ed4d242bab2fbcc24f6577d88b3  (-n 0)
    if info.plot_id is None:
        info.plot_id = m[1]
    if info.k is None:
        info.k = 32


@handlers.on("Running Phase ", r"Running Phase ([1-4])$")
def _phase(m: re.Match[str], info: LogInfo) -> None:
    # Running Phase 1
    advance(info, int(m[1]), 0)


@handlers.on("Generating ", r"Generating [fF]1")
def _f1(m: re.Match[str], info: LogInfo) -> None:
    # Generating F1...
    # Generating f1...
    advance(info, 1, 1)


@handlers.on("Forward propagating to table ", r"Forward propagating to table ([2-7])")
def _p1_ram(m: re.Match[str], info: LogInfo) -> None:
    # Forward propagating to table 2...
    advance(info, 1, int(m[1]))


@handlers.on("Table ", r"Table ([2-7])$")
def _p1_disk(m: re.Match[str], info: LogInfo) -> None:
    # Table 2
    if info.phase[0] <= 1:
        advance(info, 1, int(m[1]))


@handlers.on("Prunning table ", r"Prunning table ([2-6])")
def _p2_ram(m: re.Match[str], info: LogInfo) -> None:
    # Prunning table 6...
    advance(info, 2, 7 - int(m[1]))


@handlers.on("Finished marking table ", r"Finished marking table ([2-6])")
def _p2_disk(m: re.Match[str], info: LogInfo) -> None:
    # Finished marking table 6 in 3.37 seconds.
    advance(info, 2, min(8 - int(m[1]), 5))


@handlers.on("Compressing tables ", r"Compressing tables ([1-6]) and [2-7]")
def _p3(m: re.Match[str], info: LogInfo) -> None:
    # Compressing tables 1 and 2...
    advance(info, 3, int(m[1]))


@handlers.on("Writing C1 table", r"Writing C1 table")
def _p4(m: re.Match[str], info: LogInfo) -> None:
    # Writing C1 table.
    advance(info, 4, 1)


@handlers.on("Finished Phase ", r"Finished Phase ([1-4]) in ([\d.]+) seconds")
def _phase_done(m: re.Match[str], info: LogInfo) -> None:
    # Finished Phase 1 in 313.98 seconds.
    # Finished Phase 1 in 526.48 seconds ( 8.8 minutes ).
    major = int(m[1])
    seconds = to_float(m[2])
    if seconds is not None and major not in info.phase_times:
        info.phase_times[major] = seconds
    advance(info, major + 1, 0)


@handlers.on("Plot ", r"Plot (\S+\.plot) finished writing to disk")
def _ram_written(m: re.Match[str], info: LogInfo) -> None:
    # Plot /mnt/tmp/01/manual-transfer/plot-k32-2021-08-29-22-22-1fc7b5...d88b3.plot finished writing to disk:
    if not is_other_plot(info, m[1]):  # with -n, plot 1 may finish writing while plot 2 runs
        set_plot_name(info, m[1])


@handlers.on("Finished writing plot ", r"Finished writing plot (\S+?)\.?$")
def _disk_written(m: re.Match[str], info: LogInfo) -> None:
    # Finished writing plot plot-k32-2022-05-04-00-44-8f781fecff9d78b83b7116580af550b62530a623750738a19dcea498a7a73010.plot.tmp.  # noqa: E501
    set_plot_name(info, m[1])


@handlers.on("Finished plotting in ", r"Finished plotting in ([\d.]+) seconds")
def _total(m: re.Match[str], info: LogInfo) -> None:
    # Finished plotting in 582.91 seconds (9.72 minutes).
    if info.total_time is None:
        info.total_time = to_float(m[1])
    advance(info, 5, 0)
    info.completed = True


# --- Command line: bladebit (v1 RAM, v2/v3 ramplot/diskplot/cudaplot), global and subcommand options together.
SUBCOMMANDS = ("ramplot", "diskplot", "cudaplot")
_KEYS = {
    "farmer_pk": ("-f", "--farmer-key"),
    "pool_pk": ("-p", "--pool-key"),
    "pool_contract_address": ("-c", "--pool-contract"),
}
OPTIONS = table(
    {
        "k": ("-k", "--size"),
        "count": ("-n", "--count"),
        "threads": ("-t", "--threads"),
        "buckets": ("-b", "--buckets"),
        "tmp": ("-t1", "--temp1"),
        "tmp2": ("-t2", "--temp2"),
        "compression": ("--compress", "-z"),
        **_KEYS,
        "": (
            "-i",
            "--plot-id",
            "--memo",
            "--cache",
            "--f1-threads",
            "--fp-threads",
            "--c-threads",
            "--p2-threads",
            "--p3-threads",
            "-d",
            "--device",
            "--check",
            "--check-threshold",
        ),
    },
    flags=(
        "-w",
        "--warm-start",
        "--show-memo",
        "-v",
        "--verbose",
        "-m",
        "--no-numa",
        "--no-cpu-affinity",
        "--no-t1-direct",
        "--no-t2-direct",
        "-s",
        "--sizes",
        "-a",
        "--alternate",
        "--unbounded",
        "--disk-128",
        "--disk-16",
        "--no-direct-io",
        "--benchmark",
    ),
    flag_fields={"-a": "alternate", "--alternate": "alternate"},
)

# chia 2.x `chia plotters bladebit ramplot|diskplot|cudaplot` (chia's own spellings)
CHIA_OPTIONS = table(
    {
        "k": ("-k", "--size"),
        "count": ("-n", "--count"),
        "threads": ("-r", "--threads"),
        "buckets": ("-u", "--buckets"),
        "tmp": ("-t", "--tmp_dir"),
        "tmp2": ("-2", "--tmp_dir2"),
        "dst": ("-d", "--final_dir"),
        "farmer_pk": ("-f", "--farmerkey"),
        "pool_pk": ("-p", "--pool-key"),
        "pool_contract_address": ("-c", "--contract"),
        "compression": ("--compress",),
        "": (
            "-i",
            "--id",
            "--memo",
            "--cache",
            "--f1_threads",
            "--fp_threads",
            "--c_threads",
            "--p2_threads",
            "--p3_threads",
            "--device",
            "--check",
            "--check-threshold",
            "--plot_dir",
        ),
    },
    flags=(
        "-w",
        "--warmstart",
        "--nonuma",
        "--no-numa",
        "--no-cpu-affinity",
        "-v",
        "--verbose",
        "--no-t1-direct",
        "--no-t2-direct",
        "--alternate",
        "--disk_128",
        "--disk_16",
        "--disk-128",
        "--disk-16",
    ),
    flag_fields={"--alternate": "alternate"},
)


def build_argv(spec: PlotSpec, tmp: str, tmp2: str | None, dst: str) -> list[str]:
    """bladebit for ``spec``: its own executable (``bladebit [global] ramplot|diskplot|cudaplot [sub] <dst>``) when
    ``spec.command`` is the mode alone, chia 2.x ``chia plotters bladebit <mode> ...`` when it starts with
    ``plotters``. Only diskplot gets tmp dirs; ramplot and cudaplot keep the plot in memory."""
    mode = spec.command[-1] if spec.command else "ramplot"
    disk = mode == "diskplot"
    if spec.command[:1] == ("plotters",):
        argv = [*spec.executable, *spec.command, "-k", str(spec.k), "-d", dst]
        argv += opt("-n", spec.count) + opt("-r", spec.threads) + opt("--compress", spec.compression)
        argv += opt("-f", spec.farmer_pk) + opt("-p", spec.pool_pk) + opt("-c", spec.pool_contract_address)
        if disk:
            argv += ["-t", tmp, *opt("-2", tmp2), *opt("-u", spec.buckets)]
            if spec.alternate:
                argv.append("--alternate")
        return argv + list(spec.extra_args)
    argv = [*spec.executable, "-k", str(spec.k), *opt("-n", spec.count), *opt("-t", spec.threads)]
    argv += opt("--compress", spec.compression)
    argv += opt("-f", spec.farmer_pk) + opt("-p", spec.pool_pk) + opt("-c", spec.pool_contract_address)
    argv.append(mode)
    if disk:
        argv += ["-t1", tmp, *opt("-t2", tmp2), *opt("-b", spec.buckets)]
        if spec.alternate:
            argv.append("--alternate")
    return argv + list(spec.extra_args) + [dst]
