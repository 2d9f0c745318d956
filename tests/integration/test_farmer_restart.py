"""Restart safety: SIGKILL the farmer agent (a real subprocess) with 3 reservations in flight and start it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from plotboss.localcred import local_token
from plotboss.transport import dial
from plotboss.v1 import farmer_pb2, farmer_pb2_grpc
from testbed.agents import start_agent
from testbed.rsyncd import free_port

pytestmark = pytest.mark.slow
MiB = 2**20
LEASE_S = 3.0


def plot(i: int) -> str:
    return f"plot-k20-2021-05-05-12-34-{i:064x}.plot"


def test_sigkill_and_restart_keeps_reservations_and_renewals(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    farm = tmp_path / "farm"
    for i in range(3):
        (farm / f"d{i}").mkdir(parents=True)
    port = free_port()
    config = tmp_path / "farmer.yaml"
    config.write_text(
        "version: 1\n"
        f"agent: {{name: farmer-r, listen: '127.0.0.1:{port}', poll_s: 0.2, probe_timeout_s: 2}}\n"
        f"drives: {{paths: ['{farm}/*'], allow_non_mount: true, max_writers_per_drive: 1}}\n"
        f"rsyncd: {{host: 127.0.0.1, port: 873, module: plots, path: '{farm}'}}\n"
        f"reservations: {{lease_s: {LEASE_S}}}\n"  # state_file unset: the default next to the config
    )
    proc, got = start_agent("plotboss-farmer", config)
    procs.append(proc)
    assert got == port
    address = f"127.0.0.1:{port}"
    # as the CLI does on the farmer's machine: the agent's local credential (a new one at every start)
    channel = dial(address, token=local_token(address), timeout_s=2)
    stub = farmer_pb2_grpc.FarmerServiceStub(channel)
    conn = {"stub": stub}
    held = [
        stub.Reserve(farmer_pb2.ReserveRequest(plot_name=plot(i), size_bytes=4 * MiB, requester="plotter-01"))
        for i in range(3)
    ]
    ids = [h.reservation.id for h in held]
    assert len({h.reservation.drive_path for h in held}) == 3
    # one transfer is under way: its rsync temp file holds 1 MiB of the 4 reserved
    (Path(held[0].reservation.drive_path) / f".{plot(0)}.Qw12Er").write_bytes(b"x" * MiB)
    assert (tmp_path / ".farmer.state.json").exists()

    log: list[tuple[float, str, str]] = []
    stop = threading.Event()

    def renewer() -> None:  # what the plotters do: renew every lease/4, whatever happens to the farmer
        while not stop.is_set():
            for rid in ids:
                try:
                    conn["stub"].Renew(farmer_pb2.RenewRequest(reservation_id=rid), timeout=1)
                    log.append((time.monotonic(), rid, "OK"))
                except grpc.RpcError as e:
                    log.append((time.monotonic(), rid, e.code().name))
            stop.wait(LEASE_S / 4)

    t = threading.Thread(target=renewer, daemon=True)
    t.start()
    try:
        time.sleep(1)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
        killed_at = time.monotonic()
        time.sleep(1.5)
        proc2, got2 = start_agent("plotboss-farmer", config)
        procs.append(proc2)
        restarted_at = time.monotonic()
        assert got2 == port
        channel2 = dial(address, token=local_token(address), timeout_s=2)  # the restarted agent's credential
        conn["stub"] = stub = farmer_pb2_grpc.FarmerServiceStub(channel2)
        time.sleep(2 * LEASE_S)  # longer than a lease: only renewals keep them
    finally:
        stop.set()
        t.join(5)

    outcomes = {code for _, _, code in log}
    print(f"renewals: {len(log)}, outcomes {sorted(outcomes)}")
    assert "NOT_FOUND" not in outcomes
    for rid in ids:
        assert any(ts > restarted_at and r == rid and c == "OK" for ts, r, c in log), rid
        assert any(ts < killed_at and r == rid and c == "OK" for ts, r, c in log), rid

    now = stub.ListReservations(farmer_pb2.ListReservationsRequest()).reservations
    assert sorted(r.id for r in now) == sorted(ids)
    drives = {d.path: d for d in stub.ListDrives(farmer_pb2.ListDrivesRequest()).drives}
    assert sum(d.writers for d in drives.values()) == 3
    assert drives[held[0].reservation.drive_path].reserved_bytes == 3 * MiB
    assert drives[held[1].reservation.drive_path].reserved_bytes == 4 * MiB
    # no slot and no byte was handed out twice: every writer slot is still taken
    with pytest.raises(grpc.RpcError) as e:
        stub.Reserve(farmer_pb2.ReserveRequest(plot_name=plot(9), size_bytes=MiB, requester="plotter-02"))
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert e.value.details().count("1/1 writers busy") == 3  # type: ignore[union-attr]

    # and the transfers can finish against the restarted agent
    d1 = Path(held[1].reservation.drive_path)
    (d1 / plot(1)).write_bytes(b"x" * 4 * MiB)
    stub.Complete(farmer_pb2.CompleteRequest(reservation_id=ids[1]))
    r9 = stub.Reserve(farmer_pb2.ReserveRequest(plot_name=plot(9), size_bytes=MiB, requester="plotter-02"))
    assert r9.reservation.drive_path == str(d1)
    channel.close()
    channel2.close()


def _run_farmer(config: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "plotboss-farmer"
    return subprocess.run([str(exe), "--config", str(config)], capture_output=True, text=True, timeout=30)


def test_drive_outside_the_module_or_a_corrupt_state_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "farm" / "d0").mkdir(parents=True)
    config = tmp_path / "farmer.yaml"
    body = (
        "version: 1\n"
        "agent: {name: farmer-x, listen: '127.0.0.1:0'}\n"
        f"drives: {{paths: ['{tmp_path}/farm/*', '{tmp_path}/elsewhere/*'], allow_non_mount: true}}\n"
        f"rsyncd: {{host: 127.0.0.1, module: plots, path: '{tmp_path}/farm'}}\n"
    )
    config.write_text(body)
    out = _run_farmer(config)
    assert out.returncode == 2
    assert f"{config}: drives.paths[1]: {tmp_path}/elsewhere/* is outside rsyncd.path" in out.stderr
    assert "Traceback" not in out.stderr
    config.write_text(body.replace(f", '{tmp_path}/elsewhere/*'", ""))
    state = tmp_path / ".farmer.state.json"
    state.write_text('{"format": 1, "reservations": [{"id": "nope"}]}')
    out = _run_farmer(config)
    assert out.returncode == 2
    assert f"{state}: not a plotboss farmer state file" in out.stderr and "Traceback" not in out.stderr
    assert state.read_text() == '{"format": 1, "reservations": [{"id": "nope"}]}'  # left for the operator to look at
