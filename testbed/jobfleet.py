"""A fleet of chia stand-in plot jobs for the benchmarks: started as plotman would see real ones, held in phase 1 with
SIGSTOP, and every one resumed and killed at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from testbed.standin import chia_cmd

VENV_BIN = Path(sys.executable).parent


@dataclass
class Fleet:
    """The benchmark's plot jobs; every one is resumed and killed by ``stop_all``."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start(self, k: int, tmp: Path, dst: Path, log: Path) -> None:
        cmd = chia_cmd(k, tmp, dst, buckets=16, buffer_mib=200, threads=2)
        # plotman 0.5.3 drops cmdline[0] only when its basename is exactly "python" (not "python3"); real chia entry
        # points in a venv made with `python -m venv` run as .../bin/python, so start the stand-in the same way.
        python = VENV_BIN / "python"
        if python.exists():
            cmd[0] = str(python)
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self.procs.append(proc)
        self.logs.append(log)

    def signal_all(self, sig: signal.Signals) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, sig)

    def wait_in_phase1(self, seconds_in: float, timeout_s: float) -> None:
        """Until every job has logged 'Starting phase 1/4', then ``seconds_in`` more seconds."""
        deadline = time.monotonic() + timeout_s
        pending = set(range(len(self.procs)))
        while pending:
            for i in list(pending):
                if b"Starting phase 1/4" in self.logs[i].read_bytes():
                    pending.discard(i)
                elif self.procs[i].poll() is not None:
                    raise RuntimeError(
                        f"plot job {self.procs[i].pid} exited {self.procs[i].returncode}: {self.logs[i]}"
                    )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} plot job(s) did not reach phase 1 within {timeout_s} s")
            time.sleep(0.1)
        time.sleep(seconds_in)

    def all_alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop_all(self) -> None:
        self.signal_all(signal.SIGCONT)
        self.signal_all(signal.SIGKILL)
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
