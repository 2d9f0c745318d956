"""Log handlers for bladebit: the RAM plotter (4 phases), diskplot (3 phases; its phase 1 also writes the C tables)
and cudaplot (3 phases, GPU).

The log says which mode runs (:attr:`LogInfo.mode`): ``[Bladebit Disk Plotter]`` -> ``disk``, ``[Bladebit CUDA
Plotter]`` -> ``cuda``, else ``ram`` (set on the RAM plotter's ``Allocating buffers.`` or its first ``Running Phase``).

RAM and diskplot phase numbers are plotman's, line for line (``tests/data/logs/plotman-bladebit{,2disk}.marked``):

- n:0  ``Running Phase n``; n+1:0 ``Finished Phase n in ...``
- phase 0, RAM: 0:1 ``Allocating buffers.``, 0:2 ``Generating plot``; disk: 0:1 ``Allocating memory``, 0:2 ``WARNING:
  Forcing warm start for testing.``, 0:3 ``Memory initialized.``, 0:4 ``Generating plot``, 0:5 ``Started plot.``
- 1:1  ``Finished F1 generation`` (``Generating F1`` stays 1:0); 1:N RAM ``Forward propagating to table N``, disk
  ``Table N``; disk 1:8 `` Phase 1 Total I/O wait time`` (the C tables are written next)
- 2:M  RAM ``Prunning table N`` -> M = 7 - N (6 -> 1 ... 2 -> 5); disk ``Table N I/O wait time`` after marking table N
  -> M = 7 - N, 2:5 ``Phase 2 Total I/O wait time``
- 3:N  ``Compressing tables N and N+1``; disk also 3:N+1 on ``Finished compressing tables N and N+1``, 3:7 ``Writing P7
  parks``, 3:8 ``P7 I/O wait time``
- 4:M  RAM ``Writing P7`` -> 4:1, ``Writing C1/C2/C3 table`` -> 4:2/4:3/4:4; disk 4:1 ``Waiting for plot file to
  complete pending writes``, 4:2 ``Completed pending writes``
- 5:0  RAM ``Finished Phase 4``; 5:1 ``Writing final plot tables to disk`` (the last plot of a job only)
- ``completed`` on ``Finished plotting in ...`` (bladebit writes the final file itself, so the plot is in place by
  then). plotman's diskplot never reaches 5:0; we set 5:0 on that line, as for every plotter whose plot is done.

cudaplot (``bladebit_cuda ... cudaplot``, bladebit 3.x) has no plotman mapping and no sample from a real run here: its
handlers follow the ``Log::Line`` calls of bladebit's source (``cuda/CudaPlotter.cu``, ``CudaPlotPhase2.cu``,
``CudaPlotPhase3.cu``, ``src/main.cpp``). It reports a step when it ends, so, as for madMAx, the minor is the step
now running:

- 0:1 ``Allocating buffers (this may take a few seconds)...``; 0:2 ``Generating plot``
- 1:1 ``Generating F1``; 1:2 ``Finished F1 in``; 1:N+1 ``Table N completed in`` (capped at 7: table 7 is finalised,
  with the C tables, before phase 1 ends)
- 2:1 ``Completed Phase 1 in`` (marking starts at once); 2:8-N after ``Marked Table N`` (bladebit prints the L table)
- 3:0 ``Completed Phase 2 in``; 3:N ``Compressing Table(s) N and N+1...``; 3:7 ``Serializing P7 entries``
- 4:0 ``Completed Phase 3 in``; 5:0 ``Completed Plot 1 in`` (bladebit always prints "Plot 1"); 5:1 and ``completed``
  on ``Completed writing plot in`` (the writer renamed the ``.plot.tmp``)

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

RAM, DISK, CUDA = "ram", "disk", "cuda"

_IDENTIFY_RE = re.compile(r"(Creating \d+ plots:$|\[Bladebit|Bladebit Chia Plotter)")


IDENTIFY_PREFIXES = ("Creating ", "[Bladebit", "Bladebit Chia Plotter")


def identify(line: str) -> bool:
    # Creating 1 plots:
    # [Bladebit Disk Plotter]
    # Bladebit Chia Plotter  (bladebit 3.x, src/main.cpp; not in the samples)
    return _IDENTIFY_RE.match(line) is not None


@handlers.on("[Bladebit ", r"\[Bladebit (Disk|CUDA) Plotter\]")
def _mode(m: re.Match[str], info: LogInfo) -> None:
    # [Bladebit Disk Plotter]
    # [Bladebit CUDA Plotter]  (cuda/CudaPlotter.cu)
    info.mode = DISK if m[1] == "Disk" else CUDA


def _in(info: LogInfo, mode: str) -> bool:
    """Whether the log is of ``mode``; a log that named none is a RAM plotter's."""
    return (info.mode or RAM) == mode


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


