"""The archiver's test bed: farmers (a farmer agent process, its own rsync daemon, its drives: plain dirs or real
tmpfs mounts) and a plotter agent process that archives its dst dirs to them, each one killable and restartable
where it was (same ports, same state), as the archiver fault tests need. ``Bed`` owns everything it starts and
stops it all (processes, daemons, mounts) in ``close``.

Real plots come from ``testbed.standin`` (the chiapos stand-in); ``testbed.archive_watch`` watches the run and holds
the checks every archiver test ends with.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from plotboss.errors import PlotbossError
from plotboss.transport import dial
from plotboss.v1 import plotter_pb2, plotter_pb2_grpc
from plotter_agent.farmer_client import FarmerClient, Reservation
from testbed.agents import start_agent, write_yaml
from testbed.children import stop_process
from testbed.rsyncd import RsyncDaemon, free_port, start_rsyncd
from testbed.standin import start_chia_job

#: the farmers' control token (the plotters present it for Reserve/Renew/Complete/Release)
FARM_TOKEN = "farm-control-" + "5a" * 16
PLOTTER_NAME = "plotter-01"


class MountRefused(Exception):
    """The machine does not let this process mount a file system (not root, or a container without the right)."""


def mount_tmpfs(path: Path, size_bytes: int) -> None:
    """A real small file system at ``path`` (made if missing); MountRefused when the machine does not allow it."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        raise MountRefused("mounting a tmpfs needs root")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if r.returncode != 0:
        raise MountRefused(f"mount -t tmpfs refused: {r.stderr.strip() or r.returncode}")


def umount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@dataclass
class Farm:
    """One farming machine: a farmer agent (at a fixed port, so it can be restarted where plotters know it), its
    rsync daemon (module ``plots`` at ``module``), and drives ``module/dN``."""

    name: str
    root: Path
    module: Path
    drives: list[Path]
    port: int
    config: Path
    rsyncd: RsyncDaemon
    lease_s: float
    rsync_user: str | None = None
    rsync_password: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def state_file(self) -> Path:
        return self.root / "farmer.state.json"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is running"
        self.proc, port = start_agent("plotboss-farmer", self.config, timeout_s=60)
        assert port == self.port

    def kill(self) -> None:
        """SIGKILL the farmer agent (only it: the rsync daemon is another process)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def kill_rsyncd(self) -> None:
        self.rsyncd.kill()

    def restart_rsyncd(self) -> None:
        """The daemon again, on the same port with the same module (and credentials)."""
        self.rsyncd.stop()
        self.rsyncd = start_rsyncd(
            self.root / "rsyncd",
            self.module,
            user=self.rsync_user,
            password=self.rsync_password,
            port=self.rsyncd.port,
        )

    def client(self, timeout_s: float = 5.0) -> FarmerClient:
        return FarmerClient(self.address, token=FARM_TOKEN, timeout_s=timeout_s)

    def reservations(self) -> tuple[Reservation, ...] | str:
        """The reservations in force, or why the farmer could not be asked."""
        try:
            with self.client() as fc:
                return fc.list_reservations()
        except PlotbossError as e:
            return f"{type(e).__name__}: {e}"

    def files(self) -> list[Path]:
        """Every file on the drives, hidden ones and the partial dir's included."""
        return sorted(p for d in self.drives for p in d.rglob("*") if p.is_file())


@dataclass(frozen=True)
class Shown:
    """What the archiver shows: from ``rpc`` (GetArchiveStatus) or ``none`` (no answer)."""

    source: str
    reason: str
    #: the errors of the failed attempts
    failed: tuple[str, ...] = ()
    #: "farmer: error" of each farmer shown unreachable
    unreachable: tuple[str, ...] = ()
    #: plots whose push was found again after an agent restart
    recovered: tuple[str, ...] = ()
    #: the steps taken after the failed attempts
    steps: tuple[str, ...] = ()
    #: farmer -> seconds from the archiver's last pass to when it asks that farmer again
    next_try_s: tuple[tuple[str, float], ...] = ()


