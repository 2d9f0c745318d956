"""The reservation ledger, pure, with a virtual clock: policies, floor, writers, leases, complete, release, recovery."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Mapping
from dataclasses import replace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from farmer_agent.drives import DriveInfo, DriveState
from farmer_agent.ledger import Ledger, Recovery
from farmer_agent.removals import Removal
from farmer_agent.reservation import Reservation, Rules, check_id
from plotboss.errors import AlreadyExists, FailedPrecondition, InsufficientSpace, InvalidArgument, NotFound
from plotboss.plots import expected_plot_size
from testbed.clock import VirtualClock

MiB = 2**20


def plot(i: int, k: int = 20) -> str:
    return f"plot-k{k}-2021-05-05-12-34-{i:064x}.plot"


def drive(
    path: str,
    free: int,
    *,
    state: DriveState = DriveState.OK,
    written: Mapping[str, int] | None = None,
    temps: tuple[str, ...] = (),
    plots: frozenset[str] = frozenset(),
    t: float = 0.0,
    wall: float | None = None,
) -> DriveInfo:
    """A probe of ``path`` started at ``t`` (monotonic; the wall-clock time is the same unless ``wall`` is given)."""
    return DriveInfo(
        path,
        state,
        "",
        100 * MiB,
        free,
        plots=plots,
        written=dict(written or {}),
        temp_files=temps,
        probe_time=t if wall is None else wall,
        probe_mono=t,
    )


def ledger(clock: VirtualClock, monotonic: VirtualClock | None = None, **rules: object) -> Ledger:
    """A ledger on virtual clocks: ``clock`` (wall) and ``monotonic`` (the same one unless given)."""
    counter = itertools.count(1)
    return Ledger(
        Rules(**rules),  # type: ignore[arg-type]
        clock,
        new_id=lambda: f"{next(counter):032x}",
        monotonic=monotonic or clock,
    )


def test_most_free_picks_the_drive_with_most_room() -> None:
    led = ledger(VirtualClock())
    r = led.reserve(plot(1), MiB, "p1", [drive("/a", 10 * MiB), drive("/b", 30 * MiB), drive("/c", 20 * MiB)])
    assert r.drive == "/b"
    assert len(r.id) == 32


def test_most_free_counts_reservations() -> None:
    led = ledger(VirtualClock(), max_writers_per_drive=4)
    drives = [drive("/a", 10 * MiB), drive("/b", 12 * MiB)]
    assert led.reserve(plot(1), 4 * MiB, "p", drives).drive == "/b"  # b: 12 -> 8 left
    assert led.reserve(plot(2), 4 * MiB, "p", drives).drive == "/a"  # a: 10 > 8


def test_fill_first_takes_drives_in_order() -> None:
    led = ledger(VirtualClock(), policy="fill_first", max_writers_per_drive=4)
    drives = [drive("/a", 10 * MiB), drive("/b", 50 * MiB)]
    assert [led.reserve(plot(i), 3 * MiB, "p", drives).drive for i in range(4)] == ["/a", "/a", "/a", "/b"]


def test_floor_is_never_crossed_and_refusal_gives_reason_per_drive() -> None:
    led = ledger(VirtualClock(), min_free_bytes=8 * MiB, max_writers_per_drive=8)
    drives = [drive("/a", 10 * MiB), drive("/m", 0, state=DriveState.MISSING)]
    led.reserve(plot(1), 2 * MiB, "p", drives)
    with pytest.raises(InsufficientSpace) as e:
        led.reserve(plot(2), 1, "p", drives)
    assert "/a: 0.0 MiB free above the floor" in str(e.value)
    assert "/m: missing" in str(e.value)


def test_writer_limit() -> None:
    led = ledger(VirtualClock(), max_writers_per_drive=2)
    drives = [drive("/a", 100 * MiB)]
    a = led.reserve(plot(1), MiB, "p", drives)
    led.reserve(plot(2), MiB, "p", drives)
    with pytest.raises(InsufficientSpace, match="2/2 writers busy"):
        led.reserve(plot(3), MiB, "p", drives)
    led.release(a.id)
    led.removal_done(a.plot_name, a.drive)
    assert led.reserve(plot(3), MiB, "p", drives).drive == "/a"


def test_unusable_drives_are_never_chosen() -> None:
    led = ledger(VirtualClock())
    drives = [
        drive("/m", 90 * MiB, state=DriveState.MISSING),
        drive("/r", 90 * MiB, state=DriveState.READ_ONLY),
        drive("/e", 90 * MiB, state=DriveState.ERROR),
        drive("/ok", 5 * MiB),
    ]
    assert led.reserve(plot(1), MiB, "p", drives).drive == "/ok"


def test_lease_expiry_and_renew() -> None:
    clock = VirtualClock()
    led = ledger(clock, lease_s=60)
    drives = [drive("/a", 100 * MiB)]
    r = led.reserve(plot(1), MiB, "p", drives)
    assert r.expire_time == 1060
    clock.t = 1050
    assert led.renew(r.id).expire_time == 1110
    clock.t = 1100
    assert led.expire() == []
    clock.t = 1110
    with pytest.raises(NotFound, match="expired"):
        led.renew(r.id)
    gone = led.expire()
    assert [g.id for g in gone] == [r.id]
    with pytest.raises(NotFound):
        led.renew(r.id)
    # until its files are removed, the plot is not placed on that drive again
    with pytest.raises(
        InsufficientSpace, match="/a: files of an earlier transfer of this plot are still being removed"
    ):
        led.reserve(plot(1), MiB, "p", drives)
    led.removal_done(plot(1), "/a")
    with pytest.raises(InsufficientSpace, match="were removed after this probe began"):
        led.reserve(plot(1), MiB, "p", drives)  # that probe may still list them
    assert led.reserve(plot(1), MiB, "p", [drive("/a", 100 * MiB, t=clock.t + 1)]).drive == "/a"


def test_a_plot_whose_files_are_being_removed_is_placed_on_another_drive_only() -> None:
    led = ledger(VirtualClock(), max_writers_per_drive=4)
    a, b = drive("/a", 100 * MiB), drive("/b", 50 * MiB)
    r = led.reserve(plot(1), MiB, "p", [a, b])
    assert r.drive == "/a"
    led.release(r.id)
    assert led.removal(plot(1), "/a") == Removal(plot(1), "/a", keep_final=False, size_bytes=MiB, since=1000.0)
    with pytest.raises(
        InsufficientSpace, match="/a: files of an earlier transfer of this plot are still being removed"
    ):
        led.reserve(plot(1), MiB, "p", [a])
    assert led.reserve(plot(1), MiB, "p", [a, b]).drive == "/b"  # another drive may take it
    assert led.reserve(plot(2), MiB, "p", [a, b]).drive == "/a"  # and other plots still go to /a
    # rsync --partial left a partial under the final name: while it is being removed it is no archived plot
    r3 = led.reserve(plot(3), MiB, "p", [a, b])
    led.release(r3.id)
    a3 = drive("/a", 99 * MiB, plots=frozenset({plot(3)}), written={plot(3): 10})
    assert led.reserve(plot(3), MiB, "p", [a3, b]).drive == "/b"
    assert led.removals() == [Removal(plot(1), "/a", False, MiB, 1000.0), Removal(plot(3), "/a", False, MiB, 1000.0)]
    led.removal_done(plot(3), "/a")
    with pytest.raises(AlreadyExists):  # once removed, a file under the final name is a plot again
        led.reserve(plot(3), MiB, "p", [a3])


def test_a_probe_that_began_before_a_removal_ended_never_places_that_plot_on_that_drive() -> None:
    """The unlink may land between a probe's listing and its statvfs: that probe lists the deleted temp file (credited
    as the new transfer's progress) while its free figure already has those bytes back, so deciding on it would
    promise them twice. Until a probe that started after the removal ended has listed the drive, the plot stays off
    that drive (other plots do not)."""
    mono = VirtualClock(1)
    led = ledger(VirtualClock(1000), mono, max_writers_per_drive=4)
    r1, r3 = (led.reserve(plot(i), 6 * MiB, "p", [drive("/a", 20 * MiB, t=1)]) for i in (1, 3))
    led.release(r1.id)
    led.release(r3.id)
    mono.t = 3
    led.removal_done(plot(1), "/a")
    led.removal_done(plot(3), "/a")
    # started at 2: listed plot 1's temp file (5 MiB) and plot 3's partial under the final name (rsync --partial),
    # then statvfs ran after the unlinks: free has their bytes back
    torn = drive(
        "/a",
        20 * MiB,
        temps=(f".{plot(1)}.abc123",),
        plots=frozenset({plot(3)}),
        written={plot(1): 5 * MiB, plot(3): MiB},
        t=2,
    )
    why = "/a: files of an earlier transfer of this plot were removed after this probe"
    for i in (1, 3):  # plot 3's partial is no archived plot: refused on /a, not AlreadyExists
        with pytest.raises(InsufficientSpace, match=why):
            led.reserve(plot(i), 6 * MiB, "p", [torn])
    assert led.reserve(plot(2), 6 * MiB, "p", [torn]).drive == "/a"  # other plots may go there
    with pytest.raises(InsufficientSpace, match=why):
        led.reserve(plot(1), 6 * MiB, "p", [replace(torn, probe_mono=3)])  # started as the removal ended: unsure
    fresh = drive("/a", 20 * MiB, t=4)
    assert led.reserve(plot(1), 6 * MiB, "p", [fresh]).drive == "/a"
    assert led.available_bytes(fresh) == 8 * MiB


def test_a_failed_removal_keeps_blocking_and_is_due_again_with_a_growing_delay() -> None:
    wall, mono = VirtualClock(1000), VirtualClock(0)
    led = ledger(wall, mono)
    a = drive("/a", 100 * MiB)
    led.release(led.reserve(plot(1), MiB, "p", [a]).id)
    assert led.removals_due() == []  # running (the farmer is at it)
    failed = led.removal_failed(plot(1), "/a")
    assert failed == Removal(plot(1), "/a", False, MiB, 1000.0, running=False, failures=1, retry_at=1.0)
    assert led.removals_due() == []
    mono.t = 1.0
    assert led.removals_due() == [replace(failed, running=True)]
    assert led.removals_due() == []  # handed out once
    assert led.removal_failed(plot(1), "/a") == replace(failed, failures=2, retry_at=3.0)
    for _ in range(10):
        led.removal_failed(plot(1), "/a")
    stuck = led.removal(plot(1), "/a")
    assert stuck is not None and stuck.retry_at == mono.t + 60  # at most a minute apart
    wall.t += 3600  # leases come and go; the plot stays off /a all along
    with pytest.raises(InsufficientSpace, match="still being removed"):
        led.reserve(plot(1), MiB, "p", [a])
    led.removal_done(plot(1), "/a")
    assert led.reserve(plot(1), MiB, "p", [drive("/a", 100 * MiB, t=mono.t + 1)]).drive == "/a"


def test_complete_checks_size_and_keeps_reservation_on_mismatch() -> None:
    led = ledger(VirtualClock())
    r = led.reserve(plot(1), 5 * MiB, "p", [drive("/a", 100 * MiB)])
    with pytest.raises(FailedPrecondition, match="not on /a"):
        led.complete(r.id, None)
    with pytest.raises(FailedPrecondition, match="reserved for"):
        led.complete(r.id, 5 * MiB - 1)
    assert led.get(r.id) == r
    assert led.complete(r.id, 5 * MiB) == r
    with pytest.raises(NotFound):
        led.complete(r.id, 5 * MiB)


def test_complete_puts_the_plots_leftover_temp_files_seen_on_its_drive_down_for_removal() -> None:
    led = ledger(VirtualClock(), max_writers_per_drive=4)
    a, b = drive("/a", 100 * MiB), drive("/b", 50 * MiB)
    r1, r2 = (led.reserve(plot(i), MiB, "p", [a, b]) for i in (1, 2))
    seen_a = drive("/a", 99 * MiB, temps=(f".{plot(1)}.Dead11", f".{plot(2)}.Live22"), written={plot(1): 5})
    seen_b = drive("/b", 50 * MiB, temps=(f".{plot(2)}.Dead22",))
    led.complete(r1.id, MiB, [seen_a, seen_b])
    assert led.removals() == [Removal(plot(1), "/a", keep_final=True)]  # temp files only: the plot stays
    led.complete(r2.id, MiB, [drive("/a", 99 * MiB), seen_b])  # none of plot 2 on /a in the last probe
    assert led.removals() == [Removal(plot(1), "/a", keep_final=True)]


def test_release_unknown_and_malformed_ids() -> None:
    led = ledger(VirtualClock())
    with pytest.raises(NotFound):
        led.release("0" * 32)
    for bad in ("", "xyz", "../" + "0" * 29, "A" * 32, "0" * 33, "0" * 32 + "\n"):
        with pytest.raises(InvalidArgument):
            led.release(bad)
        with pytest.raises(InvalidArgument):
            check_id(bad)


@pytest.mark.parametrize(
    ("name", "size", "requester"),
    [
        ("../x.plot", MiB, "p"),
        (plot(1) + "/../../etc", MiB, "p"),
        ("plot-k18-2021-05-05-12-34-" + "a" * 64 + ".plot/../../etc/passwd", MiB, "p"),
        ("sub/" + plot(1), MiB, "p"),
        (plot(1), 0, "p"),
        (plot(1), -5, "p"),
        (plot(1), expected_plot_size(20) * 2 + 1, "p"),
        (plot(1), 2**63, "p"),
        (plot(1), MiB, ""),
        (plot(1), MiB, "   "),
        (plot(1) + "\n", MiB, "p"),  # `$` would let a trailing newline through: a second name for one plot
        (plot(1).replace("k20", "k\uff12\uff10"), MiB, "p"),  # fullwidth digits are digits to `\d`, not to a farm
        (plot(1).replace("2021", "\u0662\u0660\u0662\u0661"), MiB, "p"),  # Arabic-Indic digits
    ],
)
def test_bad_requests_are_invalid_and_change_nothing(name: str, size: int, requester: str) -> None:
    led = ledger(VirtualClock())
    with pytest.raises(InvalidArgument):
        led.reserve(name, size, requester, [drive("/a", 100 * MiB)])
    assert led.reservations() == [] and led.version == 0


def test_already_reserved_or_on_a_drive() -> None:
    led = ledger(VirtualClock())
    drives = [drive("/a", 100 * MiB, plots=frozenset({plot(9)})), drive("/b", 100 * MiB)]
    led.reserve(plot(1), MiB, "p", drives)
    with pytest.raises(AlreadyExists):
        led.reserve(plot(1), MiB, "p", drives)
    with pytest.raises(AlreadyExists):
        led.reserve(plot(9), MiB, "p", drives)


def test_reserved_counts_down_as_the_temp_file_grows() -> None:
    led = ledger(VirtualClock(), min_free_bytes=0)
    r = led.reserve(plot(1), 10 * MiB, "p", [drive("/a", 50 * MiB)])
    # the probe sees 4 MiB written (free went down by as much): reserved is what is still to come
    d = drive("/a", 46 * MiB, written={plot(1): 4 * MiB}, t=1001)
    assert led.reserved_bytes(d) == 6 * MiB
    assert led.available_bytes(d) == 40 * MiB  # same as before any byte was written
    assert r.drive == "/a"


def test_landed_plot_keeps_counting_until_a_newer_probe() -> None:
    clock = VirtualClock(1000)
    led = ledger(clock, max_writers_per_drive=4)
    r = led.reserve(plot(1), 10 * MiB, "p", [drive("/a", 30 * MiB, t=999)])
    clock.t = 1005
    led.complete(r.id, 10 * MiB)
    stale = drive("/a", 30 * MiB, t=1004)  # probed before the plot landed
    assert led.available_bytes(stale) == 20 * MiB
    with pytest.raises(InsufficientSpace):
        led.reserve(plot(2), 25 * MiB, "p", [stale])
    fresh = drive("/a", 20 * MiB, plots=frozenset({plot(1)}), written={plot(1): 10 * MiB}, t=1006)
    assert led.available_bytes(fresh) == 20 * MiB
    with pytest.raises(AlreadyExists):
        led.reserve(plot(1), 10 * MiB, "p", [fresh])


def test_an_older_snapshot_after_a_newer_one_is_refused_not_under_counted() -> None:
    """Two Reserve calls holding snapshots of different ages: the newer one prunes the landed record of a plot that
    completed between the two probes; the older snapshot, which does not show that plot in its free space, must then
    not be decided on (it would promise the plot's bytes a second time)."""
    clock = VirtualClock(1000)
    led = ledger(clock, max_writers_per_drive=4)
    r = led.reserve(plot(1), 10 * MiB, "p", [drive("/a", 30 * MiB, t=999)])
    clock.t = 1005
    led.complete(r.id, 10 * MiB)
    old = drive("/a", 30 * MiB, t=1004)  # probed before plot 1 landed: its 10 MiB are not in this free figure
    new = drive("/a", 20 * MiB, plots=frozenset({plot(1)}), written={plot(1): 10 * MiB}, t=1006)
    led.reserve(plot(2), 5 * MiB, "p", [new])  # prunes the landed record: the newer probe shows the plot
    with pytest.raises(InsufficientSpace) as e:
        led.reserve(plot(3), 25 * MiB, "p", [old])  # 30 MiB free per the old probe, but only 15 MiB really are
    assert "stale probe" in str(e.value)


@pytest.mark.parametrize("state", [DriveState.ERROR, DriveState.MISSING])
def test_a_probe_that_did_not_list_the_drive_never_forgets_a_landed_plot(state: DriveState) -> None:
    """A newer probe of the drive that failed (timed out, hung, statvfs error) or found it unmounted lists nothing: it
    must neither prune the landed record of a plot just completed there (the plot would be reserved again on another
    drive and archived twice) nor count as the newest probe of that drive."""
    mono = VirtualClock(1)
    led = ledger(VirtualClock(1000), mono, max_writers_per_drive=4)
    r = led.reserve(plot(1), 5 * MiB, "p", [drive("/a", 40 * MiB, t=1), drive("/b", 40 * MiB, t=1)])
    assert r.drive == "/a"
    mono.t = 2
    led.complete(r.id, 5 * MiB)  # the probe at t=1 listed no final file of plot 1 yet
    mono.t = 3
    failed = DriveInfo("/a", state, "probe timed out after 5 s", probe_time=3, probe_mono=3)
    with pytest.raises(AlreadyExists, match="already archived on /a"):
        led.reserve(plot(1), 5 * MiB, "p", [failed, drive("/b", 40 * MiB, t=3)])
    # the landed plot still counts against the last probe that listed /a (t=1), which is not refused as stale
    assert led.reserve(plot(2), 35 * MiB, "p", [drive("/a", 40 * MiB, t=1)]).drive == "/a"
    with pytest.raises(InsufficientSpace):
        led.reserve(plot(3), 1, "p", [drive("/a", 40 * MiB, t=1)])
    seen = drive("/a", 35 * MiB, plots=frozenset({plot(1)}), written={plot(1): 5 * MiB}, t=4)
    with pytest.raises(AlreadyExists, match="already on /a"):  # once a probe listed it, the listing says so
        led.reserve(plot(1), 5 * MiB, "p", [seen, drive("/b", 40 * MiB, t=4)])


def test_a_wall_clock_step_back_neither_refuses_fresh_probes_nor_forgets_a_landed_plot() -> None:
    """NTP steps the wall clock back an hour: probes and completions are ordered on the monotonic clock, so a fresh
    probe is not 'stale', and a probe started before a completion still counts the landed plot."""
    wall, mono = VirtualClock(1000), VirtualClock(50)
    led = ledger(wall, mono, max_writers_per_drive=8)
    r = led.reserve(plot(1), 10 * MiB, "p", [drive("/a", 100 * MiB, t=49, wall=999)])
    wall.t, mono.t = 1000 - 3600, 55  # the step, and 5 s of real time
    before = drive("/a", 100 * MiB, t=54, wall=-2601)  # probed before plot 1 landed: its 10 MiB not in free yet
    led.complete(r.id, 10 * MiB)
    assert led.available_bytes(before) == 90 * MiB
    mono.t = 57
    fresh = drive("/a", 90 * MiB, plots=frozenset({plot(1)}), written={plot(1): 10 * MiB}, t=56, wall=-2599)
    assert led.reserve(plot(2), MiB, "p", [fresh]).drive == "/a"
    assert led.available_bytes(fresh) == 89 * MiB
    # leases stay on the wall clock: clients see them as timestamps
    assert led.get(led.reservations()[0].id).expire_time == wall.t + 120


def test_recover_holds_space_for_unknown_temp_files() -> None:
    clock = VirtualClock()
    led = ledger(clock, lease_s=30)
    known = led.reserve(plot(1), MiB, "p", [drive("/a", 100 * MiB)])
    temps = (f".{plot(1)}.AbC123", f".{plot(2)}.x1Y2z3", ".notaplot.abcdef")
    d = drive("/a", 100 * MiB, temps=temps, written={plot(1): 10, plot(2): 20})
    found = led.recover([d])
    assert [(r.plot_name, r.requester, r.size_bytes) for r in found.held] == [
        (plot(2), "recovered", expected_plot_size(20))
    ]
    assert found.stale == [] and found.whole == []
    assert {r.plot_name for r in led.reservations()} == {known.plot_name, plot(2)}
    assert led.recover([d]) == Recovery([], [], [])


def test_recover_never_holds_a_stale_temp_file_next_to_its_archived_plot() -> None:
    """A temp file left by an earlier, killed attempt next to the archived plot: a recovered reservation would
    expire and remove the plot with it. The temp files are down for removal instead, the plot is kept."""
    clock = VirtualClock()
    led = ledger(clock, lease_s=30)
    temps = (f".{plot(1)}.AbC123", f".{plot(1)}.dEf456", f".{plot(2)}.x1Y2z3")
    a = drive("/a", 100 * MiB, temps=temps, plots=frozenset({plot(1)}), written={plot(1): 100, plot(2): 20})
    b = drive("/b", 100 * MiB, plots=frozenset({plot(2)}))  # plot 2 is archived, but on another drive
    found = led.recover([a, b])
    assert found.stale == [Removal(plot(1), "/a", keep_final=True)]
    assert [(r.plot_name, r.drive) for r in found.held] == [(plot(2), "/a")]
    assert [r.plot_name for r in led.reservations()] == [plot(2)]
    with pytest.raises(AlreadyExists):
        led.reserve(plot(1), MiB, "p", [a, b])
    clock.t += 30
    (gone,) = led.expire()
    assert led.removal(gone.plot_name, "/a") == Removal(plot(2), "/a", False, expected_plot_size(20), gone.create_time)


def test_a_restored_reservation_whose_plot_is_whole_is_reported_and_its_removal_told_the_size() -> None:
    """After a restart, a restored reservation whose plot is already whole on its drive: the state file may predate
    a Complete that was answered (its save failed), so the plotter may have deleted its copy. Complete still works;
    ending without one books a removal that keeps a final file of exactly the reserved size (decided when it runs);
    meanwhile the whole plot is no partial: the plot is not placed anywhere else."""
    clock = VirtualClock(1000)
    rows = [
        Reservation(f"{i:032x}", plot(i), 10 * MiB, "p", "/a", 900, 1010) for i in (1, 2, 3)
    ]  # 1: whole; 2: a partial under the final name (rsync --partial); 3: whole, then completed
    restored = Ledger(Rules(lease_s=60, max_writers_per_drive=4), clock, reservations=rows, monotonic=clock)
    restored.extend_all()
    sizes = {plot(1): 10 * MiB, plot(2): 3 * MiB, plot(3): 10 * MiB}
    a = DriveInfo("/a", DriveState.OK, "", 100 * MiB, 70 * MiB, plots=frozenset(sizes), plot_sizes=sizes, written=sizes)
    found = restored.recover([a])
    assert [r.id for r in found.whole] == [rows[0].id, rows[2].id]
    assert found.held == [] and found.stale == []
    assert restored.complete(rows[2].id, 10 * MiB).id == rows[2].id
    clock.t += 61
    assert {r.id for r in restored.expire()} == {rows[0].id, rows[1].id}
    assert restored.removals() == [
        Removal(plot(1), "/a", False, 10 * MiB, 900),
        Removal(plot(2), "/a", False, 10 * MiB, 900),
    ]
    b = drive("/b", 50 * MiB)
    with pytest.raises(AlreadyExists, match="already on /a"):
        restored.reserve(plot(1), 10 * MiB, "p", [a, b])
    assert restored.reserve(plot(2), 10 * MiB, "p", [a, b]).drive == "/b"
    restored.removal_done(plot(1), "/a", kept=True)
    with pytest.raises(AlreadyExists):
        restored.reserve(plot(1), 10 * MiB, "p", [b])


def test_an_ended_reservations_bytes_count_until_its_removal_tells_whether_the_plot_stayed() -> None:
    """The plot may have landed whole after the last probe and the reservation then ended without a Complete: its
    removal will keep it. Until the removal reports, the bytes that probe has not seen keep counting; if the plot
    stayed, they count on as a landed plot until a probe that began after that has seen them in its free space; if
    the files went, they count no more."""
    mono = VirtualClock(1)
    led = ledger(VirtualClock(1000), mono, max_writers_per_drive=4)
    seen = drive("/a", 40 * MiB, written={plot(1): 4 * MiB}, t=1)  # 4 of its 10 MiB when the drive was probed
    r = led.reserve(plot(1), 10 * MiB, "p", [seen])
    assert led.available_bytes(seen) == 34 * MiB
    led.release(r.id)  # the plotter gave up, but its push had just finished: plot 1 is whole on /a
    assert led.available_bytes(seen) == 34 * MiB
    with pytest.raises(InsufficientSpace):
        led.reserve(plot(2), 35 * MiB, "p", [seen])
    mono.t = 2
    led.removal_done(plot(1), "/a", kept=True)
    assert led.available_bytes(seen) == 34 * MiB
    with pytest.raises(AlreadyExists, match="already archived on /a"):
        led.reserve(plot(1), 10 * MiB, "p", [seen, drive("/b", 40 * MiB, t=1)])
    fresh = drive("/a", 30 * MiB, plots=frozenset({plot(1)}), written={plot(1): 10 * MiB}, t=3)
    assert led.available_bytes(fresh) == 30 * MiB
    r2 = led.reserve(plot(2), 10 * MiB, "p", [fresh])  # a transfer that dies after 4 MiB
    torn = drive("/a", 26 * MiB, plots=frozenset({plot(1)}), written={plot(1): 10 * MiB, plot(2): 4 * MiB}, t=4)
    led.release(r2.id)
    assert led.available_bytes(torn) == 20 * MiB
    mono.t = 5
    led.removal_done(plot(2), "/a")  # nothing whole: its files went
    assert led.available_bytes(torn) == 26 * MiB  # stale, and too low (its 4 MiB are free again): never too high


def test_extend_all_gives_restored_reservations_one_lease() -> None:
    clock = VirtualClock(1000)
    led = ledger(clock, lease_s=60)
    r = led.reserve(plot(1), MiB, "p", [drive("/a", 100 * MiB)])
    clock.t = 1500  # the agent was down for longer than the lease
    restored = Ledger(Rules(lease_s=60), clock, reservations=[r])
    restored.extend_all()
    assert restored.get(r.id).expire_time == 1560


# --- property: whatever the sequence, no drive is promised past its floor and no drive has too many writers --------


ops = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "renew", "complete", "release", "tick", "expire"]),
        st.integers(0, 15),
        st.integers(1, 12),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(
    ops=ops,
    frees=st.lists(st.integers(0, 40), min_size=1, max_size=4),
    floor=st.integers(0, 8),
    writers=st.integers(1, 3),
    policy=st.sampled_from(["most_free", "fill_first"]),
)
def test_ledger_invariants(
    ops: list[tuple[str, int, int]], frees: list[int], floor: int, writers: int, policy: str
) -> None:
    clock = VirtualClock(1000)
    led = ledger(clock, min_free_bytes=floor * MiB, max_writers_per_drive=writers, policy=policy, lease_s=10)
    drives = [drive(f"/d{i}", f * MiB) for i, f in enumerate(frees)]
    held: list[str] = []
    for op, n, size in ops:
        if op == "reserve":
            try:
                r = led.reserve(plot(n), size * MiB, "p", drives)
                held.append(r.id)
            except (InsufficientSpace, AlreadyExists):
                pass
        elif op == "tick":
            clock.t += n
        elif op == "expire":
            for r in led.expire():
                led.removal_done(r.plot_name, r.drive)
        elif held:
            rid = held[n % len(held)]
            try:
                if op == "renew":
                    led.renew(rid)
                elif op == "complete":
                    done = led.complete(rid, led.get(rid).size_bytes)
                    led.removal_done(done.plot_name, done.drive)  # its leftover temp files (none here)
                else:
                    gone = led.release(rid)
                    led.removal_done(gone.plot_name, gone.drive)
            except NotFound:
                pass
        for d in drives:
            mine = [r for r in led.reservations() if r.drive == d.path]
            assert len(mine) <= writers
            # nothing is written in this model, so every promised byte is outstanding until a probe sees it
            assert led.reserved_bytes(d) <= max(0, d.free_bytes - floor * MiB)
        names = [r.plot_name for r in led.reservations()]
        assert len(names) == len(set(names))