@handlers.on("Allocating buffers", r"Allocating buffers(\.| \(this may take)")
def _allocating(m: re.Match[str], info: LogInfo) -> None:
    # Allocating buffers.
    # Allocating buffers (this may take a few seconds)...  (cudaplot)
    if info.mode is None:
        info.mode = RAM
    advance(info, 0, 1)


@handlers.on("Allocating memory", r"Allocating memory$")
def _disk_allocating(m: re.Match[str], info: LogInfo) -> None:
    #  Allocating memory
    advance(info, 0, 1)


@handlers.on("WARNING: Forcing warm start", r"WARNING: *Forcing warm start for testing\.$")
def _disk_forced_warm_start(m: re.Match[str], info: LogInfo) -> None:
    # WARNING: Forcing warm start for testing.
    advance(info, 0, 2)


@handlers.on("Memory initialized", r"Memory initialized\.$")
def _disk_memory(m: re.Match[str], info: LogInfo) -> None:
    # Memory initialized.
    advance(info, 0, 3)


@handlers.on("Started plot.", r"Started plot\.$")
def _disk_started(m: re.Match[str], info: LogInfo) -> None:
    # Started plot.
    advance(info, 0, 5)


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
    advance(info, 0, 4 if _in(info, DISK) else 2)


@handlers.on("Plot temporary file: ", r"Plot temporary file: (\S+\.plot\.tmp)$")
def _tmp_file(m: re.Match[str], info: LogInfo) -> None:
    # Plot temporary file: /mnt/dst/plot-k32-c07-2024-03-04-10-00-<id>.plot.tmp  (bladebit 3.x, src/main.cpp)
    if info.plot_name is None:
        set_plot_name(info, m[1])
    if info.dst_dir is None and "/" in m[1]:
        info.dst_dir = m[1].rsplit("/", 1)[0] or "/"  # bladebit 3.x no longer prints an "Output path" line


@handlers.on("Running Phase ", r"Running Phase ([1-4])$")
def _phase(m: re.Match[str], info: LogInfo) -> None:
    # Running Phase 1
    if info.mode is None:
        info.mode = RAM
    advance(info, int(m[1]), 0)


@handlers.on("Generating ", r"Generating [fF]1")
def _f1(m: re.Match[str], info: LogInfo) -> None:
    # Generating F1...
    # Generating f1...
    # Generating F1  (cudaplot)
    advance(info, 1, 1 if _in(info, CUDA) else 0)


@handlers.on("Finished ", r"Finished [fF]1 (?:generation )?in ")
def _f1_done(m: re.Match[str], info: LogInfo) -> None:
    # Finished F1 generation in 6.93 seconds.
    # Finished f1 generation in 7.11 seconds.
    # Finished F1 in 1.20 seconds.  (cudaplot)
    advance(info, 1, 2 if _in(info, CUDA) else 1)


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


@handlers.on("Table ", r"Table ([2-6]) I/O wait time")
def _p2_disk(m: re.Match[str], info: LogInfo) -> None:
    # Table 6 I/O wait time: 0.00 seconds.  (after "Finished marking table 6"; the line is in phases 1 and 3 too)
    if info.phase[0] == 2:
        advance(info, 2, 7 - int(m[1]))


@handlers.on("Phase ", r"Phase ([12]) Total I/O wait time")
def _disk_phase_io(m: re.Match[str], info: LogInfo) -> None:
    #  Phase 1 Total I/O wait time: 0.76
    #  Phase 2 Total I/O wait time: 0.00 seconds.
    major = int(m[1])
    advance(info, major, 8 if major == 1 else 5)


@handlers.on("Compressing ", r"Compressing [tT]ables? ([1-6]) and [2-7]")
def _p3(m: re.Match[str], info: LogInfo) -> None:
    # Compressing tables 1 and 2...
    # Compressing tables 1 and 2.  (diskplot)
    # Compressing Table 1 and 2...  (cudaplot's first table pair)
    advance(info, 3, int(m[1]))


