#!/usr/bin/env python3
"""Benchmark: the farmer agent's reservation throughput and ListDrives latency, through real gRPC on loopback.

Run from the repository root:  .venv/bin/python bench/farmer_bench.py   (see bench/README.md; --help for options)

Set-up (all in a temporary directory, removed at the end): a real `plotboss-farmer` subprocess per part, drives as
plain dirs (`allow_non_mount: true`), its state file in the same dir (so every change is fsynced, as in production).

1. Reserve+Complete pairs per second: 10 drives with `max_writers_per_drive: 8`, 50 concurrent clients (spread over
   client processes so the client side's GIL is not what is measured). Each pair: Reserve a k=20 plot of 4 MiB, create
   the plot on the reserved drive with exactly that size (truncate: sparse, no data written), Complete. Reported: pairs
   per second over the window after a warm-up, the pair latency p50/p99, and refusals (should be 0).
2. ListDrives latency with 200 drives: one client calling ListDrives back to back (p50/p99/max), then 8 clients at once.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from testbed.agents import start_agent
from testbed.children import stop_process

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
MiB = 2**20
PLOT_SIZE = 4 * MiB


def write_config(root: Path, drives: int, writers: int) -> Path:
    farm = root / "farm"
    for i in range(drives):
        (farm / f"d{i:03d}").mkdir(parents=True, exist_ok=True)
    cfg = root / "farmer.yaml"
    cfg.write_text(
        "version: 1\n"
        "agent: {name: farmer-bench, listen: '127.0.0.1:0', poll_s: 1, probe_timeout_s: 5}\n"
        f"drives: {{paths: ['{farm}/*'], allow_non_mount: true, max_writers_per_drive: {writers}}}\n"
        f"rsyncd: {{host: 127.0.0.1, port: 873, module: plots, path: '{farm}'}}\n"
        "reservations: {lease_s: 120}\n"
    )
    return cfg


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def _client_proc(args: tuple[str, int, int, float, float]) -> dict[str, Any]:
    """One client process: ``threads`` clients doing Reserve+Complete pairs until ``end`` (epoch seconds)."""
    address, proc_no, threads, start, end = args
    import grpc

    from plotboss.localcred import local_token
    from plotboss.transport import dial
    from plotboss.v1 import farmer_pb2, farmer_pb2_grpc

    lat: list[float] = []
    counts = {"pairs": 0, "refused": 0, "errors": 0}
    lock = threading.Lock()

    def run(t: int) -> None:
        channel = dial(address, token=local_token(address), timeout_s=30)
        stub = farmer_pb2_grpc.FarmerServiceStub(channel)
        seq = 0
        while time.time() < end:
            seq += 1
            name = f"plot-k20-2021-05-05-12-34-{(proc_no << 48 | t << 32 | seq):064x}.plot"
            t0 = time.perf_counter()
            try:
                r = stub.Reserve(
                    farmer_pb2.ReserveRequest(plot_name=name, size_bytes=PLOT_SIZE, requester=f"bench-{proc_no}-{t}")
                ).reservation
                with open(os.path.join(r.drive_path, name), "wb") as f:
                    f.truncate(PLOT_SIZE)
                stub.Complete(farmer_pb2.CompleteRequest(reservation_id=r.id))
            except grpc.RpcError as e:
                with lock:
                    key = "refused" if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED else "errors"
                    counts[key] += 1
                    if key == "errors" and counts[key] <= 3:
                        print(f"client error: {e.code().name}: {e.details()}", file=sys.stderr)
                continue
            done = time.time()
            with lock:
                if done >= start:
                    counts["pairs"] += 1
                    lat.append(time.perf_counter() - t0)
        channel.close()

    ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    return {"lat": lat, **counts}


def bench_pairs(root: Path, clients: int, procs: int, seconds: float, warmup: float) -> dict[str, Any]:
    cfg = write_config(root, drives=10, writers=8)
    proc, port = start_agent("plotboss-farmer", cfg, "--log-level", "warning")
    try:
        address = f"127.0.0.1:{port}"
        start = time.time() + 1.0 + warmup
        end = start + seconds
        per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
        ctx = mp.get_context("spawn")
        with ctx.Pool(procs) as pool:
            results = pool.map(_client_proc, [(address, i, n, start, end) for i, n in enumerate(per)])
    finally:
        stop_process(proc)
    lat = [x for r in results for x in r["lat"]]
    pairs = sum(r["pairs"] for r in results)
    return {
        "clients": clients,
        "client_processes": procs,
        "seconds": seconds,
        "pairs": pairs,
        "pairs_per_s": pairs / seconds,
        "pair_p50_ms": pct(lat, 50) * 1e3,
        "pair_p99_ms": pct(lat, 99) * 1e3,
        "refused": sum(r["refused"] for r in results),
        "errors": sum(r["errors"] for r in results),
    }


def bench_list_drives(root: Path, drives: int, calls: int) -> dict[str, Any]:
    from plotboss.transport import dial
    from plotboss.v1 import farmer_pb2, farmer_pb2_grpc

    cfg = write_config(root, drives=drives, writers=1)
    proc, port = start_agent("plotboss-farmer", cfg, "--log-level", "warning")
    try:
        channel = dial(f"127.0.0.1:{port}", timeout_s=30)
        stub = farmer_pb2_grpc.FarmerServiceStub(channel)
        n = len(stub.ListDrives(farmer_pb2.ListDrivesRequest()).drives)
        assert n == drives, f"expected {drives} drives, got {n}"
        for _ in range(50):  # warm-up
            stub.ListDrives(farmer_pb2.ListDrivesRequest())
        lat: list[float] = []
        for _ in range(calls):
            t0 = time.perf_counter()
            stub.ListDrives(farmer_pb2.ListDrivesRequest())
            lat.append(time.perf_counter() - t0)
        conc: list[float] = []
        lock = threading.Lock()

        def worker() -> None:
            mine = []
            for _ in range(calls // 8):
                t0 = time.perf_counter()
                stub.ListDrives(farmer_pb2.ListDrivesRequest())
                mine.append(time.perf_counter() - t0)
            with lock:
                conc.extend(mine)

        ts = [threading.Thread(target=worker) for _ in range(8)]
        t_start = time.perf_counter()
        for th in ts:
            th.start()
        for th in ts:
            th.join()
        conc_wall = time.perf_counter() - t_start
        channel.close()
    finally:
        stop_process(proc)
    return {
        "drives": drives,
        "calls": calls,
        "p50_ms": pct(lat, 50) * 1e3,
        "p99_ms": pct(lat, 99) * 1e3,
        "max_ms": max(lat) * 1e3,
        "mean_ms": statistics.fmean(lat) * 1e3,
        "concurrent8_p50_ms": pct(conc, 50) * 1e3,
        "concurrent8_p99_ms": pct(conc, 99) * 1e3,
        "concurrent8_calls_per_s": len(conc) / conc_wall,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--client-procs", type=int, default=2, help="processes the clients are spread over")
    ap.add_argument("--seconds", type=float, default=10.0, help="measuring window of the Reserve+Complete part")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--drives", type=int, default=200, help="drives for the ListDrives part")
    ap.add_argument("--calls", type=int, default=2000, help="ListDrives calls (one client)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="farmer-bench-") as tmp:
        root = Path(tmp)
        pairs = bench_pairs(root / "pairs", args.clients, args.client_procs, args.seconds, args.warmup)
        listing = bench_list_drives(root / "list", args.drives, args.calls)
    cpus = os.cpu_count()
    print(f"\nfarmer agent benchmark ({cpus} CPUs, agent as a subprocess, gRPC on loopback)")
    print(f"{'measure':<52} {'value':>12}")
    rows = [
        (f"Reserve+Complete pairs/s, {pairs['clients']} clients, 10 drives", f"{pairs['pairs_per_s']:.0f}"),
        ("  pair latency p50 / p99 (ms)", f"{pairs['pair_p50_ms']:.1f} / {pairs['pair_p99_ms']:.1f}"),
        ("  refused / errors", f"{pairs['refused']} / {pairs['errors']}"),
        (
            f"ListDrives, {listing['drives']} drives, 1 client: p50 / p99 (ms)",
            f"{listing['p50_ms']:.2f} / {listing['p99_ms']:.2f}",
        ),
        ("  max (ms)", f"{listing['max_ms']:.2f}"),
        (
            "ListDrives, 8 clients at once: p50 / p99 (ms)",
            f"{listing['concurrent8_p50_ms']:.2f} / {listing['concurrent8_p99_ms']:.2f}",
        ),
        ("  calls/s", f"{listing['concurrent8_calls_per_s']:.0f}"),
    ]
    for k, v in rows:
        print(f"{k:<52} {v:>12}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    out = RESULTS_DIR / f"farmer_bench-{stamp}.json"
    command = " ".join([".venv/bin/python", "bench/farmer_bench.py", *(argv if argv is not None else sys.argv[1:])])
    out.write_text(json.dumps({"command": command, "cpus": cpus, "pairs": pairs, "list_drives": listing}, indent=2))
    print(f"\nresults: {out.relative_to(REPO)}")
    return 0 if pairs["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
