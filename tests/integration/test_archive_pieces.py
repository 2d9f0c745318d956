"""The archiver's pieces composed by hand, as the next round's agent loop will: a real dst dir scan, choose_source,
a real farmer agent (ListDrives, Reserve, Complete) behind the typed client, choose_farmer, a real rsync push, and
next_step after each outcome, down to deleting the source. Plus what the farmer does not clean up yet."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from farmer_agent.app import FarmerAgent
from farmer_agent.config import FarmerConfig
from plotboss.plots import plot_size
from plotter_agent.archive.farmers import FarmerView, choose_farmer
from plotter_agent.archive.outcome import Attempt, Complete, Delete, Fault, Kind, Outcome, Retry, classify, next_step
from plotter_agent.archive.source import choose_source
from plotter_agent.dirs import build_dirs, scan_dir
from plotter_agent.farmer_client import FarmerClient
from plotter_agent.rsync_runner import PARTIAL_DIR, RsyncTransfer, TransferSpec
from testbed.agents import LOCAL_TOKEN, InProcess, serve_in_process
from testbed.rsyncd import RsyncDaemon
from testbed.standin import start_chia_job

pytestmark = pytest.mark.slow
K18 = plot_size(18)


def name(i: int, k: int = 18) -> str:
    return f"plot-k{k}-2021-05-05-12-34-{i:064x}.plot"


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def farmer(tmp_path: Path, rsyncd: RsyncDaemon) -> Iterator[InProcess[FarmerAgent]]:
    for i in range(2):
        (rsyncd.path / f"d{i}").mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "version": 1,
        "agent": {"name": "farmer-01", "listen": "127.0.0.1:0", "poll_s": 0.2, "probe_timeout_s": 2},
        "drives": {"paths": [str(rsyncd.path / "*")], "allow_non_mount": True},
        "rsyncd": {"host": "127.0.0.1", "port": rsyncd.port, "module": "plots", "path": str(rsyncd.path)},
        "reservations": {"lease_s": 30, "state_file": str(tmp_path / "state.json")},
    }
    served = serve_in_process(FarmerAgent(FarmerConfig.model_validate(data), tmp_path / "farmer.yaml"))
    try:
        yield served
    finally:
        served.stop()


def dst_with_plots(tmp_path: Path, n: int) -> Path:
    dst = tmp_path / "dst"
    dst.mkdir()
    for i in range(n):
        p = dst / name(i + 1)
        p.write_bytes(os.urandom(K18))
        os.utime(p, (1000.0 + i, 1000.0 + i))  # plot 1 is the oldest
    return dst


def test_one_plot_archived_by_the_pieces(tmp_path: Path, rsyncd: RsyncDaemon, farmer: InProcess[FarmerAgent]) -> None:
    dst = dst_with_plots(tmp_path, 2)
    views = build_dirs([(str(dst), "dst")], {str(dst): scan_dir(str(dst))}, [])
    choice = choose_source(views, [], [], time.time())
    assert choice is not None and choice.plot.name == name(1)
    src = Path(choice.plot.path)
    digest = sha256(src)

    with FarmerClient(farmer.address, token=LOCAL_TOKEN) as fc:
        listed = fc.list_drives()
        farmers = choose_farmer([FarmerView("farmer-01", listed.drives)], {}, [], time.time(), size_bytes=K18)
        assert farmers.candidates == ("farmer-01",)
        r = fc.reserve(src.name, choice.plot.size_bytes, "plotter-01")
        spec = TransferSpec(str(src), r.rsync_url, r.id, str(tmp_path / "transfers"), user=r.rsync_user)
        result = RsyncTransfer(spec).start().wait(60)
        assert result.ok, result.stderr_tail
        step = next_step(Outcome(Kind.PUSHED, "farmer-01", r.drive_path), [], time.time())
        assert step == Complete()
        done = fc.complete(r.id)
        step = next_step(Outcome(Kind.COMPLETED, "farmer-01", r.drive_path), [], time.time())
        assert step == Delete()
        assert done.size_bytes == src.stat().st_size
        src.unlink()

    landed = Path(done.plot_path)
    assert landed.parent == Path(r.drive_path) and sha256(landed) == digest
    again = build_dirs([(str(dst), "dst")], {str(dst): scan_dir(str(dst))}, [])
    nxt = choose_source(again, [], [], time.time())
    assert nxt is not None and nxt.plot.name == name(2)


def test_killed_push_resumes_on_the_kept_reservation(
    tmp_path: Path, rsyncd: RsyncDaemon, farmer: InProcess[FarmerAgent]
) -> None:
    """SIGKILL mid-push -> next_step keeps the reservation and resumes on the same drive -> Complete -> Delete."""
    dst = tmp_path / "dst"
    dst.mkdir()
    src = dst / name(7, k=20)
    src.write_bytes(os.urandom(plot_size(20)))
    with FarmerClient(farmer.address, token=LOCAL_TOKEN) as fc:
        r = fc.reserve(src.name, src.stat().st_size, "plotter-01")
        spec = TransferSpec(str(src), r.rsync_url, r.id, str(tmp_path / "transfers"), bwlimit_kbps=2048)
        t = RsyncTransfer(spec).start()
        try:
            deadline = time.monotonic() + 20
            while (p := t.progress) is None or p.bytes < 2 * 2**20:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            t.kill(signal.SIGKILL)
            result = t.wait(20)
        finally:
            t.kill()
        out = Outcome(Kind.PUSH_FAILED, "farmer-01", r.drive_path, classify(result), "killed")
        step = next_step(out, [], time.time())
        assert isinstance(step, Retry) and not step.release and step.resume
        assert not (Path(r.drive_path) / src.name).exists()
        fc.renew(r.id)  # the kept reservation, renewed while waiting
        again = RsyncTransfer(TransferSpec(str(src), r.rsync_url, r.id, str(tmp_path / "transfers"))).start().wait(60)
        assert again.ok, again.stderr_tail
        step = next_step(Outcome(Kind.PUSHED, "farmer-01", r.drive_path), [Attempt(time.time(), out)], time.time())
        assert step == Complete()
        assert fc.complete(r.id).size_bytes == src.stat().st_size
    assert sha256(Path(r.drive_path) / src.name) == sha256(src)


def test_a_real_k18_plot_from_the_stand_in_is_archived_byte_identical(
    tmp_path: Path, rsyncd: RsyncDaemon, farmer: InProcess[FarmerAgent], procs: list[subprocess.Popen[bytes]]
) -> None:
    dst = tmp_path / "dst"
    job = start_chia_job(18, tmp_path / "tmp", dst, tmp_path / "logs" / "job.log")
    procs.append(job)
    assert job.wait(timeout=180) == 0, (tmp_path / "logs" / "job.log").read_text(errors="replace")
    views = build_dirs([(str(dst), "dst")], {str(dst): scan_dir(str(dst))}, [])
    choice = choose_source(views, [], [], time.time() + 60)  # past settle_s
    assert choice is not None, views
    src = Path(choice.plot.path)
    digest = sha256(src)
    with FarmerClient(farmer.address, token=LOCAL_TOKEN) as fc:
        r = fc.reserve(src.name, choice.plot.size_bytes, "plotter-01")
        result = RsyncTransfer(TransferSpec(str(src), r.rsync_url, r.id, str(tmp_path / "transfers"))).start().wait(60)
        assert result.ok, result.stderr_tail
        done = fc.complete(r.id)
    assert done.size_bytes == src.stat().st_size and sha256(Path(done.plot_path)) == digest


def test_release_removes_the_partial_dir_file_of_a_killed_push(
    tmp_path: Path, rsyncd: RsyncDaemon, farmer: InProcess[FarmerAgent]
) -> None:
    src = tmp_path / name(8, k=20)
    src.write_bytes(os.urandom(plot_size(20)))
    with FarmerClient(farmer.address, token=LOCAL_TOKEN) as fc:
        r = fc.reserve(src.name, src.stat().st_size, "plotter-01")
        t = RsyncTransfer(TransferSpec(str(src), r.rsync_url, r.id, str(tmp_path / "t"), bwlimit_kbps=2048)).start()
        try:
            deadline = time.monotonic() + 20
            while (p := t.progress) is None or p.bytes < 2**20:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            t.kill(signal.SIGKILL)
            assert classify(t.wait(20)) == Fault.KILLED
        finally:
            t.kill()
        partial = Path(r.drive_path) / PARTIAL_DIR / src.name
        deadline = time.monotonic() + 10
        while not partial.exists():
            assert time.monotonic() < deadline, "the daemon kept no partial"
            time.sleep(0.05)
        fc.release(r.id)
        time.sleep(1.0)  # the farmer runs removals in the background
    assert not partial.exists()
