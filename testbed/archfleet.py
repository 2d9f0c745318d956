"""An archiving fleet on loopback, for the fleet test and the archive benchmark: real plotter agents (each with its own
dst dirs, tmp dir, plot log dir and transfer log dir) and real farmer agents, each with its own rsync daemon and small
drives that really fill (tmpfs mounts of a given size, as root). Configs are written as YAML files; agents run as
processes (``plotboss-plotter`` / ``plotboss-farmer`` from the interpreter's venv).

``Fleet`` is a context manager: leaving it stops every agent and plot job it started (with their sessions), every
rsync daemon, and unmounts every drive, also when the body failed. Mounting a tmpfs needs CAP_SYS_ADMIN: without it
``add_farmer`` raises :class:`MountRefused` (tests skip with its message).

What runs where, per fleet root::

    ROOT/farmer-0N/   farmer.yaml, farmer.out (the agent's log), state.json, rsyncd/ (conf, log), module/dK (mounts)
    ROOT/plotter-0N/  plotter.yaml, plotter.out, tmp/, dst0/, dst1/, logs/ (plot logs), transfers/ (rsync logs)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed.agents import start_agent, write_yaml
from testbed.children import stop_process
from testbed.rsyncd import RsyncDaemon, start_rsyncd
from testbed.standin import chia_cmd, start_chia_job

PAGE = 4096


class MountRefused(RuntimeError):
    """This machine does not let us mount a tmpfs (not root, or no CAP_SYS_ADMIN)."""


def round_up(n: int, to: int = PAGE) -> int:
    return -(-n // to) * to


def mount_tmpfs(path: Path, size_bytes: int) -> None:
    """Mount a tmpfs of ``size_bytes`` (a multiple of the page size) on ``path``; MountRefused when not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        raise MountRefused(f"cannot mount a tmpfs on {path}: needs root (CAP_SYS_ADMIN)")
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if out.returncode != 0:
        raise MountRefused(f"cannot mount a tmpfs on {path} (needs CAP_SYS_ADMIN): {out.stderr.strip()}")


