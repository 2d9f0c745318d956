"""Race: 50 concurrent clients reserve, write, complete, release and abandon against 4 small drives for 20 s, through
real gRPC. Never more used + promised than capacity - floor on any drive; never more writers than allowed.

The drives are tmp dirs, made *small* by the test bed's disk-space seam (testbed.drives.SmallDrives: a fixed capacity
per dir whose used part is the bytes of the files really in it, written by the clients here; the clients rename through
it so that a probe never sees a file under neither name). Everything else (listing, temp files, the ledger, gRPC,
clean-up) is the production code.
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from farmer_agent.app import FarmerAgent
from farmer_agent.config import FarmerConfig
from farmer_agent.drives import RSYNC_TEMP_RE, make_probe
from plotboss.transport import dial
from plotboss.v1 import farmer_pb2, farmer_pb2_grpc
from testbed.agents import LOCAL_TOKEN, serve_in_process
from testbed.drives import SmallDrives, list_files

pytestmark = pytest.mark.slow
MiB = 2**20
CAPACITY = 28 * MiB
FLOOR = 8 * MiB
MAX_WRITERS = 2
CLIENTS = 50
DURATION_S = 20.0
DRIVES = SmallDrives(CAPACITY)


def plot_key(name: str) -> str:
    m = RSYNC_TEMP_RE.match(name)
    return m["name"] if m else name


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.c: collections.Counter[str] = collections.Counter()
        self.per_drive: collections.Counter[str] = collections.Counter()
        self.ignored: set[str] = set()  # plots whose files may vanish (released, abandoned, deleted)

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.c[key] += n

    def ignore(self, name: str) -> None:
        with self.lock:
            self.ignored.add(name)


def write_chunks(path: Path, size: int, upto: float, renew: Callable[[], object]) -> None:
    """Write like a transfer does, renewing the lease before the file is created and after every chunk (as plotters
    do): a client stalled past its lease gets NOT_FOUND and stops, rather than writing without a reservation."""
    chunk = size // 4
    renew()
    with open(path, "wb") as f:
        written = 0
        while written < size * upto:
            n = min(chunk, size - written)
            f.write(b"\0" * n)
            written += n
            time.sleep(random.uniform(0, 0.02))
            renew()


def client(i: int, address: str, deadline: float, stats: Stats) -> None:
    rnd = random.Random(i)
    channel = dial(address, token=LOCAL_TOKEN, timeout_s=10)
    stub = farmer_pb2_grpc.FarmerServiceStub(channel)
    seq = 0
    try:
        while time.monotonic() < deadline:
            seq += 1
            name = f"plot-k20-2021-05-05-12-34-{(i << 32 | seq):064x}.plot"
            size = rnd.randint(1, 6) * MiB + rnd.randint(0, 4095)
            try:
                r = stub.Reserve(
                    farmer_pb2.ReserveRequest(plot_name=name, size_bytes=size, requester=f"client-{i}")
                ).reservation
            except grpc.RpcError as e:
                details = e.details() or ""
                kinds = [k for k, word in (("writers", "writers busy"), ("space", "free above")) if word in details]
                kind = "+".join(kinds) or "other"
                stats.add(f"refused ({e.code().name}, {kind})")
                time.sleep(rnd.uniform(0.01, 0.05))
                continue
            stats.add("granted")
            with stats.lock:
                stats.per_drive[Path(r.drive_path).name] += 1
            drive = Path(r.drive_path)
            temp = drive / f".{name}.A{rnd.randrange(10**5):05d}"
            fate = rnd.random()

            def renew(rid: str = r.id) -> object:
                return stub.Renew(farmer_pb2.RenewRequest(reservation_id=rid))

            try:
                if fate < 0.75:
                    write_chunks(temp, size, 1.0, renew)
                    DRIVES.rename(temp, drive / name)
                    stub.Complete(farmer_pb2.CompleteRequest(reservation_id=r.id))
                    stats.add("completed")
                    if rnd.random() < 0.75:  # the farm moves most plots away; the rest fill the drives up
                        stats.ignore(name)
                        os.unlink(drive / name)
                elif fate < 0.9:
                    write_chunks(temp, size, rnd.uniform(0.2, 0.7), renew)
                    stats.ignore(name)
                    removed = stub.Release(farmer_pb2.ReleaseRequest(reservation_id=r.id)).removed_files
                    assert list(removed) == [str(temp)]
                    stats.add("released")
                else:
                    stats.ignore(name)
                    write_chunks(temp, size, rnd.uniform(0.2, 0.7), renew)
                    stats.add("abandoned (left to expire)")
            except (grpc.RpcError, FileNotFoundError) as e:
                # stalled past the lease (the farmer expired the reservation and removes its files): stop writing
                stats.ignore(name)
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()
                stats.add(f"lost: {type(e).__name__}")
    finally:
        channel.close()


def check(stub: farmer_pb2_grpc.FarmerServiceStub, drives: list[Path], stats: Stats) -> tuple[int, int]:
    """One sample: (worst used+promised over a drive, most writers on a drive), asserting both limits."""
    listing = {d: list_files(d) for d in drives}
    active = stub.ListReservations(farmer_pb2.ListReservationsRequest()).reservations
    with stats.lock:
        ignored = set(stats.ignored)
    worst = most = 0
    for d in drives:
        mine = {r.plot_name: r.size_bytes for r in active if r.drive_path == str(d)}
        written: dict[str, int] = collections.defaultdict(int)
        used = 0
        for name, size in listing[d]:
            key = plot_key(name)
            if key in mine:
                written[key] = max(written[key], size)
            elif key not in ignored:
                used += size
        promised = sum(max(size, written[k]) for k, size in mine.items())
        assert used + promised <= CAPACITY - FLOOR, (d, used, promised)
        assert len(mine) <= MAX_WRITERS, (d, sorted(mine))
        worst, most = max(worst, used + promised), max(most, len(mine))
    return worst, most


def test_fifty_clients_never_overfill_or_overcrowd(tmp_path: Path) -> None:
    module = tmp_path / "farm"
    drives = [module / f"d{i}" for i in range(4)]
    for d in drives:
        d.mkdir(parents=True)
    cfg = FarmerConfig.model_validate(
        {
            "version": 1,
            "agent": {"name": "farmer-race", "listen": "127.0.0.1:0", "poll_s": 0.1, "probe_timeout_s": 2},
            "drives": {
                "paths": [str(module / "*")],
                "allow_non_mount": True,
                "min_free_bytes": FLOOR,
                "max_writers_per_drive": MAX_WRITERS,
            },
            "rsyncd": {"host": "127.0.0.1", "module": "plots", "path": str(module)},
            "reservations": {"lease_s": 4, "state_file": str(tmp_path / "state.json")},
        }
    )
    served = serve_in_process(
        FarmerAgent(cfg, tmp_path / "farmer.yaml", probe=make_probe(True, space=DRIVES)), max_workers=16
    )
    address = served.address
    stats = Stats()
    deadline = time.monotonic() + DURATION_S
    threads = [threading.Thread(target=client, args=(i, address, deadline, stats)) for i in range(CLIENTS)]
    errors: list[BaseException] = []
    checks = worst = most = 0
    channel = dial(address, token=LOCAL_TOKEN, timeout_s=10)
    stub = farmer_pb2_grpc.FarmerServiceStub(channel)
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            try:
                w, m = check(stub, drives, stats)
            except AssertionError as e:
                errors.append(e)
                break
            checks += 1
            worst, most = max(worst, w), max(most, m)
            time.sleep(0.01)
        for t in threads:
            t.join(30)
        drives_now = stub.ListDrives(farmer_pb2.ListDrivesRequest()).drives
    finally:
        channel.close()
        served.stop()
    print(f"\n{CLIENTS} clients x {DURATION_S:g} s, 4 drives of {CAPACITY // MiB} MiB, floor {FLOOR // MiB} MiB:")
    for key, n in sorted(stats.c.items()):
        print(f"  {key:40s} {n:6d}")
    print(f"  grants per drive: {dict(sorted(stats.per_drive.items()))}")
    print(f"  {checks} invariant samples; worst used+promised {worst / MiB:.1f} MiB of {(CAPACITY - FLOOR) / MiB:.0f}")
    print(f"  most writers seen on a drive: {most} (limit {MAX_WRITERS})")
    assert not errors, errors[0]
    assert all(not t.is_alive() for t in threads)
    assert stats.c["granted"] > 60 and stats.c["completed"] > 30
    assert any(k.startswith("refused") and "writers" in k for k in stats.c)
    assert any(k.startswith("refused") and "space" in k for k in stats.c)
    assert checks > 50
    for view in drives_now:
        assert view.writers <= MAX_WRITERS
        assert view.free_bytes - view.reserved_bytes >= FLOOR or view.state == farmer_pb2.DRIVE_STATE_FULL
    assert len(set(stats.per_drive)) == 4
