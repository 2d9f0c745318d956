"""The farmer agent through real gRPC: pushes with a real rsync daemon, Complete, Release after a killed rsync,
bad input, unmounted drives, recovery from temp files, and the CLI against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest

from farmer_agent.app import FarmerAgent
from farmer_agent.config import FarmerConfig
from farmer_agent.drives import DriveInfo, ProbeFn, make_probe
from plotboss.transport import dial
from plotboss.v1 import farmer_pb2, farmer_pb2_grpc
from testbed.agents import LOCAL_TOKEN, InProcess, serve_in_process
from testbed.rsyncd import RsyncDaemon

pytestmark = pytest.mark.slow
MiB = 2**20


def plot(i: int, k: int = 20) -> str:
    return f"plot-k{k}-2021-05-05-12-34-{i:064x}.plot"


def farmer_config(tmp_path: Path, module: Path, port: int = 873, **drives: Any) -> FarmerConfig:
    data: dict[str, Any] = {
        "version": 1,
        "agent": {"name": "farmer-test", "listen": "127.0.0.1:0", "poll_s": 0.2, "probe_timeout_s": 2},
        "drives": {"paths": [str(module / "*")], "allow_non_mount": True, **drives},
        "rsyncd": {"host": "127.0.0.1", "port": port, "module": "plots", "path": str(module)},
        "reservations": {"lease_s": 30, "state_file": str(tmp_path / "state.json")},
    }
    return FarmerConfig.model_validate(data)


@dataclass
class Running:
    served: InProcess[FarmerAgent]
    stub: farmer_pb2_grpc.FarmerServiceStub
    channel: grpc.Channel


@pytest.fixture
def start_farmer(tmp_path: Path) -> Iterator[Any]:
    running: list[Running] = []

    def start(cfg: FarmerConfig, probe: ProbeFn | None = None) -> Running:
        served = serve_in_process(FarmerAgent(cfg, tmp_path / "farmer.yaml", probe=probe))
        channel = dial(served.address, token=LOCAL_TOKEN)
        r = Running(served, farmer_pb2_grpc.FarmerServiceStub(channel), channel)
        running.append(r)
        return r

    yield start
    for r in running:
        r.channel.close()
        r.served.stop()


def make_drives(module: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        d = module / f"d{i}"
        d.mkdir(parents=True, exist_ok=True)
        out.append(d)
    return out


def reserve(stub: farmer_pb2_grpc.FarmerServiceStub, name: str, size: int) -> farmer_pb2.Reservation:
    req = farmer_pb2.ReserveRequest(plot_name=name, size_bytes=size, requester="plotter-01")
    return stub.Reserve(req).reservation


def code_of(fn: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as e:
        fn()
    return e.value.code(), e.value.details() or ""


def tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}


def test_push_lands_on_the_reserved_drive_and_complete_checks_size(
    tmp_path: Path, rsyncd: RsyncDaemon, start_farmer: Any
) -> None:
    make_drives(rsyncd.path, 3)
    f = start_farmer(farmer_config(tmp_path, rsyncd.path, rsyncd.port))
    src = tmp_path / "src"
    src.mkdir()
    name = plot(1)
    (src / name).write_bytes(os.urandom(3 * MiB))
    r = reserve(f.stub, name, 3 * MiB)
    assert r.rsync_url == f"rsync://127.0.0.1:{rsyncd.port}/plots/{Path(r.drive_path).name}/"
    subprocess.run(["rsync", "--timeout=20", str(src / name), r.rsync_url], check=True, timeout=30)
    landed = [p for p in rsyncd.path.rglob(name)]
    assert landed == [Path(r.drive_path) / name]
    done = f.stub.Complete(farmer_pb2.CompleteRequest(reservation_id=r.id))
    assert (done.plot_path, done.size_bytes) == (str(Path(r.drive_path) / name), 3 * MiB)
    assert f.stub.ListReservations(farmer_pb2.ListReservationsRequest()).reservations == []

    # a plot that lands with another size than reserved: FAILED_PRECONDITION and the reservation stays
    name2 = plot(2)
    (src / name2).write_bytes(os.urandom(MiB + 7))
    r2 = reserve(f.stub, name2, 2 * MiB)
    code, details = code_of(lambda: f.stub.Complete(farmer_pb2.CompleteRequest(reservation_id=r2.id)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "not on" in details
    subprocess.run(["rsync", "--timeout=20", str(src / name2), r2.rsync_url], check=True, timeout=30)
    code, details = code_of(lambda: f.stub.Complete(farmer_pb2.CompleteRequest(reservation_id=r2.id)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "reserved for" in details
    left = f.stub.ListReservations(farmer_pb2.ListReservationsRequest()).reservations
    assert [x.id for x in left] == [r2.id]


def _wait_for(pred: Any, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_release_removes_the_partial_of_a_killed_rsync(tmp_path: Path, rsyncd: RsyncDaemon, start_farmer: Any) -> None:
    make_drives(rsyncd.path, 2)
    f = start_farmer(farmer_config(tmp_path, rsyncd.path, rsyncd.port))
    src = tmp_path / "src"
    src.mkdir()
    for i, partial_flag in ((1, []), (2, ["--partial"])):
        name = plot(10 + i)
        (src / name).write_bytes(os.urandom(16 * MiB))
        r = reserve(f.stub, name, 16 * MiB)
        drive = Path(r.drive_path)
        push = subprocess.Popen(
            ["rsync", "--bwlimit=1000", *partial_flag, str(src / name), r.rsync_url],
            start_new_session=True,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(
                lambda d=drive, n=name: any(p.name.startswith(f".{n}.") and p.stat().st_size for p in d.iterdir())
            )
            if not partial_flag:
                # the whole transfer dies at once (farmer rebooted, OOM): the daemon side leaves its temp file
                for child in psutil.Process(rsyncd.proc.pid).children(recursive=True):
                    child.kill()
            os.killpg(push.pid, signal.SIGKILL)
        finally:
            push.wait(10)
        if partial_flag:
            _wait_for(lambda d=drive, n=name: (d / n).exists())  # rsync --partial keeps it under the final name
            leftovers = [drive / name]
        else:
            leftovers = [p for p in drive.iterdir() if p.name.startswith(f".{name}.")]
        assert len(leftovers) == 1, sorted(os.listdir(drive))
        assert 0 < leftovers[0].stat().st_size < 16 * MiB
        (drive / f".{plot(99)}.Xy12Zz").write_bytes(b"someone else's")
        rel = f.stub.Release(farmer_pb2.ReleaseRequest(reservation_id=r.id))
        assert list(rel.removed_files) == [str(leftovers[0])]
        assert not leftovers[0].exists()
        assert (drive / f".{plot(99)}.Xy12Zz").exists()
        code, _ = code_of(lambda rid=r.id: f.stub.Release(farmer_pb2.ReleaseRequest(reservation_id=rid)))
        assert code == grpc.StatusCode.NOT_FOUND


BAD_NAMES = [
    "../x.plot",
    "../" + plot(1),
    plot(1) + "/../../etc",
    "plot-k32-2021-05-05-12-34-" + "a" * 64 + ".plot/../../etc/passwd",
    "d0/" + plot(1),
    "/etc/passwd",
    "",
    "plot-k32-2021-05-05-12-34-" + "a" * 63 + ".plot",
    ".." + os.sep,
    plot(1).replace(".plot", ".plot\x00"),
]


def test_bad_input_is_refused_and_touches_nothing(tmp_path: Path, rsyncd: RsyncDaemon, start_farmer: Any) -> None:
    make_drives(rsyncd.path, 2)
    (rsyncd.path / "d0" / plot(5)).write_bytes(b"x" * 100)
    f = start_farmer(farmer_config(tmp_path, rsyncd.path, rsyncd.port))
    before = tree(tmp_path)
    for name in BAD_NAMES:
        code, details = code_of(lambda n=name: reserve(f.stub, n, MiB))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (name, details)
    for size in (0, 2**64 - 1, 2**63, 10**15, 43 * 10**6 + MiB):
        code, _ = code_of(lambda s=size: reserve(f.stub, plot(1), s))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, size
    code, _ = code_of(lambda: f.stub.Reserve(farmer_pb2.ReserveRequest(plot_name=plot(1), size_bytes=MiB)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT  # no requester
    for bad_id in ("", "zz", "../../etc/passwd", "A" * 32, "0" * 31):
        for call in (
            lambda i=bad_id: f.stub.Renew(farmer_pb2.RenewRequest(reservation_id=i)),
            lambda i=bad_id: f.stub.Complete(farmer_pb2.CompleteRequest(reservation_id=i)),
            lambda i=bad_id: f.stub.Release(farmer_pb2.ReleaseRequest(reservation_id=i)),
        ):
            assert code_of(call)[0] == grpc.StatusCode.INVALID_ARGUMENT
    unknown = "0123456789abcdef" * 2
    for unknown_call in (
        lambda: f.stub.Renew(farmer_pb2.RenewRequest(reservation_id=unknown)),
        lambda: f.stub.Complete(farmer_pb2.CompleteRequest(reservation_id=unknown)),
        lambda: f.stub.Release(farmer_pb2.ReleaseRequest(reservation_id=unknown)),
    ):
        assert code_of(unknown_call)[0] == grpc.StatusCode.NOT_FOUND
    code, details = code_of(lambda: reserve(f.stub, plot(5), 100))
    assert code == grpc.StatusCode.ALREADY_EXISTS and "d0" in details
    assert tree(tmp_path) == before
    assert f.stub.ListReservations(farmer_pb2.ListReservationsRequest()).reservations == []


def test_unmounted_glob_drives_are_missing_and_never_reserved(
    tmp_path: Path, rsyncd: RsyncDaemon, start_farmer: Any
) -> None:
    make_drives(rsyncd.path, 3)
    f = start_farmer(farmer_config(tmp_path, rsyncd.path, rsyncd.port, allow_non_mount=False))
    drives = f.stub.ListDrives(farmer_pb2.ListDrivesRequest()).drives
    assert [Path(d.path).name for d in drives] == ["d0", "d1", "d2"]
    assert all(d.state == farmer_pb2.DRIVE_STATE_MISSING and "mount point" in d.error for d in drives)
    code, details = code_of(lambda: reserve(f.stub, plot(1), MiB))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details.count("missing (not a mount point") == 3, details
    assert f.stub.ListReservations(farmer_pb2.ListReservationsRequest()).reservations == []


def test_refusal_names_the_reason_per_drive_and_floor_holds(
    tmp_path: Path, rsyncd: RsyncDaemon, start_farmer: Any
) -> None:
    (d0,) = make_drives(rsyncd.path, 1)
    free = os.statvfs(d0).f_bavail * os.statvfs(d0).f_frsize
    # far above what is free: the disk is shared, and others may free some of it while this runs
    cfg = farmer_config(tmp_path, rsyncd.path, rsyncd.port, min_free_bytes=free + 16 * 2**30, max_writers_per_drive=1)
    f = start_farmer(cfg)
    code, details = code_of(lambda: reserve(f.stub, plot(1), MiB))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "free above the floor" in details
    (drive,) = f.stub.ListDrives(farmer_pb2.ListDrivesRequest()).drives
    assert drive.state == farmer_pb2.DRIVE_STATE_FULL


def test_temp_files_without_a_reservation_are_held_after_a_lost_state(
    tmp_path: Path, rsyncd: RsyncDaemon, start_farmer: Any
) -> None:
    (d0,) = make_drives(rsyncd.path, 1)
    (d0 / f".{plot(3)}.AbCd12").write_bytes(b"x" * 1000)
    (d0 / plot(4)).write_bytes(b"y" * 4096)  # archived, with a stale temp file of a killed attempt next to it
    (d0 / f".{plot(4)}.Zz9876").write_bytes(b"y" * 100)
    f = start_farmer(farmer_config(tmp_path, rsyncd.path, rsyncd.port, max_writers_per_drive=2))
    assert sorted(p.name for p in d0.iterdir()) == [f".{plot(3)}.AbCd12", plot(4)]  # the stale one went, not the plot
    (held,) = f.stub.ListReservations(farmer_pb2.ListReservationsRequest()).reservations
    assert (held.plot_name, held.requester, held.drive_path) == (plot(3), "recovered", str(d0))
    (drive,) = f.stub.ListDrives(farmer_pb2.ListDrivesRequest()).drives
    block = os.statvfs(d0).f_frsize  # counted in whole blocks: the 1000 bytes written take one
    assert drive.reserved_bytes == held.size_bytes - block and drive.writers == 1
    code, _ = code_of(lambda: reserve(f.stub, plot(3), MiB))
    assert code == grpc.StatusCode.ALREADY_EXISTS


def test_cli_drives_and_reservations_json(tmp_path: Path, rsyncd: RsyncDaemon, start_farmer: Any) -> None:
    make_drives(rsyncd.path, 2)
    (rsyncd.path / "d1" / plot(7)).write_bytes(b"x" * 4096)
    f = start_farmer(farmer_config(tmp_path, rsyncd.path, rsyncd.port, max_writers_per_drive=2))
    r = reserve(f.stub, plot(8), MiB)
    addr = f.served.address
    cli = [sys.executable, "-m", "cli", "--farmer", addr, "--farmer", "127.0.0.1:1", "--timeout", "3"]
    out = subprocess.run([*cli, "drives", "--json"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    ok, bad = doc["farmers"]
    assert (ok["name"], ok["address"], ok["ok"], ok["error"]) == ("farmer-test", addr, True, None)
    assert bad["ok"] is False and bad["error"] and bad["drives"] == []
    keys = {"path", "total_bytes", "free_bytes", "reserved_bytes", "plots", "state", "writers"}
    assert all(keys <= set(d) for d in ok["drives"])
    by_path = {Path(d["path"]).name: d for d in ok["drives"]}
    assert by_path["d1"]["plots"] == 1 and by_path["d1"]["state"] == "ok"
    assert by_path[Path(r.drive_path).name]["writers"] == 1
    out = subprocess.run([*cli[:-4], "reservations", "--json"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)["farmers"][0]["reservations"]
    want = {"id", "plot_name", "size_bytes", "requester", "drive", "rsync_url", "expire_time"}
    assert want <= set(row) and row["id"] == r.id and row["size_bytes"] == MiB
    text = subprocess.run([*cli[:5], "drives"], capture_output=True, text=True, timeout=30)
    assert text.returncode == 0 and "farmer-test" in text.stdout and "Traceback" not in text.stderr
    down = subprocess.run([sys.executable, "-m", "cli", "--farmer", "127.0.0.1:1", "reservations"], capture_output=True)
    assert down.returncode == 1 and b"Traceback" not in down.stderr


def test_a_hung_drive_never_stalls_list_drives_or_reserve(
    tmp_path: Path, rsyncd: RsyncDaemon, start_farmer: Any
) -> None:
    make_drives(rsyncd.path, 3)
    real = make_probe(allow_non_mount=True)
    unhang = threading.Event()

    def probe(path: str, now: float) -> DriveInfo:  # a drive whose file system stopped answering (dead NFS, bad disk)
        if path.endswith("d1"):
            unhang.wait(60)
        return real(path, now)

    cfg = farmer_config(tmp_path, rsyncd.path, rsyncd.port)
    cfg = cfg.model_copy(update={"agent": cfg.agent.model_copy(update={"probe_timeout_s": 0.5})})
    try:
        f = start_farmer(cfg, probe)
        for _ in range(5):
            t0 = time.monotonic()
            drives = {Path(d.path).name: d for d in f.stub.ListDrives(farmer_pb2.ListDrivesRequest()).drives}
            assert time.monotonic() - t0 < 0.5
            assert drives["d1"].state == farmer_pb2.DRIVE_STATE_ERROR and drives["d1"].error
            assert drives["d0"].state == drives["d2"].state == farmer_pb2.DRIVE_STATE_OK
            time.sleep(0.3)
        picked = {Path(reserve(f.stub, plot(40 + i), MiB).drive_path).name for i in range(2)}
        assert picked == {"d0", "d2"}
        hung_threads = [t for t in threading.enumerate() if t.name == f"probe {rsyncd.path / 'd1'}"]
        assert len(hung_threads) == 1  # one stuck probe, no pile-up
    finally:
        unhang.set()
