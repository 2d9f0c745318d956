"""The fault tests' own tools, checked: the kills and restarts do what the tests say they do, and the watch and
the end checks see the faults they are there to catch (a check that cannot fail is a defect)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from plotboss.plots import plot_size
from plotter_agent.archive.outcome import Fault, classify
from plotter_agent.rsync_runner import RsyncTransfer, TransferSpec
from testbed.archive_bed import Bed, place
from testbed.archive_watch import Truth, Watch, leftovers, pushes, reserved, runs_of, wait_mid_push, wait_until

pytestmark = pytest.mark.slow
MiB = 2**20


def fake_plot(where: Path, k: int = 20, i: int = 1) -> Path:
    p = where / f"plot-k{k}-2021-05-05-12-34-{i:064x}.plot"
    p.write_bytes(os.urandom(plot_size(k)))
    return p


def test_a_killed_daemon_ends_the_push_and_comes_back_on_its_port(bed: Bed, tmp_path: Path) -> None:
    farm = bed.farm("farmer-01", start=False)
    src = fake_plot(tmp_path)
    logs = tmp_path / "transfers"
    spec = TransferSpec(str(src), farm.rsyncd.url("d0/"), "a" * 32, str(logs), bwlimit_kbps=2048)
    t = RsyncTransfer(spec).start()
    try:
        assert wait_mid_push([farm], src.name, MiB) == farm.drives[0]
        assert set(pushes(logs)) == {t.pid}
        port = farm.rsyncd.port
        farm.kill_rsyncd()
        # rc 10 (socket I/O) or 12 (protocol stream): the farmer side broke off
        assert classify(t.wait(30)) in (Fault.SOCKET_IO, Fault.CONNECTION_LOST)
    finally:
        t.kill()
    farm.restart_rsyncd()
    assert farm.rsyncd.port == port
    t2 = RsyncTransfer(TransferSpec(str(src), farm.rsyncd.url("d0/"), "a" * 32, str(logs))).start()
    again = t2.wait(60)
    assert again.ok, again.stderr_tail
    assert (farm.drives[0] / src.name).stat().st_size == src.stat().st_size
    runs = runs_of(logs, src.name)
    assert [r[0] for r in runs] == [t.pid, t2.pid], runs
    assert runs[0][1] is not None and runs[1][1] is not None and runs[0][1] < src.stat().st_size <= runs[1][1]


def test_a_killed_farmer_restarts_on_its_port_with_its_reservations(bed: Bed) -> None:
    farm = bed.farm("farmer-01", lease_s=30)
    with farm.client() as fc:
        r = fc.reserve(f"plot-k20-2021-05-05-12-34-{7:064x}.plot", plot_size(20), "plotter-01")
    farm.kill()
    assert reserved([farm]) and "Unavailable" in reserved([farm])[0]
    farm.start()
    assert [x.id for x in farm.reservations() if not isinstance(x, str)] == [r.id]
    assert reserved([farm]) == [f"farmer-01: {r.plot_name} on {r.drive_path} ({r.id})"]


def test_the_watch_sees_a_partial_under_a_final_name_a_lost_plot_and_a_duplicate_send(bed: Bed, tmp_path: Path) -> None:
    farm = bed.farm("farmer-01", start=False)
    dst = tmp_path / "dst"
    dst.mkdir()
    src = place(fake_plot(tmp_path), dst)
    truth = Truth.of([src])
    logs = tmp_path / "transfers"
    watch = Watch(truth, lambda: [dst, *farm.drives], logs)
    watch.sample()
    assert watch.problems == []
    (farm.drives[0] / src.name).write_bytes(b"x" * MiB)  # what --inplace or --partial would leave
    watch.sample()
    assert watch.problems == [
        f"partial file under a final plot name: {farm.drives[0] / src.name} (1048576 of "
        f"{truth.plots[src.name][0]} bytes)"
    ]
    (farm.drives[0] / src.name).unlink()
    (farm.drives[0] / f".{src.name}.Ab12Cd").write_bytes(b"x")
    assert leftovers([farm], [dst]) == [str(farm.drives[0] / f".{src.name}.Ab12Cd")]

    src.rename(tmp_path / src.name)  # gone from dst, and on no drive
    watch.problems.clear()
    watch.sample()
    assert watch.problems == [f"lost: {src.name} is whole neither in a dst dir nor on a drive"]
    (tmp_path / src.name).rename(src)

    watch.problems.clear()
    ts = [
        RsyncTransfer(TransferSpec(str(src), farm.rsyncd.url(f"d{i}/"), f"{i:032x}", str(logs), bwlimit_kbps=512))
        for i in range(2)
    ]
    farm.drives.append(farm.module / "d1")
    farm.drives[1].mkdir()
    try:
        for t in ts:
            t.start()
        wait_until("both pushes seen", lambda: len(pushes(logs)) == 2, 10)
        watch.sample()
    finally:
        for t in ts:
            t.kill(signal.SIGKILL)
            t.wait(10)
    assert len(watch.problems) == 1 and watch.problems[0].startswith(f"duplicate send: 2 pushes of {src.name}")
    assert sorted(watch.seen) == sorted(t.pid for t in ts if t.pid is not None)
