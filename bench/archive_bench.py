#!/usr/bin/env python3
"""Benchmark: the archiver against bare rsync, through real agents and real rsync daemons on loopback (issue 10).

Run from the repository root:  .venv/bin/python bench/archive_bench.py   (see bench/README.md; --help for options)
Needs root (the farmers' drives are tmpfs mounts) and Debian's rsync; everything lives in a temporary directory and
every agent, rsync and mount is gone at the end (also on error).

1. **One big plot** (`single`): a file of random bytes (real bytes: the farmer's Complete refuses sparse files) named
   as a k27 plot and sized as the smallest whole k27 plot the archiver accepts (2.28 GiB: no k has 2 GiB exactly in
   its plausible range, k26 tops out at 1.66 GiB). One plotter agent, one farmer agent with its rsync daemon and one
   tmpfs drive. Each round, one after the other (bare first in odd rounds, the archiver first in even ones): a bare
   `rsync SRC rsync://127.0.0.1:PORT/plots/d0/` of the same file to the same daemon and drive (wall time of the
   process), and the archiver moving it (a hard link of the file put into the plotter's dst dir with an old mtime;
   the time is from the farmer's log line of the Reserve to the plotter's log line "archived ...; source ...
   deleted", so it spans Reserve, rsync, Complete and the deletion; the time from putting the plot in the dst dir
   until its source is gone is printed too: it adds up to one archiver pass interval,
   0.5 s here). Each landed copy is removed before the next round.
   Ratio = archiver throughput / bare rsync throughput (target >= 0.95).
2. **A fleet** (`fleet`): 3 plotter agents (2 dst dirs each, `max_concurrent_transfers: 2`) and 2 farmer agents (3
   tmpfs drives each, one writer per drive, room for 7 plots each), 12 plots of random bytes sized as k23 plots
   (146 MiB; hard links of one file, each with its own plot name) put into the dst dirs at once once the agents are up.
   Wall time from then until every source is gone, against the ideal: total bytes / (parallel transfers x
   single-stream rate), parallel transfers = min(the plotters' max_concurrent_transfers summed, drives x writers) = 6,
   the single-stream rate from a bare rsync of one plot to a farmer drive with the same --bwlimit, measured in the same
   run (before and after the fleet run; the mean). Each transfer is limited to `--bwlimit-kbps` (default 20000 KiB/s):
   unlimited, 6 loopback streams on a 2-core machine are bound by the CPU and the ideal (6x one stream) cannot be
   reached by anything, so the limit stands in for a network link and the ratio measures the archiver's coordination
   (target >= 0.8). The fleet watch (testbed.archwatch) samples floors and writers meanwhile; violations are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from plotboss.plots import plausible_plot_size_range, plot_size
from testbed.archfleet import FarmerNode, Fleet, MountRefused, round_up
from testbed.archwatch import ARCHIVED_RE, RESERVED_RE, FleetWatch, final_checks, log_times, sha256_file

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
MiB = 2**20
OLD = 1_000_000_000.0  # an mtime long past: the archiver's settle time does not delay the benchmark's plots


def plot_name(k: int) -> str:
    return f"plot-k{k}-2026-01-01-00-00-{secrets.token_hex(32)}.plot"


def random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MiB)
            f.write(os.urandom(n))
            left -= n
    os.utime(path, (OLD, OLD))
    return path


def bare_rsync(src: Path, url: str, bwlimit_kbps: int = 0) -> float:
    argv = ["rsync", "--timeout=60"] + ([f"--bwlimit={bwlimit_kbps}"] if bwlimit_kbps else []) + [str(src), url]
    t0 = time.perf_counter()
    # in a session of its own, as the agent starts its rsync: with the kernel's autogroup scheduling (on by default)
    # each session is a CPU group of its own, and on a busy machine an rsync sharing the benchmark's session (with the
    # rsync daemon's receiver) gets less CPU than the agent's, which made the archiver look 1.2-2x faster than rsync
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, start_new_session=True)
    return time.perf_counter() - t0


def wait_gone(paths: list[Path], timeout_s: float, fleet: Fleet) -> float:
    """Until none of ``paths`` exists; the time it took. RuntimeError (with the agents' log tails) on timeout."""
    t0 = time.perf_counter()
    while any(p.exists() for p in paths):
        if time.perf_counter() - t0 > timeout_s:
            logs = [n.log for n in fleet.plotters] + [n.log for n in fleet.farmers]
            tails = "\n".join(
                f"--- {log}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:]) for log in logs
            )
            raise RuntimeError(f"not archived within {timeout_s:.0f} s: {[p for p in paths if p.exists()]}\n{tails}")
        time.sleep(0.02)
    return time.perf_counter() - t0


# --- 1. one big plot ----------------------------------------------------------------------------------------------


def bench_single(root: Path, k: int, size: int, rounds: int) -> dict[str, Any]:
    floor = 16 * MiB
    with Fleet(root) as fleet:
        farmer = fleet.add_farmer([size + floor + 64 * MiB], floor_bytes=floor, lease_s=60)
        plotter = fleet.add_plotter(n_dst=1, poll_s=0.5)
        master = random_file(root / "master.bin", size)
        fleet.start()
        drive = farmer.drives[0]
        rows: list[dict[str, Any]] = []
        for i in range(rounds):
            bare_first = i % 2 == 0  # alternate the order: whichever runs second finds the page cache as warm
            if bare_first:
                bare_s = bare_rsync(master, farmer.rsyncd.url("d0/"))
                (drive / master.name).unlink()
            src = plotter.dst[0] / plot_name(k)
            os.link(master, src)
            e2e_s = wait_gone([src], 600, fleet)
            reserved = log_times(farmer.log.read_text(errors="replace"), RESERVED_RE).get(src.name)
            archived = log_times(plotter.log.read_text(errors="replace"), ARCHIVED_RE).get(src.name)
            if reserved is None or archived is None:
                raise RuntimeError(f"round {i}: no 'reserved'/'archived' log line of {src.name}")
            arch_s = archived - reserved
            landed = drive / src.name
            if landed.stat().st_size != size:
                raise RuntimeError(f"round {i}: {landed} has {landed.stat().st_size} bytes, not {size}")
            landed.unlink()
            if not bare_first:
                bare_s = bare_rsync(master, farmer.rsyncd.url("d0/"))
                (drive / master.name).unlink()
            rows.append({"bare_s": bare_s, "archiver_s": arch_s, "end_to_end_s": e2e_s})
            print(
                f"  round {i + 1}: bare rsync {bare_s:6.2f} s ({size / bare_s / MiB:6.1f} MiB/s)   archiver "
                f"{arch_s:6.2f} s ({size / arch_s / MiB:6.1f} MiB/s)   ratio {bare_s / arch_s:5.3f}   "
                f"end to end {e2e_s:6.2f} s",
                flush=True,
            )
    bare = statistics.median(r["bare_s"] for r in rows)
    arch = statistics.median(r["archiver_s"] for r in rows)
    return {
        "k": k,
        "size_bytes": size,
        "rounds": rows,
        "median_bare_s": bare,
        "median_archiver_s": arch,
        "ratio": bare / arch,
        "ratios": [r["bare_s"] / r["archiver_s"] for r in rows],
        "end_to_end_ratios": [r["bare_s"] / r["end_to_end_s"] for r in rows],
    }


# --- 2. a fleet ---------------------------------------------------------------------------------------------------


def bare_parallel(master: Path, fleet: Fleet, streams: int, per_stream: int, bwlimit_kbps: int) -> float:
    """Wall time of ``streams`` bare rsyncs at once, each to a drive of its own, each sending ``per_stream`` copies
    one after the other: the archiver's transfer pattern without the archiver. The copies are removed after."""
    drives = [(f, i) for i in range(len(fleet.farmers[0].drives)) for f in fleet.farmers][:streams]
    errors: list[BaseException] = []

    def stream(farmer: FarmerNode, i: int) -> None:
        try:
            for j in range(per_stream):
                bare_rsync(master, farmer.rsyncd.url(f"d{i}/bare-{j}.bin"), bwlimit_kbps)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=stream, args=d) for d in drives]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for f, i in drives:
        for copy in f.drives[i].glob("bare-*.bin"):
            copy.unlink()
    if errors:
        raise RuntimeError(f"bare parallel rsync failed: {errors[0]}")
    return wall