# --- property with bytes on disk: transfers write, probes lag behind, plots land and get moved away ---------------


class FakeDrive:
    """What is really on one drive (files by plot name) and what the last probe saw."""

    def __init__(self, path: str, free0: int) -> None:
        self.path = path
        self.free0 = free0
        self.temp: dict[str, int] = {}
        self.final: dict[str, int] = {}
        self.seen = drive(path, free0, t=0.0)

    def used(self) -> int:
        return sum(self.temp.values()) + sum(self.final.values())

    def probe(self, now: float) -> None:
        written = dict(self.temp)
        for name, size in self.final.items():
            written[name] = min(written.get(name, size), size)  # as probe_drive does
        self.seen = DriveInfo(
            self.path,
            DriveState.OK,
            "",
            self.free0,
            self.free0 - self.used(),
            plots=frozenset(self.final),
            written=written,
            probe_time=now,
            probe_mono=now,
        )


disk_ops = st.lists(
    st.tuples(
        st.sampled_from(
            ["reserve"] * 3
            + ["write"] * 2
            + ["land"] * 2
            + ["complete"] * 2
            + ["release", "probe", "move", "tick", "expire", "clean"]
        ),
        st.integers(0, 30),
        st.integers(2, 8),
    ),
    max_size=60,
)


@settings(max_examples=500, deadline=None)
# the two ways a stale probe could let space be promised twice (random search finds the first, rarely the second):
# a plot landed and completed since the probe; a transfer half-written at the probe
@example(ops=[("reserve", 0, 8), ("land", 0, 1), ("complete", 0, 1), ("reserve", 0, 8)], frees=[10], floor=0)
@example(ops=[("reserve", 0, 8), ("write", 4, 1), ("probe", 0, 1), ("reserve", 0, 3)], frees=[10], floor=0)
# a plot that landed whole after the last probe, whose reservation then ended without a Complete: its removal keeps it
@example(ops=[("reserve", 0, 8), ("land", 0, 1), ("release", 0, 1), ("reserve", 0, 8)], frees=[10], floor=0)
@example(
    ops=[("reserve", 0, 8), ("land", 0, 1), ("release", 0, 1), ("clean", 0, 1), ("reserve", 0, 8)], frees=[10], floor=0
)
@given(ops=disk_ops, frees=st.lists(st.integers(4, 24), min_size=1, max_size=3), floor=st.integers(0, 4))
def test_never_more_used_plus_promised_than_capacity_minus_floor(
    ops: list[tuple[str, int, int]], frees: list[int], floor: int
) -> None:
    clock = VirtualClock(1000)
    led = ledger(clock, min_free_bytes=floor * MiB, max_writers_per_drive=2, lease_s=20)
    disks = {f"/d{i}": FakeDrive(f"/d{i}", f * MiB) for i, f in enumerate(frees)}
    seq = itertools.count()

    def clean() -> None:  # what the farmer's removals do: temp files go, a whole plot stays
        for rm in led.removals():
            d = disks[rm.drive]
            d.temp.pop(rm.plot_name, None)
            kept = not rm.keep_final and d.final.get(rm.plot_name) == rm.size_bytes
            if not rm.keep_final and not kept:
                d.final.pop(rm.plot_name, None)
            led.removal_done(rm.plot_name, rm.drive, kept=kept)

    for op, n, size in ops:
        held = led.reservations()
        r = held[n % len(held)] if held else None
        if op == "reserve":
            with contextlib.suppress(InsufficientSpace):
                led.reserve(plot(next(seq)), size * MiB, "p", [d.seen for d in disks.values()])
        elif op == "probe":
            for d in disks.values():
                d.probe(clock.t)
        elif op == "tick":
            clock.t += n % 4
        elif op == "expire":
            led.expire()
        elif op == "clean":
            clean()
        elif op == "move":  # the farm moves a landed plot elsewhere
            for d in disks.values():
                if d.final:
                    d.final.pop(sorted(d.final)[n % len(d.final)])
                    break
        elif r is not None and r.expire_time > clock.t:
            d = disks[r.drive]
            if op == "write" and r.plot_name not in d.final:
                d.temp[r.plot_name] = min(r.size_bytes, d.temp.get(r.plot_name, 0) + (n % 8) * MiB // 2)
            elif op == "land" and r.plot_name not in d.final:  # the transfer finishes and rsync renames
                d.temp.pop(r.plot_name, None)
                d.final[r.plot_name] = r.size_bytes
            elif op == "complete":
                with contextlib.suppress(FailedPrecondition):
                    led.complete(r.id, d.final.get(r.plot_name))
            elif op == "release":
                led.release(r.id)
        for d in disks.values():
            mine = [x for x in led.reservations() if x.drive == d.path]
            outstanding = sum(x.size_bytes - max(d.temp.get(x.plot_name, 0), d.final.get(x.plot_name, 0)) for x in mine)
            assert d.used() + outstanding <= max(d.free0 - floor * MiB, 0)
