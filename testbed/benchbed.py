"""The plotting machine the status, fleet and load benchmarks share: tmp/dst/log dirs under one root, 8 (or N) real
plot jobs stopped in phase 1, plotter agents configured for those dirs, and the environment every process of a run
gets."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from testbed.agents import start_agent, wait_for_jobs
from testbed.children import stop_process
from testbed.jobfleet import Fleet
from testbed.logstamp import plotman_log_name
from testbed.standin import CHIA


def plotter_yaml(
    tmp_dirs: Sequence[Path], dst: Path, log_dir: Path, state: Path, poll_s: float, name: str = "bench-plotter"
) -> str:
    """A plotter.yaml naming these dirs that starts no jobs (global_max_jobs: 0): the agent only watches. Its plotting
    section names the chia stand-in (k=22 needs ``test_plots``), which the agent checks for at start."""
    tmp = ", ".join(str(d) for d in tmp_dirs)
    return f"""\
version: 1
agent: {{name: {name}, listen: "127.0.0.1:0", poll_s: {poll_s}}}
logging: {{plots: {log_dir}, transfers: {state / "transfers"}}}
directories: {{tmp: [{tmp}], dst: [{dst}]}}
scheduling: {{global_max_jobs: 0}}
plotting:
  type: chia
  chia: {{executable: {CHIA}, test_plots: true, k: 22, n_threads: 2, n_buckets: 16, job_buffer: 200}}
"""


@dataclass
class Bed:
    """Dirs under ``root`` and the environment of every process of the run (XDG dirs and the agents' local credentials
    under ``root`` too, so nothing outside it is read or written)."""

    root: Path
    tmp_dirs: list[Path]
    dst: Path
    log_dir: Path
    state: Path
    env: dict[str, str]
    fleet: Fleet = field(default_factory=Fleet)
    agents: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def make(cls, root: Path, tmp_dirs: int = 4) -> Bed:
        tmp = [root / "tmp" / f"{i:02d}" for i in range(tmp_dirs)]
        bed = cls(root, tmp, root / "dst" / "00", root / "logs" / "plots", root / "state", dict(os.environ))
        for d in [*bed.tmp_dirs, bed.dst, bed.log_dir, bed.state / "transfers", root / "xdg-config", root / "run"]:
            d.mkdir(parents=True, exist_ok=True)
        bed.env.update(
            XDG_CONFIG_HOME=str(root / "xdg-config"),
            XDG_DATA_HOME=str(root / "xdg-data"),
            XDG_CACHE_HOME=str(root / "xdg-cache"),
            XDG_STATE_HOME=str(root / "xdg-state"),
            PLOTBOSS_RUNTIME_DIR=str(root / "run"),
            COLUMNS="120",  # plotman (use_stty_size off) renders at 120 columns; give rich the same width
        )
        return bed

    def start_stopped_jobs(self, jobs: int, k: int, seconds_in_phase1: float, timeout_s: float = 120.0) -> list[int]:
        """Start ``jobs`` chia stand-in jobs over the tmp dirs, logs in the log dir under plotman's names; once every
        one is ``seconds_in_phase1`` into phase 1, SIGSTOP them all (on 2 cores running jobs swamp any timing; stopped,
        they are still plot jobs with open logs). Their pids. :meth:`close` resumes and kills them."""
        base = dt.datetime.now().astimezone()
        for i in range(jobs):
            log = self.log_dir / plotman_log_name(base + dt.timedelta(microseconds=i + 1))
            self.fleet.start(k, self.tmp_dirs[i % len(self.tmp_dirs)], self.dst, log)
        self.fleet.wait_in_phase1(seconds_in_phase1, timeout_s=timeout_s)
        self.fleet.signal_all(signal.SIGSTOP)
        if not self.fleet.all_alive():
            raise RuntimeError("a plot job ended before it was stopped")
        return [p.pid for p in self.fleet.procs]

    def plotter_config(self, name: str, poll_s: float) -> Path:
        """Write ``state/NAME.yaml`` for an agent over this bed's dirs (its scheduler state and port file go next to
        it, named after it)."""
        cfg = self.state / f"{name}.yaml"
        cfg.write_text(plotter_yaml(self.tmp_dirs, self.dst, self.log_dir, self.state, poll_s, name=name))
        return cfg

    def start_plotter(self, name: str, poll_s: float, timeout_s: float = 60.0) -> tuple[subprocess.Popen[bytes], str]:
        """A real `plotboss-plotter` on 127.0.0.1 (output to ``state/NAME.log``); the process and its address."""
        cfg = self.plotter_config(name, poll_s)
        proc, port = start_agent(
            "plotboss-plotter",
            cfg,
            "--listen",
            "127.0.0.1:0",
            timeout_s=timeout_s,
            output=self.state / f"{name}.log",
            env=self.env,
        )
        self.agents.append(proc)
        return proc, f"127.0.0.1:{port}"

    def wait_listed(self, addresses: Sequence[str], pids: Sequence[int], timeout_s: float) -> None:
        """Until every agent lists every job with its plot id; RuntimeError naming the first that did not."""
        for address in addresses:
            waited, problem = wait_for_jobs(address, pids, timeout_s)
            if problem is not None:
                raise RuntimeError(
                    f"agent {address} did not list the {len(pids)} jobs within {waited:.0f} s: {problem}"
                )

    def close(self) -> None:
        """Stop every agent and plot job this bed started (all agents told at once, then each waited for)."""
        for proc in self.agents:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.agents:
            stop_process(proc, timeout_s=15.0)
        self.agents.clear()
        self.fleet.stop_all()
