"""rsync_runner against a real rsync daemon on loopback: byte-identical pushes, progress from real --info=progress2
output, SIGKILL mid-transfer (nothing under the final name, resume from the partial dir), a wrong password, a refused
connection, and finding the transfer again in the process table from its command line."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from plotter_agent.archive.outcome import Fault, classify
from plotter_agent.archive.recovery import outcome_from_log
from plotter_agent.rsync_runner import PARTIAL_DIR, Progress, RsyncTransfer, TransferSpec, parse_argv
from testbed.rsyncd import RsyncDaemon, free_port, start_rsyncd

pytestmark = pytest.mark.slow
MiB = 2**20
RID = "5" * 32


def name(i: int) -> str:
    return f"plot-k18-2021-05-05-12-34-{i:064x}.plot"


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def make_source(tmp_path: Path, i: int, size: int) -> Path:
    src = tmp_path / "dst" / name(i)
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(os.urandom(size))
    return src


def files_under(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}


def wait_until(pred: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_push_is_byte_identical_and_logged_under_the_marker(tmp_path: Path, rsyncd: RsyncDaemon) -> None:
    (rsyncd.path / "d0").mkdir()
    src = make_source(tmp_path, 1, 4 * MiB + 123)
    spec = TransferSpec(str(src), rsyncd.url("d0/"), RID, str(tmp_path / "logs" / "transfers"))
    seen: list[Progress] = []
    result = RsyncTransfer(spec, on_progress=seen.append).start().wait(60)
    assert result.ok and (result.returncode, result.signal) == (0, None), result.stderr_tail
    landed = rsyncd.path / "d0" / name(1)
    assert files_under(rsyncd.path) == {f"d0/{name(1)}": 4 * MiB + 123}
    assert sha256(landed) == sha256(src)
    assert result.last_progress is not None and result.last_progress.bytes == 4 * MiB + 123
    assert result.last_progress.done and result.last_progress.percent == 100
    assert seen and seen[-1] == result.last_progress
    assert Path(spec.log_file).is_file() and name(1) in Path(spec.log_file).read_text()
    logged = outcome_from_log(Path(spec.log_file).read_text())
    assert (logged.finished, logged.returncode) == (True, 0)


def test_progress_mid_transfer_then_sigkill_then_resume(tmp_path: Path, rsyncd: RsyncDaemon) -> None:
    drive = rsyncd.path / "d0"
    drive.mkdir()
    size = 12 * MiB
    src = make_source(tmp_path, 2, size)
    logs = tmp_path / "logs" / "transfers"
    spec = TransferSpec(str(src), rsyncd.url("d0/"), RID, str(logs), bwlimit_kbps=2048)
    t = RsyncTransfer(spec).start()
    try:
        wait_until(lambda: (p := t.progress) is not None and 2 * MiB <= p.bytes < size)
        p = t.progress
        assert p is not None and not p.done and p.eta_s is not None and p.eta_s > 0
        assert 0.25 * 2 * MiB < p.rate_bps < 4 * 2 * MiB  # about the 2 MiB/s asked for
        assert 0 < p.percent < 100

        # a restarted agent finds it from the process table: the command line names the plot and reservation
        assert t.pid is not None
        cmdline = Path(f"/proc/{t.pid}/cmdline").read_bytes().split(b"\0")[:-1]
        found = parse_argv([a.decode() for a in cmdline], str(logs))
        assert found is not None and (found.plot_name, found.reservation_id, found.source) == (name(2), RID, str(src))

        t.kill(signal.SIGKILL)
        result = t.wait(20)
    finally:
        t.kill()
    assert (result.returncode, result.signal) == (None, signal.SIGKILL)
    assert classify(result) == Fault.KILLED
    assert result.last_progress is not None and result.last_progress.bytes < size

    # the daemon's receiver keeps the interrupted file in the partial dir: never under the final name
    partial = drive / PARTIAL_DIR / name(2)
    wait_until(partial.exists)
    assert not (drive / name(2)).exists()
    assert all(Path(f).name != name(2) or Path(f).parent.name == PARTIAL_DIR for f in files_under(rsyncd.path))

    killed_pid = t.pid
    logged = outcome_from_log(Path(spec.log_file).read_text(), killed_pid)
    assert (logged.pid, logged.finished, logged.returncode) == (killed_pid, False, None)

    # a retry to the same drive resumes from it and lands whole; the partial is gone
    retry = RsyncTransfer(TransferSpec(str(src), rsyncd.url("d0/"), RID, str(logs))).start()
    again = retry.wait(60)
    assert again.ok, again.stderr_tail
    text = Path(spec.log_file).read_text()  # the same file: both runs, told apart by pid
    assert outcome_from_log(text, killed_pid).finished is False
    assert outcome_from_log(text) == outcome_from_log(text, retry.pid) and outcome_from_log(text).returncode == 0
    assert sha256(drive / name(2)) == sha256(src)
    assert not partial.exists() and not partial.parent.exists()  # rsync removes its relative partial dir too
    assert files_under(rsyncd.path) == {f"d0/{name(2)}": size}


def test_without_resume_a_killed_push_leaves_only_a_temp_name(tmp_path: Path, rsyncd: RsyncDaemon) -> None:
    drive = rsyncd.path / "d0"
    drive.mkdir()
    src = make_source(tmp_path, 3, 8 * MiB)
    spec = TransferSpec(str(src), rsyncd.url("d0/"), RID, str(tmp_path / "logs"), bwlimit_kbps=2048, resume=False)
    t = RsyncTransfer(spec).start()
    try:
        wait_until(lambda: (p := t.progress) is not None and p.bytes >= MiB)
        t.kill(signal.SIGKILL)
        result = t.wait(20)
    finally:
        t.kill()
    assert result.signal == signal.SIGKILL
    time.sleep(0.5)  # give the daemon's receiver time to see the connection drop
    left = files_under(rsyncd.path)
    assert f"d0/{name(3)}" not in left
    assert all(Path(f).name.startswith(f".{name(3)}.") for f in left), left


def test_wrong_password_is_rc5_and_right_one_works(tmp_path: Path) -> None:
    daemon = start_rsyncd(tmp_path / "rsyncd", tmp_path / "module", user="plotter", password="right-password")
    try:
        (daemon.path / "d0").mkdir()
        src = make_source(tmp_path, 4, MiB)
        base = {"source": str(src), "url": daemon.url("d0/"), "reservation_id": RID, "log_dir": str(tmp_path / "l")}
        bad = RsyncTransfer(TransferSpec(**base, user="plotter", password="wrong-password")).start().wait(30)  # type: ignore[arg-type]
        assert bad.returncode == 5, bad
        assert any("auth failed" in line for line in bad.stderr_tail), bad.stderr_tail
        assert classify(bad) == Fault.AUTH
        assert outcome_from_log(Path(base["log_dir"], f"{name(4)}.{RID}.rsync.log").read_text()).returncode == 5
        assert files_under(daemon.path) == {}
        good = RsyncTransfer(TransferSpec(**base, user="plotter", password="right-password")).start().wait(30)  # type: ignore[arg-type]
        assert good.ok, good.stderr_tail
        assert sha256(daemon.path / "d0" / name(4)) == sha256(src)
    finally:
        daemon.stop()


def test_unknown_module_is_rc5_and_no_daemon_is_rc10(tmp_path: Path, rsyncd: RsyncDaemon) -> None:
    src = make_source(tmp_path, 5, MiB)
    url = f"rsync://127.0.0.1:{rsyncd.port}/nosuchmodule/d0/"
    r = RsyncTransfer(TransferSpec(str(src), url, RID, str(tmp_path / "l"))).start().wait(30)
    assert r.returncode == 5 and any("Unknown module" in line for line in r.stderr_tail), r
    assert classify(r) == Fault.AUTH
    url = f"rsync://127.0.0.1:{free_port()}/plots/d0/"
    r = RsyncTransfer(TransferSpec(str(src), url, RID, str(tmp_path / "l"))).start().wait(30)
    assert r.returncode == 10 and any("Connection refused" in line for line in r.stderr_tail), r
    assert classify(r) == Fault.SOCKET_IO
    assert outcome_from_log((tmp_path / "l" / f"{name(5)}.{RID}.rsync.log").read_text()).returncode == 10


def test_a_drive_that_fills_up_mid_push_is_disk_full(tmp_path: Path) -> None:
    """A real small filesystem (a 3 MiB tmpfs) behind the module: an 8 MiB push runs out of room part way."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        daemon = start_rsyncd(tmp_path / "rsyncd", mnt)
        try:
            (mnt / "d0").mkdir()
            src = make_source(tmp_path, 6, 8 * MiB)
            r = RsyncTransfer(TransferSpec(str(src), daemon.url("d0/"), RID, str(tmp_path / "l"))).start().wait(60)
        finally:
            daemon.stop()
        assert r.returncode in (11, 12, 23), r
        assert any("No space left on device" in line for line in r.stderr_tail), r.stderr_tail
        assert classify(r) == Fault.DISK_FULL
        assert not (mnt / "d0" / name(6)).exists()
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