@dataclass
class Plotter:
    """A plotter agent that only watches its dirs and archives (no plotting section)."""

    root: Path
    config: Path
    dst: list[Path]
    transfers: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    restarts: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "the plotter agent is running"
        out = self.config.with_suffix(f".{self.restarts}.out")
        self.restarts += 1
        self.proc, self.port = start_agent("plotboss-plotter", self.config, timeout_s=60, output=out)

    def kill(self) -> None:
        """SIGKILL the plotter agent process only (its rsyncs run in their own sessions, as after an OOM kill)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def hup(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGHUP)

    def status(self) -> plotter_pb2.GetArchiveStatusResponse | grpc.RpcError:
        """GetArchiveStatus, or the error it failed with."""
        try:
            with dial(self.address, timeout_s=5.0) as ch:
                stub = plotter_pb2_grpc.PlotterServiceStub(ch)
                resp: plotter_pb2.GetArchiveStatusResponse = stub.GetArchiveStatus(
                    plotter_pb2.GetArchiveStatusRequest(), timeout=5.0
                )
                return resp
        except grpc.RpcError as e:
            return e

    def shown(self) -> Shown:
        """What the archiver shows the user: its GetArchiveStatus."""
        s = self.status()
        if isinstance(s, grpc.RpcError):
            return Shown("none", f"{s.code().name}: {s.details()}")
        failed = [t for t in s.recent if t.outcome == plotter_pb2.TRANSFER_OUTCOME_FAILED]
        return Shown(
            "rpc",
            s.reason,
            tuple(t.error for t in failed),
            tuple(f"{f.name}: {f.error}" for f in s.farmers if not f.reachable),
            tuple(t.plot_name for t in (*s.active, *s.recent) if t.recovered),
            tuple(t.next_step for t in failed),
            tuple(
                (f.name, f.next_try_time.ToSeconds() - s.pass_time.ToSeconds())
                for f in s.farmers
                if f.HasField("next_try_time") and s.HasField("pass_time")
            ),
        )

    def output(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-6000:] for p in sorted(self.root.glob("plotter.*.out")) if p.is_file()
        )

    def plots_in_dst(self) -> list[Path]:
        return sorted(p for d in self.dst for p in d.glob("*.plot"))


@dataclass
class Bed:
    """Everything one test starts, stopped in ``close`` (plotter first, so nothing new is pushed while farms go)."""

    root: Path
    farms: list[Farm] = field(default_factory=list)
    plotters: list[Plotter] = field(default_factory=list)
    mounts: list[Path] = field(default_factory=list)

    def farm(
        self,
        name: str,
        *,
        drives: int = 1,
        tmpfs_bytes: Sequence[int] = (),
        lease_s: float = 10.0,
        rsync_user: str | None = None,
        rsync_password: str | None = None,
        start: bool = True,
        **drive_rules: Any,
    ) -> Farm:
        """A farmer with ``drives`` drive dirs, the first ``len(tmpfs_bytes)`` of them real tmpfs mounts of those
        sizes (MountRefused when the machine refuses). ``drive_rules`` go into the config's ``drives`` section."""
        root = self.root / name
        module = root / "module"
        paths = [module / f"d{i}" for i in range(drives)]
        for p in paths:
            p.mkdir(parents=True, exist_ok=True)
        for p, size in zip(paths, tmpfs_bytes, strict=False):
            mount_tmpfs(p, size)
            self.mounts.append(p)
        rsyncd = start_rsyncd(root / "rsyncd", module, user=rsync_user, password=rsync_password)
        port = free_port()
        config = write_yaml(
            root / "farmer.yaml",
            {
                "version": 1,
                "agent": {
                    "name": name,
                    "listen": f"127.0.0.1:{port}",
                    "poll_s": 0.5,
                    "probe_timeout_s": 5,
                    "grace_s": 1,
                    "tokens": {"control": [{"value": FARM_TOKEN}]},
                },
                "drives": {"paths": [str(module / "d*")], "allow_non_mount": True, **drive_rules},
                "rsyncd": {"host": "127.0.0.1", "port": rsyncd.port, "module": "plots", "path": str(module)}
                | ({"user": rsync_user} if rsync_user else {}),
                "reservations": {"lease_s": lease_s, "state_file": str(root / "farmer.state.json")},
            },
        )
        f = Farm(name, root, module, paths, port, config, rsyncd, lease_s, rsync_user, rsync_password)
        self.farms.append(f)
        if start:
            f.start()
        return f

    def plotter(
        self,
        farms: Sequence[Farm],
        *,
        dst_dirs: int = 1,
        bwlimit_kbps: int = 0,
        password: str | None = None,
        archiving: dict[str, Any] | None = None,
        start: bool = True,
    ) -> Plotter:
        """A plotter agent archiving to ``farms`` (started or not), with
        ``bwlimit_kbps`` (slow pushes that a fault can hit mid-transfer) and the rsync ``password`` (in a file)."""
        root = self.root / PLOTTER_NAME
        dst = [root / f"dst{i}" for i in range(dst_dirs)]
        transfers = root / "transfers"
        for d in (*dst, transfers, root / "tmp", root / "logs"):
            d.mkdir(parents=True, exist_ok=True)
        archiving = dict(archiving or {})
        rsync: dict[str, Any] = {"bwlimit_kbps": bwlimit_kbps, **archiving.pop("rsync", {})}
        if password is not None:
            rsync["password"] = {"file": str(write_secret(root / "rsync.password", password))}
        config = write_yaml(
            root / "plotter.yaml",
            {
                "version": 1,
                "agent": {"name": PLOTTER_NAME, "listen": "127.0.0.1:0", "poll_s": 0.5, "grace_s": 1},
                "logging": {"plots": str(root / "logs"), "transfers": str(transfers)},
                "directories": {"tmp": [str(root / "tmp")], "dst": [str(d) for d in dst]},
                "archiving": {
                    "farmers": [{"address": f.address, "name": f.name, "token": {"value": FARM_TOKEN}} for f in farms],
                    "rsync": rsync,
                    **archiving,
                },
            },
        )
        p = Plotter(root, config, dst, transfers)
        self.plotters.append(p)
        if start:
            p.start()
        return p

    def close(self) -> None:
        for p in self.plotters:
            p.stop()
        for pid in rsync_pids(self.root):  # pushes the killed agents left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for f in self.farms:
            f.stop()
            f.rsyncd.stop()
        for m in self.mounts:
            umount(m)


