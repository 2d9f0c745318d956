"""The ledger's undo (a change that could not be saved changes nothing), unconfirmed grants, plot ids and block
rounding, as pure decisions on virtual clocks; and the state writer reverting a change whose write failed."""

from __future__ import annotations

import errno
import itertools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from farmer_agent.config import RsyncdSection
from farmer_agent.drives import DriveInfo, DriveState, make_probe
from farmer_agent.farmer import Farmer
from farmer_agent.ledger import Ledger
from farmer_agent.plotfiles import landed_size
from farmer_agent.reservation import Rules, Undo
from farmer_agent.state import StateWriter, decode
from plotboss.errors import AlreadyExists, FailedPrecondition, InsufficientSpace, Unavailable

MiB = 2**20


def plot(i: int, k: int = 20) -> str:
    return f"plot-k{k}-2021-05-05-12-34-{i:064x}.plot"


class Clock:
    """A virtual clock (wall and monotonic alike here)."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def drive(
    path: str,
    free: int,
    *,
    written: Mapping[str, int] | None = None,
    temps: tuple[str, ...] = (),
    plots: frozenset[str] = frozenset(),
) -> DriveInfo:
    return DriveInfo(
        path, DriveState.OK, "", 100 * MiB, free, plots=plots, written=dict(written or {}), temp_files=temps
    )


def ledger(clock: Clock, **rules: Any) -> Ledger:
    counter = itertools.count(1)
    return Ledger(Rules(**rules), clock, new_id=lambda: f"{next(counter):032x}", monotonic=clock)


def snap(led: Ledger, *drives: DriveInfo) -> tuple[Any, ...]:
    return (led.reservations(), led.removals(), [led.reserved_bytes(d) for d in drives], led.export()[1])


def revert(undo: Undo) -> None:
    for fn in reversed(undo):
        fn()


def test_every_change_reverted_leaves_the_ledger_as_it_was() -> None:
    clock = Clock()
    led = ledger(clock, max_writers_per_drive=4, lease_s=60)
    a = drive("/a", 100 * MiB, temps=(f".{plot(1)}.AbCd12",), written={plot(1): MiB})
    r1 = led.reserve(plot(1), 4 * MiB, "p", [a])
    clock.t += 10
    changes: list[Callable[[Undo], object]] = [
        lambda u: led.reserve(plot(2), MiB, "p", [a], undo=u),
        lambda u: led.renew(r1.id, undo=u),
        lambda u: led.complete(r1.id, 4 * MiB, [a], undo=u),  # also books the removal of the dead temp file
        lambda u: led.release(r1.id, undo=u),
    ]
    for change in changes:
        before = snap(led, a)
        undo: Undo = []
        change(undo)
        assert snap(led, a) != before
        revert(undo)
        assert snap(led, a) == before
    clock.t += 100
    before = snap(led, a)
    undo = []
    assert led.expire(undo=undo) == [r1]
    revert(undo)
    assert snap(led, a) == before
    assert led.removals_due() == []  # no booking of a reverted end is left to run


def test_a_revert_never_undoes_a_later_change() -> None:
    clock = Clock()
    led = ledger(clock, max_writers_per_drive=4, lease_s=60)
    a, b = drive("/a", 100 * MiB), drive("/b", 50 * MiB)
    r = led.reserve(plot(1), MiB, "p", [a, b])
    clock.t += 10
    first: Undo = []
    led.renew(r.id, undo=first)
    clock.t += 10
    later = led.renew(r.id)
    revert(first)
    assert led.get(r.id) == later
    gone: Undo = []
    led.release(r.id, undo=gone)
    again = led.reserve(plot(1), MiB, "p", [a, b])  # on /b: /a still has the released one's files to remove
    revert(gone)
    assert [x.id for x in led.reservations()] == [again.id]  # the plot is not held twice


def test_an_unconfirmed_grant_counts_in_decisions_but_is_not_saved_until_confirmed() -> None:
    led = ledger(Clock(), max_writers_per_drive=1)
    a = drive("/a", 100 * MiB)
    r = led.reserve(plot(1), MiB, "p", [a], unconfirmed=True)
    with pytest.raises(InsufficientSpace, match="1/1 writers busy"):
        led.reserve(plot(2), MiB, "p", [a])
    version, rows = led.export()
    assert rows == []
    led.confirm(r.id)
    assert led.export() == (version + 1, [r])


def test_the_state_writer_reverts_a_change_whose_write_failed(tmp_path: Path) -> None:
    led = ledger(Clock(), max_writers_per_drive=4)
    a = drive("/a", 100 * MiB)
    written: list[bytes] = []
    failing = [True]

    def write(path: Path, data: bytes) -> None:
        if failing[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(data)

    w = StateWriter(tmp_path / "s.json", led.export, write=write)
    undo: Undo = []
    led.reserve(plot(1), MiB, "p", [a], undo=undo)
    with pytest.raises(OSError):
        w.save(led.version, undo)
    assert led.reservations() == []
    failing[0] = False
    kept = led.reserve(plot(2), MiB, "p", [a])
    w.save(led.version)
    assert decode(written[-1], "s.json") == [kept]


def test_a_plot_id_is_held_once_across_names_reservations_landed_plots_and_drives() -> None:
    clock = Clock()
    led = ledger(clock, max_writers_per_drive=4)
    pid = f"{7:064x}"
    a = drive("/a", 100 * MiB, plots=frozenset({f"plot-k32-2022-01-01-00-00-{pid}.plot"}))
    b = drive("/b", 100 * MiB)
    with pytest.raises(AlreadyExists, match="its plot id is already on /a as plot-k32-2022"):
        led.reserve(plot(7), MiB, "p", [a, b])
    r = led.reserve(plot(8), MiB, "p", [a, b])
    with pytest.raises(AlreadyExists, match=f"already reserved as {plot(8)}"):
        led.reserve(plot(8, k=21), MiB, "p", [a, b])
    led.complete(r.id, MiB)
    with pytest.raises(AlreadyExists, match=f"already archived as {plot(8)}"):
        led.reserve(plot(8).replace("k20-", "k20-c01-"), MiB, "p", [a, b])


def test_sizes_count_in_whole_allocation_blocks() -> None:
    led = ledger(Clock(), max_writers_per_drive=8, min_free_bytes=MiB)
    size = 4097  # two 4 KiB blocks
    a = DriveInfo("/a", DriveState.OK, total_bytes=100 * MiB, free_bytes=MiB + 4 * size + 100, block_size=4096)
    granted = [led.reserve(plot(i), size, "p", [a]) for i in range(2)]
    assert led.reserved_bytes(a) == 2 * 8192
    with pytest.raises(InsufficientSpace, match="free above the floor"):
        led.reserve(plot(3), size, "p", [a])
    # a transfer that wrote 1 byte has taken one block of free already: one block of it is still to come
    part = DriveInfo(
        "/a", DriveState.OK, total_bytes=100 * MiB, free_bytes=a.free_bytes - 4096, block_size=4096,
        written={granted[0].plot_name: 1},
    )  # fmt: skip
    assert led.reserved_bytes(part) == 4096 + 8192


def test_an_expiry_that_cannot_be_saved_waits_and_removes_nothing(tmp_path: Path, caplog: Any) -> None:
    clock = Clock()
    led = ledger(clock, lease_s=60)
    d = tmp_path / "a"
    d.mkdir()
    failing = [True]

    def write(path: Path, data: bytes) -> None:
        if failing[0]:
            raise OSError(errno.ENOSPC, "No space left on device")

    probe = make_probe(True)
    farmer = Farmer(
        RsyncdSection(host="h", module="plots", path=tmp_path),
        lambda: (probe(str(d), clock.t),),
        led,
        StateWriter(tmp_path / "s.json", led.export, write=write),
    )
    failing[0] = False
    r = farmer.reserve(plot(1), MiB, "p")
    partial = d / f".{plot(1)}.AbCd12"
    partial.write_bytes(b"x" * 10)
    failing[0] = True
    clock.t += 61
    for _ in range(3):
        assert farmer.sweep() == []
    assert [x.id for x in led.reservations()] == [r.id] and partial.exists()
    assert sum("expiring reservations: cannot write the state file" in m for m in caplog.messages) == 1
    failing[0] = False
    assert farmer.sweep() == [r]
    assert led.reservations() == [] and not partial.exists()


def test_landed_size_tells_a_hole_from_a_block_count_that_lags(tmp_path: Path, monkeypatch: Any) -> None:
    holed = tmp_path / plot(1)
    with open(holed, "wb") as out:
        out.write(os.urandom(MiB))
        out.seek(3 * MiB)
        out.write(os.urandom(MiB))
    with pytest.raises(FailedPrecondition, match=f"sparse .* a hole at byte {MiB}"):
        landed_size(str(tmp_path), plot(1))
    whole = tmp_path / plot(2)
    whole.write_bytes(os.urandom(MiB))
    assert landed_size(str(tmp_path), plot(2)) == MiB
    # a file system that counts blocks only once writes are synced (ZFS) shows no blocks yet; it has no hole
    real_lstat = os.lstat

    def lagging(path: Any) -> os.stat_result:
        st = real_lstat(path)
        fields = list(st)
        return os.stat_result(fields, {"st_blocks": 0, "st_blksize": st.st_blksize, "st_rdev": st.st_rdev})

    monkeypatch.setattr(os, "lstat", lagging)
    assert landed_size(str(tmp_path), plot(2)) == MiB
    with pytest.raises(FailedPrecondition, match="sparse"):
        landed_size(str(tmp_path), plot(1))


def test_a_drive_that_cannot_be_looked_at_refuses_the_grant_and_keeps_nothing(tmp_path: Path) -> None:
    led = ledger(Clock())
    d = tmp_path / "a"
    d.mkdir()
    probe = make_probe(True)

    def failing_look(drive: str, plot_id: str) -> list[str]:  # a drive answering EIO (a fault no real part here shows)
        raise OSError(errno.EIO, "Input/output error")

    farmer = Farmer(
        RsyncdSection(host="h", module="plots", path=tmp_path),
        lambda: (probe(str(d), 0.0),),
        led,
        None,
        find_fn=failing_look,
    )
    with pytest.raises(Unavailable, match=f"cannot look at {d}: Input/output error"):
        farmer.reserve(plot(1), MiB, "p")
    assert led.reservations() == [] and led.export()[1] == []