def bench_fleet(root: Path, k: int, per_dir: int, bwlimit_kbps: int) -> dict[str, Any]:
    size = plot_size(k)
    floor = 4 * MiB
    slots = (2, 2, 3)
    slot = round_up(size)
    with Fleet(root) as fleet:
        farmers = [fleet.add_farmer([floor + n * slot for n in slots], floor_bytes=floor, lease_s=60) for _ in range(2)]
        plotters = [
            fleet.add_plotter(n_dst=2, max_concurrent_transfers=2, bwlimit_kbps=bwlimit_kbps, poll_s=0.5)
            for _ in range(3)
        ]
        master = random_file(root / "master.bin", size)
        digest = sha256_file(master)
        fleet.start()
        url = farmers[0].rsyncd.url("d0/")
        rate_before = size / bare_rsync(master, url, bwlimit_kbps)
        (farmers[0].drives[0] / master.name).unlink()
        parallel = min(sum(2 for _ in plotters), sum(len(f.drives) for f in farmers))
        bare_wall = bare_parallel(master, fleet, parallel, per_dir, bwlimit_kbps)
        watch = FleetWatch(fleet, interval_s=0.1)
        with watch:
            sources = []
            t0, t0_wall = time.perf_counter(), time.time()
            for p in plotters:
                for d in p.dst:
                    for _ in range(per_dir):
                        src = d / plot_name(k)
                        os.link(master, src)
                        sources.append(src)
            for src in sources:
                watch.add_source(src, digest)
            wait_gone(sources, 900, fleet)
            wall = time.perf_counter() - t0
        problems = watch.violations + watch.errors + final_checks(watch)
        reserved: dict[str, float] = {}
        archived: dict[str, float] = {}
        for f in farmers:
            reserved.update(log_times(f.log.read_text(errors="replace"), RESERVED_RE))
        for p in plotters:
            archived.update(log_times(p.log.read_text(errors="replace"), ARCHIVED_RE))
        spans = [(reserved[s.name] - t0_wall, archived[s.name] - t0_wall) for s in sources if s.name in archived]
        for f in farmers:
            for d in f.drives:
                for plot in d.glob("plot-*.plot"):
                    plot.unlink()
        rate_after = size / bare_rsync(master, url, bwlimit_kbps)
    rate = (rate_before + rate_after) / 2
    total = size * len(sources)
    ideal = total / (parallel * rate)
    return {
        "k": k,
        "plots": len(sources),
        "total_bytes": total,
        "bwlimit_kbps": bwlimit_kbps,
        "parallel": parallel,
        "single_stream_bps": [rate_before, rate_after],
        "bare_parallel_s": bare_wall,
        "wall_s": wall,
        "ideal_s": ideal,
        "ratio": ideal / wall,
        "ratio_to_bare_parallel": bare_wall / wall,
        # each plot: (its Reserve, its "archived" line), seconds after the plots were put in the dst dirs
        "spans": sorted(spans),
        "mean_in_flight": sum(b - a for a, b in spans) / wall,
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--only", choices=["single", "fleet"], help="run one part only")
    ap.add_argument("--runs", type=int, default=2, help="rounds of the single-plot part and fleet runs (default 2)")
    ap.add_argument("--k", type=int, default=27, help="k of the single big plot (its size: the smallest plausible)")
    ap.add_argument("--size-mib", type=int, default=0, help="the single plot's size instead (must be plausible)")
    ap.add_argument("--fleet-k", type=int, default=23, help="k of the fleet's plots (their documented size)")
    ap.add_argument("--per-dir", type=int, default=2, help="fleet plots per dst dir (default 2: 12 plots)")
    ap.add_argument("--bwlimit-kbps", type=int, default=20000, help="the fleet transfers' rsync --bwlimit (KiB/s)")
    ap.add_argument("--dir", type=Path, default=None, help="where to work (default: a temp dir under /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (agents' logs, configs) at the end")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("archive_bench: skipped: needs root (the farmers' drives are tmpfs mounts)", file=sys.stderr)
        return 0
    lo, hi = plausible_plot_size_range(args.k)
    size = args.size_mib * MiB if args.size_mib else round_up(lo, MiB)
    if not lo <= size <= hi:
        print(f"archive_bench: {size} bytes is not a plausible k{args.k} plot size ({lo}..{hi})", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="archive-bench-", dir=args.dir))
    os.environ.setdefault("PLOTBOSS_RUNTIME_DIR", str(base / "runtime"))
    (base / "runtime").mkdir(mode=0o700)
    print(f"archive_bench: {base}; load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs", flush=True)
    out: dict[str, Any] = {"load_avg_start": os.getloadavg()}
    try:
        if args.only in (None, "single"):
            print(f"\n1. one k{args.k} plot of {size / 2**30:.2f} GiB: archiver vs bare rsync, {args.runs} rounds")
            out["single"] = bench_single(base / "single", args.k, size, args.runs)
            s = out["single"]
            print(
                f"   median: bare rsync {s['median_bare_s']:.2f} s, archiver {s['median_archiver_s']:.2f} s; "
                f"throughput ratio archiver/bare {s['ratio']:.3f} (target >= 0.95)"
            )
        if args.only in (None, "fleet"):
            out["fleet"] = []
            for i in range(args.runs):
                what = f"3 plotters x 2 dst dirs x {args.per_dir} k{args.fleet_k} plots -> 2 farmers x 3 drives"
                print(f"\n2. fleet run {i + 1}: {what}")
                r = bench_fleet(base / f"fleet{i}", args.fleet_k, args.per_dir, args.bwlimit_kbps)
                out["fleet"].append(r)
                rates = ", ".join(f"{b / MiB:.1f}" for b in r["single_stream_bps"])
                print(
                    f"   {r['plots']} plots, {r['total_bytes'] / MiB:.0f} MiB; single stream {rates} MiB/s "
                    f"(--bwlimit={r['bwlimit_kbps']}); parallel {r['parallel']}\n"
                    f"   wall {r['wall_s']:.2f} s, ideal {r['ideal_s']:.2f} s, ratio ideal/wall {r['ratio']:.3f} "
                    f"(target >= 0.8); problems: {len(r['problems'])}\n"
                    f"   the same pattern by bare rsync ({r['parallel']} at once, {args.per_dir} each): "
                    f"{r['bare_parallel_s']:.2f} s, ratio bare/archiver {r['ratio_to_bare_parallel']:.3f}; "
                    f"transfers in flight on average {r['mean_in_flight']:.2f}, first Reserve after "
                    f"{min(a for a, _ in r['spans']):.2f} s"
                )
                for p in r["problems"][:10]:
                    print(f"     {p}")
    except (MountRefused, RuntimeError, subprocess.CalledProcessError) as e:
        print(f"archive_bench: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            subprocess.run(["rm", "-rf", str(base)], check=False)
    out["load_avg_end"] = os.getloadavg()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"archive_bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"\nresults: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
