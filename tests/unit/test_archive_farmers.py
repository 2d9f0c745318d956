"""choose_farmer and the reachability back-off, on a virtual clock."""

from __future__ import annotations

from plotter_agent.archive.farmers import (
    FarmerRules,
    FarmerView,
    Reachability,
    choose_farmer,
    due,
    lands_on_avoided,
    record_reachability,
)
from plotter_agent.farmer_client import DriveStateName, FarmerDrive
from testbed.clock import VirtualClock

GB = 10**9
PLOT = 100 * GB


def drive(path: str, free: int, reserved: int = 0, writers: int = 0, state: DriveStateName = "ok") -> FarmerDrive:
    return FarmerDrive(path, 10_000 * GB, free, reserved, 0, 0, state, "", writers, f"rsync://h/plots/{path}/", None)


def view(name: str, *drives: FarmerDrive) -> FarmerView:
    return FarmerView(name, tuple(drives))


def test_most_free_unreserved_room_on_writer_free_drives_first() -> None:
    a = view("farmer-a", drive("d0", 500 * GB), drive("d1", 400 * GB, writers=1))  # 500 idle
    b = view("farmer-b", drive("d0", 900 * GB, reserved=500 * GB), drive("d1", 300 * GB))  # 400 + 300 idle
    c = view("farmer-c", drive("d0", 2000 * GB, writers=1))  # lots of room, all behind a writer: fall-back
    got = choose_farmer([a, b, c], {}, [], 0.0, size_bytes=PLOT)
    assert got.candidates == ("farmer-b", "farmer-a", "farmer-c")
    assert got.skipped == () and got.held == ()


def test_priority_order_wins_over_room_but_not_over_a_busy_writer() -> None:
    a = view("farmer-a", drive("d0", 200 * GB))
    b = view("farmer-b", drive("d0", 900 * GB))
    c = view("farmer-c", drive("d0", 800 * GB))
    d = view("farmer-d", drive("d0", 5000 * GB, writers=1))
    got = choose_farmer([a, b, c, d], {}, ["farmer-d", "farmer-a"], 0.0, size_bytes=PLOT)
    assert got.candidates == ("farmer-a", "farmer-b", "farmer-c", "farmer-d")


def test_drives_that_cannot_take_the_plot_do_not_count() -> None:
    a = view(
        "farmer-a",
        drive("d0", 99 * GB),  # too small
        drive("d1", 300 * GB, reserved=250 * GB),  # room 50
        drive("d2", 900 * GB, state="read_only"),
        drive("d3", 900 * GB, state="missing"),
        drive("d4", 900 * GB, state="error"),
    )
    b = view("farmer-b", drive("d0", 150 * GB, state="full"))  # full still takes a plot that fits
    got = choose_farmer([a, b], {}, [], 0.0, size_bytes=PLOT)
    assert got.candidates == ("farmer-b",)
    assert got.skipped == (("farmer-a", f"no drive has room for {PLOT} bytes (of 5)"),)


def test_unreachable_farmers_are_skipped_and_asked_again_after_a_growing_delay() -> None:
    clock = VirtualClock(1000.0)
    rules = FarmerRules(backoff_base_s=5.0, backoff_cap_s=60.0)
    reach: dict[str, Reachability] = {}
    delays = []
    for _ in range(6):
        reach["farmer-a"] = record_reachability(reach.get("farmer-a"), False, clock(), "UNAVAILABLE", rules)
        delays.append(reach["farmer-a"].retry_at - clock())
    assert delays == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    assert reach["farmer-a"].failures == 6
    views = [FarmerView("farmer-a", None, "UNAVAILABLE"), view("farmer-b", drive("d0", 500 * GB))]
    assert due(["farmer-a", "farmer-b"], reach, clock()) == ("farmer-b",)
    got = choose_farmer(views, reach, [], clock(), size_bytes=PLOT)
    assert got.candidates == ("farmer-b",)
    assert got.skipped[0][0] == "farmer-a" and "6 failures: UNAVAILABLE" in got.skipped[0][1]
    clock.advance(60)
    assert due(["farmer-a", "farmer-b"], reach, clock()) == ("farmer-a", "farmer-b")
    # due, but its answer failed: still skipped, with the error
    got = choose_farmer(views, reach, [], clock(), size_bytes=PLOT)
    assert got.skipped == (("farmer-a", "unreachable: UNAVAILABLE"),)
    reach["farmer-a"] = record_reachability(reach["farmer-a"], True, clock())
    assert reach["farmer-a"] == Reachability()
    got = choose_farmer([view("farmer-a", drive("d0", 900 * GB)), views[1]], reach, [], clock(), size_bytes=PLOT)
    assert got.candidates == ("farmer-a", "farmer-b")


def test_avoided_farmers_and_drives_after_failures() -> None:
    clock = VirtualClock(0.0)
    a = view("farmer-a", drive("d0", 900 * GB), drive("d1", 200 * GB))
    b = view("farmer-b", drive("d0", 500 * GB))
    got = choose_farmer([a, b], {}, [], clock(), size_bytes=PLOT, avoid_farmers={"farmer-a": 30.0})
    assert got.candidates == ("farmer-b",) and got.skipped == (("farmer-a", "avoided after a failure for 30 s more"),)
    clock.advance(31)
    got = choose_farmer([a, b], {}, [], clock(), size_bytes=PLOT, avoid_farmers={"farmer-a": 30.0})
    assert got.candidates == ("farmer-a", "farmer-b")
    # the big drive of a is at fault: a's room counts d1 only, so b comes first
    avoid = frozenset({("farmer-a", "d0")})
    got = choose_farmer([a, b], {}, [], clock(), size_bytes=PLOT, avoid_drives=avoid)
    assert got.candidates == ("farmer-b", "farmer-a")
    assert lands_on_avoided("farmer-a", "d0", avoid) and not lands_on_avoided("farmer-a", "d1", avoid)


def test_a_plot_a_farmer_holds_is_sent_nowhere() -> None:
    a = view("farmer-a", drive("d0", 900 * GB))
    got = choose_farmer([a], {}, [], 0.0, size_bytes=PLOT, held={"farmer-b": "archived"})
    assert got.candidates == () and got.held == (("farmer-b", "archived"),)


def test_no_farmers_no_candidates() -> None:
    assert choose_farmer([], {}, [], 0.0, size_bytes=PLOT).candidates == ()
