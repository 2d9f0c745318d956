"""The test bed itself: the `chia` stand-in makes real plots and looks like chia in the process table; the rsync
daemon fixture accepts pushes; an agent served in process runs on the fake process table and virtual clock it is
given."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from chiapos import DiskProver

from plotboss.transport import dial
from plotboss.v1 import plotter_pb2, plotter_pb2_grpc
from plotter_agent.app import PlotterAgent
from plotter_agent.config import PlotterConfig
from testbed.agents import plotter_config, serve_in_process
from testbed.children import stop_process
from testbed.clock import VirtualClock
from testbed.procs import FakeTable, proc
from testbed.rsyncd import RsyncDaemon, start_rsyncd
from testbed.standin import CHIA, chia_cmd, start_chia_job

K18 = Path(__file__).resolve().parents[1] / "data" / "logs" / "chiapos-2.0.12-k18.plot.log"
K18_ID = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
PLOT_NAME = re.compile(r"^plot-k(\d+)-\d{4}(-\d\d){4}-([0-9a-f]{64})\.plot$")


def test_chia_stand_in_makes_a_k18_plot_that_chiapos_opens(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "job.log"
    proc = start_chia_job(18, tmp_path / "tmp", tmp_path / "dst", log)
    try:
        assert proc.wait(timeout=120) == 0, log.read_text(errors="replace")
    finally:
        stop_process(proc)
    plots = sorted((tmp_path / "dst").iterdir())
    assert len(plots) == 1, plots
    m = PLOT_NAME.match(plots[0].name)
    assert m, plots[0].name
    assert m.group(1) == "18"
    prover = DiskProver(str(plots[0]))
    assert prover.get_size() == 18
    assert prover.get_id().hex() == m.group(3)
    assert plots[0].stat().st_size > 1_000_000
    assert not list((tmp_path / "tmp").glob("*.tmp")), "temporary files left behind"
    text = log.read_text()
    # the header lines real chia prints, then chiapos's own output, then chia's summary
    assert "chia.plotting.create_plots       : INFO     Creating 1 plots of size 18" in text
    assert f"ID: {m.group(3)}" in text
    assert "Starting phase 1/4" in text and "Total time = " in text
    assert text.rstrip().endswith(plots[0].name)


def test_running_job_looks_like_chia_in_the_process_table(tmp_path: Path) -> None:
    proc = start_chia_job(20, tmp_path / "tmp", tmp_path / "dst", tmp_path / "job.log")
    try:
        os.killpg(proc.pid, signal.SIGSTOP)  # long before the interpreter has started plotting
        p = psutil.Process(proc.pid)
        deadline = time.monotonic() + 5
        while p.status() != psutil.STATUS_STOPPED and time.monotonic() < deadline:
            time.sleep(0.02)
        assert p.status() == psutil.STATUS_STOPPED
        cmdline = p.cmdline()
        assert cmdline == chia_cmd(20, tmp_path / "tmp", tmp_path / "dst")
        assert cmdline[0] == sys.executable
        assert Path(cmdline[1]).name == "chia" and Path(cmdline[1]) == CHIA
        assert cmdline[2:4] == ["plots", "create"]
        assert cmdline[cmdline.index("-k") + 1] == "20"
        assert cmdline[cmdline.index("-t") + 1] == str(tmp_path / "tmp")
        assert cmdline[cmdline.index("-d") + 1] == str(tmp_path / "dst")
        assert Path(p.cwd()).exists()
    finally:
        stop_process(proc)
    assert proc.returncode is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plots", "create", "-k", "17", "--override-k"], "below 18"),
        (["plots", "create", "-k", "25"], "--override-k"),
        (["plots", "check"], "only 'plots create'"),
    ],
)
def test_chia_stand_in_refuses_what_it_cannot_do(tmp_path: Path, args: list[str], message: str) -> None:
    run = subprocess.run(
        [sys.executable, str(CHIA), *args, "-t", str(tmp_path), "-d", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode != 0
    assert message in run.stderr
    assert not list(tmp_path.glob("*.plot"))


def _push(src: Path, url: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rsync", "--archive", *extra, str(src), url], capture_output=True, text=True, timeout=30, env=env
    )


def test_rsyncd_accepts_a_push_into_the_module(tmp_path: Path, rsyncd: RsyncDaemon) -> None:
    src = tmp_path / "plot-k18-test.plot"
    src.write_bytes(os.urandom(300_000))
    (rsyncd.path / "d0").mkdir()
    run = _push(src, rsyncd.url("d0/"))
    assert run.returncode == 0, run.stderr
    landed = rsyncd.path / "d0" / src.name
    assert landed.read_bytes() == src.read_bytes()
    listing = subprocess.run(["rsync", rsyncd.url("d0/")], capture_output=True, text=True, timeout=30)
    assert src.name in listing.stdout


def test_rsyncd_with_a_password(tmp_path: Path) -> None:
    daemon = start_rsyncd(tmp_path / "rsyncd", tmp_path / "module", user="plotboss", password="s3cret-pass")
    try:
        src = tmp_path / "f.plot"
        src.write_bytes(b"x" * 1000)
        url = f"rsync://plotboss@127.0.0.1:{daemon.port}/{daemon.module}/"
        env = {k: v for k, v in os.environ.items() if k != "RSYNC_PASSWORD"}
        wrong = tmp_path / "wrong.password"
        wrong.write_text("not-the-password\n")
        wrong.chmod(0o600)
        denied = _push(src, url, "--password-file", str(wrong), env=env)
        assert denied.returncode != 0
        assert "auth failed" in denied.stderr
        assert not (daemon.path / "f.plot").exists()
        assert daemon.password_file is not None
        ok = _push(src, url, "--password-file", str(daemon.password_file), env=env)
        assert ok.returncode == 0, ok.stderr
        assert (daemon.path / "f.plot").read_bytes() == src.read_bytes()
    finally:
        daemon.stop()


def test_a_plotter_agent_served_in_process_runs_on_the_fake_table_and_virtual_clock(tmp_path: Path) -> None:
    """The real agent and real gRPC over the seams it is given: the job is the fake table's, its times the clock's."""
    config = PlotterConfig.model_validate(plotter_config(tmp_path))
    log = tmp_path / "logs" / "job.log"
    log.write_bytes(K18.read_bytes()[:3000])  # a k18 job in phase 1
    cmd = ("python3", "/v/bin/chia", "plots", "create", "-k", "18", "-t", str(tmp_path / "tmp"), "-d", "/d")
    clock = VirtualClock(5000.0)
    table = FakeTable([proc(10, cmd, fds=((1, str(log)), (2, str(log))), create_time=1000.0)])
    served = serve_in_process(PlotterAgent(config, tmp_path / "plotter.yaml", table=table, clock=clock))
    try:
        with dial(served.address) as channel:
            stub = plotter_pb2_grpc.PlotterServiceStub(channel)
            deadline = time.monotonic() + 10
            resp = stub.ListJobs(plotter_pb2.ListJobsRequest())
            while not resp.jobs and time.monotonic() < deadline:
                time.sleep(0.05)
                resp = stub.ListJobs(plotter_pb2.ListJobsRequest())
    finally:
        served.stop()
    (job,) = resp.jobs
    assert (job.pid, job.plot_id, job.k) == (10, K18_ID, 18)
    assert resp.snapshot_time.seconds == 5000
    assert job.wall.seconds == 4000  # the clock's now less the fake process's create_time