def write_secret(path: Path, text: str) -> Path:
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def rsync_pids(under: Path) -> list[int]:
    """Rsync clients whose command line names a path under ``under`` (the pushes of this bed's plotters)."""
    import psutil

    out = []
    for p in psutil.process_iter(["name", "cmdline"]):
        argv = p.info["cmdline"] or []
        if argv and os.path.basename(argv[0]) == "rsync" and "--daemon" not in argv and str(under) in " ".join(argv):
            out.append(p.pid)
    return out


# --- real plots -------------------------------------------------------------------------------------------------------


def make_plots(where: Path, ks: Sequence[int], timeout_s: float = 600) -> list[Path]:
    """Real plots from the chia stand-in, one per k in ``ks``, made side by side (the machine has few cores: keep
    ``ks`` short). Returns their paths, in the order of ``ks``."""
    jobs = []
    for i, k in enumerate(ks):
        out = where / f"job{i}"
        jobs.append((out, start_chia_job(k, out / "tmp", out / "dst", out / "job.log")))
    paths = []
    try:
        for out, job in jobs:
            rc = job.wait(timeout_s)
            assert rc == 0, (out / "job.log").read_text(errors="replace")[-3000:]
            (plot,) = (out / "dst").glob("*.plot")
            paths.append(plot)
    finally:
        for _, job in jobs:
            stop_process(job)
    return paths


def place(plot: Path, dst: Path, age_s: float = 600.0) -> Path:
    """Copy a real plot into a dst dir as a finished plot (last written ``age_s`` ago, past any settle time)."""
    target = dst / plot.name
    tmp = dst / f".{plot.name}.copying"
    shutil.copyfile(plot, tmp)
    when = time.time() - age_s
    os.utime(tmp, (when, when))
    os.rename(tmp, target)
    return target