@handlers.on("Finished compressing tables ", r"Finished compressing tables ([1-6]) and [2-7]")
def _p3_disk_done(m: re.Match[str], info: LogInfo) -> None:
    # Finished compressing tables 1 and 2 in 87.02 seconds.
    if _in(info, DISK):
        advance(info, 3, int(m[1]) + 1)


@handlers.on("Writing P7 parks", r"Writing P7 parks")
def _disk_p7(m: re.Match[str], info: LogInfo) -> None:
    # Writing P7 parks.
    advance(info, 3, 7)


@handlers.on("P7 I/O wait time", r"P7 I/O wait time")
def _disk_p7_io(m: re.Match[str], info: LogInfo) -> None:
    # P7 I/O wait time: 1.81 seconds
    advance(info, 3, 8)


@handlers.on("Writing ", r"Writing (P7|C1 table|C2 table|C3 table)\.$")
def _p4(m: re.Match[str], info: LogInfo) -> None:
    # Writing P7.
    # Writing C1 table.
    advance(info, 4, ("P7", "C1 table", "C2 table", "C3 table").index(m[1]) + 1)


@handlers.on("Writing final plot tables to disk", r"Writing final plot tables to disk")
def _ram_final_write(m: re.Match[str], info: LogInfo) -> None:
    # Writing final plot tables to disk
    advance(info, 5, 1)


@handlers.on("Waiting for plot file", r"Waiting for plot file to complete pending writes")
def _disk_waiting(m: re.Match[str], info: LogInfo) -> None:
    # Waiting for plot file to complete pending writes...
    advance(info, 4, 1)


@handlers.on("Completed pending writes", r"Completed pending writes in ")
def _disk_written_pending(m: re.Match[str], info: LogInfo) -> None:
    # Completed pending writes in 0.00 seconds.
    advance(info, 4, 2)


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


# -- cudaplot (bladebit 3.x); lines from bladebit's source, see the module doc --------------------------------------


@handlers.on("Table ", r"Table ([2-7]) completed in ")
def _cuda_p1(m: re.Match[str], info: LogInfo) -> None:
    # Table 2 completed in 3.42 seconds with 4294967296 entries.  (cuda/CudaPlotter.cu, FpTable)
    advance(info, 1, min(int(m[1]) + 1, 7))


@handlers.on("Completed Phase ", r"Completed Phase ([1-3]) in ([\d.]+) seconds")
def _cuda_phase_done(m: re.Match[str], info: LogInfo) -> None:
    # Completed Phase 1 in 30.55 seconds  (cuda/CudaPlotter.cu, MakePlot)
    major = int(m[1])
    seconds = to_float(m[2])
    if seconds is not None and major not in info.phase_times:
        info.phase_times[major] = seconds
    advance(info, major + 1, 1 if major == 1 else 0)  # marking (phase 2) starts at once and has no line of its own


@handlers.on("Marked Table ", r"Marked Table ([2-6]) in ")
def _cuda_p2(m: re.Match[str], info: LogInfo) -> None:
    # Marked Table 6 in 0.82 seconds.  (cuda/CudaPlotPhase2.cu; the number is the L table marked)
    advance(info, 2, 8 - int(m[1]))


@handlers.on("Serializing P7 entries", r"Serializing P7 entries")
def _cuda_p7(m: re.Match[str], info: LogInfo) -> None:
    # Serializing P7 entries  (cuda/CudaPlotPhase3.cu)
    advance(info, 3, 7)


@handlers.on("Completed Plot ", r"Completed Plot \d+ in ([\d.]+) seconds")
def _cuda_total(m: re.Match[str], info: LogInfo) -> None:
    # Completed Plot 1 in 95.12 seconds ( 1.59 minutes )  (cuda/CudaPlotter.cu; "Plot 1" for every plot)
    if info.total_time is None:
        info.total_time = to_float(m[1])
    advance(info, 5, 0)


@handlers.on("Completed writing plot in ", r"Completed writing plot in ")
def _cuda_written(m: re.Match[str], info: LogInfo) -> None:
    # Completed writing plot in 2.31 seconds  (cuda/CudaPlotter.cu, Run: the writer renamed the .plot.tmp)
    if info.phase >= (5, 0):
        advance(info, 5, 1)
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
