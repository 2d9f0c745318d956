"""Shared pieces of the archiver's integration tests: a real farmer agent (in this process, or as a process) behind a
real rsync daemon, plotter configs that archive to it, plots in a dst dir, and waiting for them to land."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from farmer_agent.app import FarmerAgent
from farmer_agent.config import FarmerConfig
from plotboss.plots import plot_size
from testbed.agents import LOCAL_TOKEN, InProcess, serve_in_process
from testbed.rsyncd import RsyncDaemon

K18 = plot_size(18)


def name(i: int, k: int = 18) -> str:
    return f"plot-k{k}-2021-05-05-12-34-{i:064x}.plot"


def sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def farmer_data(root: Path, rsyncd: RsyncDaemon, n_drives: int = 2, **over: Any) -> dict[str, Any]:
    for i in range(n_drives):
        (rsyncd.path / f"d{i}").mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "version": 1,
        "agent": {"name": "farmer-01", "listen": "127.0.0.1:0", "poll_s": 0.2, "probe_timeout_s": 2, "grace_s": 1},
        "drives": {"paths": [str(rsyncd.path / "*")], "allow_non_mount": True},
        "rsyncd": {"host": "127.0.0.1", "port": rsyncd.port, "module": "plots", "path": str(rsyncd.path)},
        "reservations": {"lease_s": 30, "state_file": str(root / "farmer-state.json")},
    }
    for k, v in over.items():
        data[k] = {**data.get(k, {}), **v}
    return data


def in_process_farmer(root: Path, rsyncd: RsyncDaemon, **over: Any) -> Iterator[InProcess[FarmerAgent]]:
    served = serve_in_process(
        FarmerAgent(FarmerConfig.model_validate(farmer_data(root, rsyncd, **over)), root / "f.yaml")
    )
    try:
        yield served
    finally:
        served.stop()


def plotter_data(root: Path, farmer_address: str, token: str | None = LOCAL_TOKEN, **archiving: Any) -> dict[str, Any]:
    for d in ("tmp", "dst", "logs", "transfers"):
        (root / d).mkdir(parents=True, exist_ok=True)
    farmer: dict[str, Any] = {"address": farmer_address, "name": "farmer-01"}
    if token is not None:
        farmer["token"] = {"value": token}
    return {
        "version": 1,
        "agent": {"name": "plotter-01", "listen": "127.0.0.1:0", "grace_s": 1, "poll_s": 0.3},
        "logging": {"plots": str(root / "logs"), "transfers": str(root / "transfers")},
        "directories": {"tmp": [str(root / "tmp")], "dst": [str(root / "dst")]},
        "archiving": {
            "farmers": [farmer],
            "polling_time_s": 0.3,
            "settle_s": 0,
            "retry_base_s": 1,
            "retry_cap_s": 5,
            **archiving,
        },
    }


def make_plots(dst: Path, ids: range, k: int = 18) -> dict[str, str]:
    """Plot-sized files of random bytes (oldest first by mtime); name -> sha256."""
    dst.mkdir(parents=True, exist_ok=True)
    out = {}
    for n, i in enumerate(ids):
        p = dst / name(i, k)
        p.write_bytes(os.urandom(plot_size(k)))
        os.utime(p, (1000.0 + n, 1000.0 + n))
        out[p.name] = sha256(p)
    return out


def landed(module: Path) -> dict[str, Path]:
    """Final plot files on the farmer's drives, by name."""
    return {p.name: p for p in module.glob("d*/*.plot")}


def wait_for(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)