def unmount(path: Path) -> None:
    """Unmount ``path`` (lazily when busy); never raises."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


@dataclass
class FarmerNode:
    name: str
    root: Path
    token: str
    rsyncd: RsyncDaemon
    drives: list[Path]
    floor_bytes: int
    max_writers: int
    config: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.config.with_suffix(".out")


@dataclass
class PlotterNode:
    name: str
    root: Path
    tmp: Path
    dst: list[Path]
    logs: Path
    transfers: Path
    config: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    jobs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.config.with_suffix(".out")


def make_plots(
    jobs: list[tuple[int, Path, int]], tmp: Path, parallel: int = 2, job_timeout_s: float = 120.0
) -> list[Path]:
    """Make real plots with the chia stand-in: each (k, dst dir, count) is one process with ``-n count``, at most
    ``parallel`` at a time. Returns the plot files made (RuntimeError naming the log when a job fails).

    A job still running after ``job_timeout_s`` is killed and run once more from a fresh tmp dir: chiapos now and then
    spins for good in a bucket's quicksort at small k (seen once in ~60 k18 plots: "Bucket 15 QS ... force_qs: 1",
    minutes of CPU, no progress)."""
    tmp.mkdir(parents=True, exist_ok=True)
    pending = [(i, job, 0) for i, job in enumerate(jobs)]
    running: list[tuple[int, tuple[int, Path, int], int, subprocess.Popen[bytes], Path, float]] = []
    made: list[Path] = []
    before = {d: set(d.glob("plot-*.plot")) for _k, d, _n in jobs}
    try:
        while pending or running:
            while pending and len(running) < parallel:
                i, (k, dst, n), tries = pending.pop(0)
                log = tmp / f"premade-{i}-{tries}.log"
                job_tmp = tmp / f"premade-{i}-{tries}"
                cmd = chia_cmd(k, job_tmp, dst, buckets=16, buffer_mib=100, threads=1, extra=["-n", str(n)])
                with open(log, "wb") as out:
                    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
                running.append((i, (k, dst, n), tries, p, log, time.monotonic()))
            for entry in list(running):
                i, job, tries, p, log, started = entry
                if p.poll() is None and time.monotonic() - started < job_timeout_s:
                    continue
                running.remove(entry)
                if p.poll() is None:
                    stop_process(p)
                    if tries >= 1:
                        raise RuntimeError(f"making plots: stuck twice (over {job_timeout_s:.0f} s): {log}")
                    pending.append((i, job, tries + 1))
                elif p.returncode != 0:
                    raise RuntimeError(f"making plots failed (exit {p.returncode}): {log.read_text(errors='replace')}")
            time.sleep(0.1)
    finally:
        for entry in running:
            stop_process(entry[3])
    for _k, d, _n in jobs:
        made += sorted(set(d.glob("plot-*.plot")) - before[d])
    return made


def transfer_pids(transfers: Path) -> list[int]:
    """The rsync processes a plotter agent started: those whose ``--log-file`` is in its transfer log dir."""
    import psutil

    mine = []
    for proc in psutil.process_iter(["cmdline"]):
        argv = proc.info["cmdline"] or []
        if (
            argv
            and os.path.basename(argv[0]) == "rsync"
            and any(
                a.startswith("--log-file=") and Path(a.removeprefix("--log-file=")).parent == transfers for a in argv
            )
        ):
            mine.append(proc.pid)
    return mine


def kill_transfers(transfers: Path) -> None:
    """SIGKILL the rsync processes of the plotter whose transfer log dir is ``transfers`` (they run in their own
    sessions, so stopping the agent leaves them running); never raises."""
    for pid in transfer_pids(transfers):
        with contextlib.suppress(OSError):
            os.kill(pid, 9)


class Fleet:
    """Farmers and plotters under ``root``; use as a context manager (see the module doc)."""

    def __init__(self, root: Path, *, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.env = env
        self.farmers: list[FarmerNode] = []
        self.plotters: list[PlotterNode] = []
        self._mounts: list[Path] = []
        self._daemons: list[RsyncDaemon] = []

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- farmers ----------------------------------------------------------------------------------------------------

    def add_farmer(
        self,
        drive_bytes: list[int],
        *,
        floor_bytes: int,
        max_writers: int = 1,
        lease_s: float = 30.0,
        poll_s: float = 0.5,
        policy: str = "most_free",
    ) -> FarmerNode:
        """A farmer with one tmpfs drive per entry of ``drive_bytes`` (each rounded up to a page) under its rsync
        daemon's module; not started (``start``)."""
        name = f"farmer-{len(self.farmers) + 1:02d}"
        root = self.root / name
        module = root / "module"
        drives: list[Path] = []
        for i, size in enumerate(drive_bytes):
            d = module / f"d{i}"
            mount_tmpfs(d, round_up(size))
            self._mounts.append(d)
            drives.append(d)
        daemon = start_rsyncd(root / "rsyncd", module)
        self._daemons.append(daemon)
        token = secrets.token_hex(24)
        data: dict[str, Any] = {
            "version": 1,
            "agent": {
                "name": name,
                "listen": "127.0.0.1:0",
                "poll_s": poll_s,
                "grace_s": 2,
                "tokens": {"control": [{"value": token}]},
            },
            "drives": {
                "paths": [str(module / "*")],
                "allow_non_mount": False,
                "min_free_bytes": floor_bytes,
                "max_writers_per_drive": max_writers,
                "policy": policy,
            },
            "rsyncd": {"host": "127.0.0.1", "port": daemon.port, "module": daemon.module, "path": str(module)},
            "reservations": {"lease_s": lease_s, "state_file": str(root / "state.json")},
        }
        node = FarmerNode(
            name, root, token, daemon, drives, floor_bytes, max_writers, write_yaml(root / "farmer.yaml", data)
        )
        self.farmers.append(node)
        return node

    # --- plotters ---------------------------------------------------------------------------------------------------

    def add_plotter(
        self,
        *,
        n_dst: int = 2,
        max_concurrent_transfers: int = 1,
        bwlimit_kbps: int = 0,
        poll_s: float = 0.5,
        polling_time_s: float = 0.5,
        archiving: dict[str, Any] | None = None,
    ) -> PlotterNode:
        """A plotter whose ``archiving.farmers`` are every farmer added so far; not started (``start``).
        ``archiving`` adds (or overrides) keys of the archiving section."""
        name = f"plotter-{len(self.plotters) + 1:02d}"
        root = self.root / name
        tmp, logs, transfers = root / "tmp", root / "logs", root / "transfers"
        dst = [root / f"dst{i}" for i in range(n_dst)]
        for d in (tmp, logs, transfers, *dst):
            d.mkdir(parents=True, exist_ok=True)
        section: dict[str, Any] = {
            "farmers": self._targets(),
            "max_concurrent_transfers": max_concurrent_transfers,
            "polling_time_s": polling_time_s,
            "rsync": {"bwlimit_kbps": bwlimit_kbps},
            **(archiving or {}),
        }
        data: dict[str, Any] = {
            "version": 1,
            "agent": {"name": name, "listen": "127.0.0.1:0", "poll_s": poll_s, "grace_s": 2},
            "logging": {"plots": str(logs), "transfers": str(transfers)},
            "directories": {"tmp": [str(tmp)], "dst": [str(d) for d in dst]},
            "archiving": section,
        }
        node = PlotterNode(name, root, tmp, dst, logs, transfers, root / "plotter.yaml")
        node.config = write_yaml(node.config, data)
        self.plotters.append(node)
        return node

    def start_job(self, plotter: PlotterNode, k: int, dst: Path, count: int = 1) -> subprocess.Popen[bytes]:
        """A stand-in plot job the plotter agent sees (its log in the agent's plot log dir), ``count`` plots."""
        n = len(plotter.jobs)
        job = start_chia_job(
            k,
            plotter.tmp / f"job{n}",
            dst,
            plotter.logs / f"{plotter.name}-job{n}.log",
            buffer_mib=100,
            threads=1,
            extra=["-n", str(count)],
        )
        plotter.jobs.append(job)
        return job

    # --- running ----------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start every farmer agent, then every plotter agent (a plotter's config names the farmers' addresses, so
        the plotter configs are written again with the ports the farmers bound)."""
        for f in self.farmers:
            if f.proc is None:
                f.proc, f.port = start_agent("plotboss-farmer", f.config, env=self.env)
        for p in self.plotters:
            self._point_at_farmers(p)
            if p.proc is None:
                p.proc, p.port = start_agent("plotboss-plotter", p.config, env=self.env)

    def _point_at_farmers(self, p: PlotterNode) -> None:
        import yaml

        data = yaml.safe_load(p.config.read_text())
        data["archiving"]["farmers"] = self._targets()
        write_yaml(p.config, data)

    def _targets(self) -> list[dict[str, Any]]:
        """The plotters' ``archiving.farmers``: every farmer, by name, with its control token."""
        return [{"address": f.address, "name": f.name, "token": {"value": f.token}} for f in self.farmers]

    def jobs_running(self) -> bool:
        return any(j.poll() is None for p in self.plotters for j in p.jobs)

    def close(self) -> None:
        """Stop plotters (their rsync children are in their own sessions: left to die on the daemon's end), jobs,
        farmers, rsync daemons; unmount the drives. Never raises."""
        for p in self.plotters:
            for j in p.jobs:
                stop_process(j)
            if p.proc is not None:
                stop_process(p.proc)
            kill_transfers(p.transfers)
        for f in self.farmers:
            if f.proc is not None:
                stop_process(f.proc)
        for d in self._daemons:
            with contextlib.suppress(Exception):
                d.stop()
        for path in reversed(self._mounts):
            unmount(path)
        self._mounts.clear()
