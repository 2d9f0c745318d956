"""What the farmer promises (issue 8, items 7-12), each against a real agent (real gRPC on loopback, real files, real
small file systems where mounting works): state on disk before an answer, one farmer per state file, no removal of
a plot the farmer did not see written, one plot id per farm, the floor counted in allocation blocks, and a landed plot
being a real file of its own."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from farmer_agent.app import FarmerAgent
from farmer_agent.config import FarmerConfig
from plotboss.localcred import local_token
from plotboss.transport import dial
from plotboss.v1 import farmer_pb2, farmer_pb2_grpc
from testbed.agents import LOCAL_TOKEN, InProcess, serve_in_process, start_agent

pytestmark = pytest.mark.slow
MiB = 2**20


def plot(i: int, k: int = 20, date: str = "2021-05-05-12-34", c: str = "") -> str:
    return f"plot-k{k}{c}-{date}-{i:064x}.plot"


# --- real small file systems: a tmpfs of a given size (mounting needs CAP_SYS_ADMIN; skipped, saying why, without) ---


@contextmanager
def tmpfs(path: Path, size_bytes: int) -> Iterator[Path]:
    """Mount a tmpfs of ``size_bytes`` on ``path`` (created when missing) for the ``with`` block."""
    path.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs on {path} (needs CAP_SYS_ADMIN): {out.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def fill(fs: Path) -> Path:
    """Fill the file system holding dir ``fs`` to the last byte with one file (returned: unlink it to free it)."""
    filler = fs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                os.write(fd, b"\0" * 4096)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
    finally:
        os.close(fd)
    assert os.statvfs(fs).f_bavail == 0
    return filler


def remount(path: Path, *, read_only: bool) -> None:
    """Remount the file system mounted on ``path`` (one of ours) read-only or read-write."""
    opt = "remount,ro" if read_only else "remount,rw"
    subprocess.run(["mount", "-o", opt, str(path)], check=True, capture_output=True, timeout=30)


# --- a farmer agent as a child process (the caller appends it to ``procs``, which stops it) -----------------------


# --- an in-process farmer agent behind a real gRPC server on 127.0.0.1:0 -------------------------------------------


@dataclass
class Running:
    served: InProcess[FarmerAgent]
    stub: farmer_pb2_grpc.FarmerServiceStub

    @property
    def agent(self) -> FarmerAgent:
        return self.served.agent


@pytest.fixture
def start_farmer(tmp_path: Path) -> Iterator[Any]:
    running: list[tuple[Running, grpc.Channel]] = []

    def start(cfg: FarmerConfig) -> Running:
        served = serve_in_process(FarmerAgent(cfg, tmp_path / "farmer.yaml"))
        channel = dial(served.address, token=LOCAL_TOKEN)
        r = Running(served, farmer_pb2_grpc.FarmerServiceStub(channel))
        running.append((r, channel))
        return r

    yield start
    for r, channel in running:
        channel.close()
        r.served.stop()


def config(tmp_path: Path, state: Path, *, poll_s: float = 0.2, **drives: Any) -> FarmerConfig:
    module = tmp_path / "module"
    data: dict[str, Any] = {
        "version": 1,
        "agent": {"name": "farmer-01", "listen": "127.0.0.1:0", "poll_s": poll_s, "probe_timeout_s": 2},
        "drives": {"paths": [str(module / "*")], "allow_non_mount": True, **drives},
        "rsyncd": {"host": "127.0.0.1", "module": "plots", "path": str(module)},
        "reservations": {"lease_s": 30, "state_file": str(state)},
    }
    return FarmerConfig.model_validate(data)


def drives(tmp_path: Path, n: int) -> list[Path]:
    out = [tmp_path / "module" / f"d{i}" for i in range(n)]
    for d in out:
        d.mkdir(parents=True, exist_ok=True)
    return out


def reserve(stub: farmer_pb2_grpc.FarmerServiceStub, name: str, size: int) -> farmer_pb2.Reservation:
    return stub.Reserve(farmer_pb2.ReserveRequest(plot_name=name, size_bytes=size, requester="plotter-01")).reservation


def refused(fn: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as e:
        fn()
    return e.value.code(), e.value.details() or ""


def listed(stub: farmer_pb2_grpc.FarmerServiceStub) -> list[tuple[str, str, int]]:
    rows = stub.ListReservations(farmer_pb2.ListReservationsRequest()).reservations
    return sorted((r.id, r.plot_name, r.expire_time.seconds * 10**9 + r.expire_time.nanos) for r in rows)


# --- 7: state on disk before an answer -----------------------------------------------------------------------------


def test_a_state_file_that_cannot_be_written_fails_every_change_and_changes_nothing(
    tmp_path: Path, start_farmer: Any
) -> None:
    (d0,) = drives(tmp_path, 1)
    with tmpfs(tmp_path / "statefs", 64 * 1024) as fs:
        f = start_farmer(config(tmp_path, fs / "state.json", max_writers_per_drive=2))
        held = reserve(f.stub, plot(1), MiB)
        (d0 / f".{plot(1)}.AbCd12").write_bytes(b"x" * 1000)  # its transfer is under way
        before = listed(f.stub)
        on_disk = (fs / "state.json").read_bytes()
        filler = fill(fs)

        code, details = refused(lambda: reserve(f.stub, plot(2), MiB))
        assert code == grpc.StatusCode.UNAVAILABLE and "cannot write the state file" in details, details
        assert "nothing was changed" in details
        code, _ = refused(lambda: f.stub.Renew(farmer_pb2.RenewRequest(reservation_id=held.id)))
        assert code == grpc.StatusCode.UNAVAILABLE
        code, _ = refused(lambda: f.stub.Release(farmer_pb2.ReleaseRequest(reservation_id=held.id)))
        assert code == grpc.StatusCode.UNAVAILABLE
        assert (d0 / f".{plot(1)}.AbCd12").exists()  # a refused Release removes nothing
        (d0 / f".{plot(1)}.AbCd12").rename(d0 / plot(1))
        with open(d0 / plot(1), "ab") as out:
            out.write(os.urandom(MiB - 1000))
        code, _ = refused(lambda: f.stub.Complete(farmer_pb2.CompleteRequest(reservation_id=held.id)))
        assert code == grpc.StatusCode.UNAVAILABLE  # the plotter keeps its source
        # nothing changed: the same reservation, lease unchanged, one writer, and the plot 2 slot still free
        assert listed(f.stub) == before
        (drive,) = f.stub.ListDrives(farmer_pb2.ListDrivesRequest()).drives
        assert drive.writers == 1
        assert (fs / "state.json").read_bytes() == on_disk

        filler.unlink()  # the disk has room again: every call goes through, and is on disk when it answers
        second = reserve(f.stub, plot(2), MiB)
        done = f.stub.Complete(farmer_pb2.CompleteRequest(reservation_id=held.id))
        assert done.size_bytes == MiB and (d0 / plot(1)).stat().st_size == MiB
        saved = json.loads((fs / "state.json").read_bytes())["reservations"]
        assert [r["id"] for r in saved] == [second.id]


def test_a_read_only_state_file_system_fails_a_reserve_and_keeps_nothing(tmp_path: Path, start_farmer: Any) -> None:
    drives(tmp_path, 1)
    with tmpfs(tmp_path / "statefs", 1024 * 1024) as fs:
        f = start_farmer(config(tmp_path, fs / "state.json"))
        remount(fs, read_only=True)
        try:
            code, details = refused(lambda: reserve(f.stub, plot(1), MiB))
        finally:
            remount(fs, read_only=False)
        assert code == grpc.StatusCode.UNAVAILABLE and "Read-only file system" in details, details
        assert f.stub.ListReservations(farmer_pb2.ListReservationsRequest()).reservations == []
        r = reserve(f.stub, plot(1), MiB)
        assert [row["id"] for row in json.loads((fs / "state.json").read_bytes())["reservations"]] == [r.id]


def test_a_reserve_refused_for_a_full_state_disk_is_not_there_after_sigkill_and_no_slot_goes_twice(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    drives(tmp_path, 1)
    with tmpfs(tmp_path / "statefs", 64 * 1024) as fs:
        cfg = tmp_path / "farmer.yaml"
        cfg.write_text(
            "version: 1\n"
            "agent: {name: farmer-01, listen: '127.0.0.1:0', poll_s: 0.2}\n"
            f"drives: {{paths: ['{tmp_path}/module/*'], allow_non_mount: true, max_writers_per_drive: 1}}\n"
            f"rsyncd: {{host: 127.0.0.1, module: plots, path: '{tmp_path}/module'}}\n"
            f"reservations: {{lease_s: 30, state_file: '{fs}/state.json'}}\n"
        )
        proc, port = start_agent("plotboss-farmer", cfg)
        procs.append(proc)
        with dial(f"127.0.0.1:{port}", token=local_token(f"127.0.0.1:{port}"), timeout_s=5) as channel:
            stub = farmer_pb2_grpc.FarmerServiceStub(channel)
            filler = fill(fs)
            code, _ = refused(lambda: reserve(stub, plot(1), MiB))
            assert code == grpc.StatusCode.UNAVAILABLE  # was OK (logged only), then gone after a restart
            filler.unlink()
            kept = reserve(stub, plot(2), MiB)  # the one slot: plot 1 never took it
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc2, port2 = start_agent("plotboss-farmer", cfg)
        procs.append(proc2)
        with dial(f"127.0.0.1:{port2}", token=local_token(f"127.0.0.1:{port2}"), timeout_s=5) as channel:
            stub = farmer_pb2_grpc.FarmerServiceStub(channel)
            assert [r[1] for r in listed(stub)] == [plot(2)]
            assert listed(stub)[0][0] == kept.id
            code, details = refused(lambda: reserve(stub, plot(1), MiB))
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "1/1 writers busy" in details


# --- 8: one farmer per state file ----------------------------------------------------------------------------------


def test_a_second_farmer_on_the_same_state_file_exits_2_naming_the_first(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    drives(tmp_path, 1)
    cfg = tmp_path / "farmer.yaml"
    cfg.write_text(
        "version: 1\n"
        "agent: {name: farmer-01, listen: '127.0.0.1:0', poll_s: 0.2}\n"
        f"drives: {{paths: ['{tmp_path}/module/*'], allow_non_mount: true}}\n"
        f"rsyncd: {{host: 127.0.0.1, module: plots, path: '{tmp_path}/module'}}\n"
    )
    first, port = start_agent("plotboss-farmer", cfg)
    procs.append(first)
    with dial(f"127.0.0.1:{port}", token=local_token(f"127.0.0.1:{port}"), timeout_s=5) as channel:
        held = reserve(farmer_pb2_grpc.FarmerServiceStub(channel), plot(1), MiB)
    state = tmp_path / ".farmer.state.json"
    on_disk = state.read_bytes()
    exe = Path(sys.executable).parent / "plotboss-farmer"
    second = subprocess.run([str(exe), "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert second.returncode == 2, second.stderr
    assert f"{state} is in use by another farmer agent (pid {first.pid}, agent farmer-01" in second.stderr
    assert f"listening on 127.0.0.1:{port}" in second.stderr and "Traceback" not in second.stderr
    assert state.read_bytes() == on_disk  # the second one wrote nothing
    assert first.poll() is None
    # the kernel lets go of the lock however the holder ends: after SIGKILL the next farmer starts, with the state
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    third, port3 = start_agent("plotboss-farmer", cfg)
    procs.append(third)
    with dial(f"127.0.0.1:{port3}", token=local_token(f"127.0.0.1:{port3}"), timeout_s=5) as channel:
        assert [r[0] for r in listed(farmer_pb2_grpc.FarmerServiceStub(channel))] == [held.id]


# --- 9: no removal of a plot the farmer did not see written --------------------------------------------------------


def test_a_plot_landed_since_the_last_probe_is_not_reserved_again_nor_removed(
    tmp_path: Path, start_farmer: Any
) -> None:
    (d0,) = drives(tmp_path, 1)
    f = start_farmer(config(tmp_path, tmp_path / "state.json", poll_s=600))  # no probe after the first one
    whole = os.urandom(MiB)
    (d0 / plot(1)).write_bytes(whole)  # a whole plot lands between two probes
    code, details = refused(lambda: reserve(f.stub, plot(1), 2 * MiB))
    assert code == grpc.StatusCode.ALREADY_EXISTS and f"already on {d0}" in details, details
    assert f.stub.ListReservations(farmer_pb2.ListReservationsRequest()).reservations == []
    assert (d0 / plot(1)).read_bytes() == whole


def test_release_never_removes_a_final_file_that_was_there_before_the_reservation_began(
    tmp_path: Path, start_farmer: Any
) -> None:
    """A reservation restored from the state file (written by a farmer that did not look at the drive before it
    granted) ends: its removal takes a file under the final name only when it was written under that reservation."""
    (d0,) = drives(tmp_path, 1)
    there = os.urandom(MiB)
    (d0 / plot(1)).write_bytes(there)  # not the reservation's size: it would pass for its partial
    time.sleep(1.5)  # more than the ctime slack: the file is older than the reservation
    now = time.time()
    rid = "0123456789abcdef" * 2
    row = {
        "id": rid,
        "plot_name": plot(1),
        "size_bytes": 2 * MiB,
        "requester": "plotter-01",
        "drive": str(d0),
        "create_time": now,
        "expire_time": now + 30,
    }
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"format": 1, "reservations": [row]}))
    (d0 / f".{plot(1)}.AbCd12").write_bytes(b"x" * 10)  # and its own temp file, which goes
    f = start_farmer(config(tmp_path, state))
    rel = f.stub.Release(farmer_pb2.ReleaseRequest(reservation_id=rid))
    assert list(rel.removed_files) == [str(d0 / f".{plot(1)}.AbCd12")]
    assert (d0 / plot(1)).read_bytes() == there


# --- 10: one plot id per farm ------------------------------------------------------------------------------------


def test_a_plot_id_is_held_once_whatever_the_rest_of_its_name(tmp_path: Path, start_farmer: Any) -> None:
    d0, d1 = drives(tmp_path, 2)
    (d1 / plot(1)).write_bytes(b"p" * 4096)  # archived before the start: the probe sees it
    f = start_farmer(config(tmp_path, tmp_path / "state.json", poll_s=600, policy="fill_first"))
    for other in (plot(1, date="2022-01-01-00-00"), plot(1, c="-c01"), plot(1, k=21)):
        code, details = refused(lambda n=other: reserve(f.stub, n, MiB))
        assert code == grpc.StatusCode.ALREADY_EXISTS and f"already on {d1} as {plot(1)}" in details, details
    held = reserve(f.stub, plot(2), MiB)
    code, details = refused(lambda: reserve(f.stub, plot(2, date="2022-01-01-00-00"), MiB))
    assert code == grpc.StatusCode.ALREADY_EXISTS and f"already reserved as {plot(2)}" in details, details
    (Path(held.drive_path) / plot(2)).write_bytes(os.urandom(MiB))
    f.stub.Complete(farmer_pb2.CompleteRequest(reservation_id=held.id))
    code, details = refused(lambda: reserve(f.stub, plot(2, c="-c05"), MiB))
    assert code == grpc.StatusCode.ALREADY_EXISTS and f"already archived as {plot(2)}" in details, details
    # landed on the drive Reserve picks since its last probe, under another name: Reserve looks at that drive itself
    (d0 / plot(3, date="2020-02-29-23-59")).write_bytes(b"q" * 4096)
    code, details = refused(lambda: reserve(f.stub, plot(3), MiB))
    assert (
        code == grpc.StatusCode.ALREADY_EXISTS and f"already on {d0} as {plot(3, date='2020-02-29-23-59')}" in details
    )
    code, details = refused(lambda: reserve(f.stub, plot(4, date="2021-02-29-12-00"), MiB))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "is not a real date" in details
    assert [r.plot_name for r in f.stub.ListReservations(farmer_pb2.ListReservationsRequest()).reservations] == []


# --- 11: the floor, in allocation blocks ---------------------------------------------------------------------------


def test_the_floor_holds_on_a_real_small_file_system_when_plots_are_not_whole_blocks(
    tmp_path: Path, start_farmer: Any
) -> None:
    with tmpfs(tmp_path / "module" / "d0", 256 * 1024) as d0:
        size = 4097  # one byte more than a 4 KiB block: each takes two
        free = os.statvfs(d0).f_bavail * os.statvfs(d0).f_frsize
        floor = free - 4 * size - 100  # by bytes, four such plots fit above the floor
        f = start_farmer(
            config(
                tmp_path, tmp_path / "state.json", allow_non_mount=False, min_free_bytes=floor, max_writers_per_drive=4
            )
        )
        granted = []
        for i in range(4):
            try:
                granted.append(reserve(f.stub, plot(i), size))
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "free above the floor" in (e.details() or "")
        for r in granted:
            (d0 / r.plot_name).write_bytes(os.urandom(size))
            f.stub.Complete(farmer_pb2.CompleteRequest(reservation_id=r.id))
        left = os.statvfs(d0).f_bavail * os.statvfs(d0).f_frsize
        print(f"granted {len(granted)} of 4, free {left} bytes, floor {floor}")
        assert left >= floor
        assert len(granted) == 2  # what really fits: 2 x 8 KiB in 16 KiB + 100 bytes


# --- 12: a landed plot is a file of its own, written --------------------------------------------------------------


def test_complete_refuses_a_hard_link_and_a_sparse_file_and_keeps_the_reservation(
    tmp_path: Path, start_farmer: Any
) -> None:
    (d0,) = drives(tmp_path, 1)
    f = start_farmer(config(tmp_path, tmp_path / "state.json"))
    held = reserve(f.stub, plot(1), MiB)
    final = d0 / plot(1)
    elsewhere = tmp_path / "elsewhere.plot"
    elsewhere.write_bytes(os.urandom(MiB))
    os.link(elsewhere, final)  # the plot's bytes are a file elsewhere, which may change or go

    def complete() -> farmer_pb2.CompleteResponse:
        done: farmer_pb2.CompleteResponse = f.stub.Complete(farmer_pb2.CompleteRequest(reservation_id=held.id))
        return done

    code, details = refused(complete)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and f"{final}: has 2 links" in details, details
    final.unlink()
    with open(final, "wb") as out:
        out.truncate(MiB)  # the size, and no bytes
    code, details = refused(complete)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and f"{final}: sparse" in details, details
    assert [r.id for r in f.stub.ListReservations(farmer_pb2.ListReservationsRequest()).reservations] == [held.id]
    assert elsewhere.stat().st_size == MiB and final.stat().st_size == MiB  # and nothing was touched
    final.write_bytes(os.urandom(MiB))
    assert complete().size_bytes == MiB
