"""The archiver under faults that hit a push in flight, with real parts: a plotter agent process archiving real
plots to a farmer agent process through its own rsync daemon, slowed down (``bwlimit_kbps``) so the fault lands
mid-transfer. After each: no plot lost, nothing partial under a final name, nothing reserved or left over after the
lease, and every plot archived (exactly once, byte-identical) by the archiver itself (``archive_watch.settled``)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from testbed.archive_bed import Bed, Farm, Plotter, place
from testbed.archive_watch import (
    Truth,
    Watch,
    pushes,
    runs_of,
    settled,
    sha256,
    temp_of,
    wait_mid_push,
    wait_until,
)

from .conftest import QUICK

pytestmark = pytest.mark.slow

MiB = 2**20
LEASE_S = 10.0
#: about 4 s for a k19 plot: long enough to hit it mid-push on a loaded machine
BWLIMIT_KBPS = 2048


def setup(bed: Bed, plots: list[Path], *, farms: int = 1) -> tuple[list[Farm], Plotter, Truth, Watch]:
    fs = [bed.farm(f"farmer-0{i + 1}", drives=2, lease_s=LEASE_S) for i in range(farms)]
    plotter = bed.plotter(fs, bwlimit_kbps=BWLIMIT_KBPS, archiving=QUICK, start=False)
    placed = [place(p, plotter.dst[0], age_s=600 - i) for i, p in enumerate(plots)]  # the first is the oldest
    truth = Truth.of(placed)
    watch = Watch(truth, lambda: [*plotter.dst, *(d for f in fs for d in f.drives)], plotter.transfers).start()
    plotter.start()
    return fs, plotter, truth, watch


def test_rsync_killed_mid_push_is_resumed_on_the_same_drive(bed: Bed, real_plots: dict[int, Path]) -> None:
    (farm,), plotter, truth, watch = setup(bed, [real_plots[19]])
    name = real_plots[19].name
    drive = wait_mid_push([farm], name, MiB)
    (pid,) = pushes(plotter.transfers)
    os.kill(pid, signal.SIGKILL)

    wait_until("the archiver to show the killed push", lambda: plotter.shown().failed, 30)
    settled(truth, [farm], plotter, watch)
    assert (drive / name).is_file(), "not resumed on the drive that holds its partial"
    runs = runs_of(plotter.transfers, name)
    assert runs[0] == (pid, None) and len(runs) >= 2, runs
    size = truth.plots[name][0]
    assert runs[-1][1] is not None and runs[-1][1] < size - MiB // 2, f"not resumed from its partial: {runs}"


def test_rsync_daemon_killed_mid_push(bed: Bed, real_plots: dict[int, Path]) -> None:
    (farm,), plotter, truth, watch = setup(bed, [real_plots[19]])
    name = real_plots[19].name
    wait_mid_push([farm], name, MiB)
    farm.kill_rsyncd()  # the daemon and its connections: a crash, or the service restarted

    wait_until("the push to end", lambda: not pushes(plotter.transfers), 30)
    wait_until("the archiver to show the failed push", lambda: plotter.shown().failed, 30)
    assert sha256(plotter.dst[0] / name) == truth.plots[name][1], "the source changed"
    farm.restart_rsyncd()  # on the same port: the farmer's rsync URL holds again
    settled(truth, [farm], plotter, watch)


def test_farmer_agent_killed_mid_push_then_restarted(bed: Bed, real_plots: dict[int, Path]) -> None:
    """The push runs on without the farmer agent (the daemon is up) and ends while it is down: the source stays
    until the restarted farmer (from its state file) confirms the plot."""
    (farm,), plotter, truth, watch = setup(bed, [real_plots[19]])
    name = real_plots[19].name
    drive = wait_mid_push([farm], name, MiB)
    farm.kill()

    wait_until("the push to end", lambda: not pushes(plotter.transfers) and (drive / name).is_file(), 60)

    def complete_failed() -> tuple[str, ...]:
        """The failed Complete in the recent results (the push itself succeeded)."""
        return plotter.shown().failed

    wait_until("the archiver to show its Complete failing", complete_failed, 30)
    assert (plotter.dst[0] / name).is_file(), "source deleted without the farmer's Complete"
    assert temp_of(drive, name) is None
    farm.start()
    settled(truth, [farm], plotter, watch)
    assert len(runs_of(plotter.transfers, name)) == 1, "pushed again though the first push landed whole"


def test_plotter_agent_killed_mid_push_adopts_or_completes_it(bed: Bed, real_plots: dict[int, Path]) -> None:
    """Killed twice: restarted while its push still runs (the push is adopted: no second rsync, completed), and
    restarted after its push ended (the outcome is read from rsync's log file, Completed, the source deleted)."""
    (farm,), plotter, truth, watch = setup(bed, [real_plots[19], real_plots[18]])
    first, second = real_plots[19].name, real_plots[18].name

    wait_mid_push([farm], first, MiB)
    (pid,) = pushes(plotter.transfers)
    os.kill(pid, signal.SIGSTOP)  # held while the agent is down and back: surely still running when it is adopted
    try:
        plotter.kill()
        assert pushes(plotter.transfers) == {pid: first}, "the push died with the agent"
        plotter.start()
        wait_until("the restarted agent to show the push adopted", lambda: first in plotter.shown().recovered, 30)
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(f"{first} archived", lambda: not (plotter.dst[0] / first).exists(), 60)
    assert [r[0] for r in runs_of(plotter.transfers, first)] == [pid], "not adopted (duplicated, or sent again)"

    wait_mid_push([farm], second, MiB // 2)
    (pid2,) = pushes(plotter.transfers)
    plotter.kill()
    wait_until("the push to end while the agent is down", lambda: not pushes(plotter.transfers), 60)
    assert (plotter.dst[0] / second).is_file()
    plotter.start()
    settled(truth, [farm], plotter, watch)
    assert [r[0] for r in runs_of(plotter.transfers, second)] == [pid2], "pushed again though it landed whole"


def test_plotter_agent_down_longer_than_the_lease(bed: Bed, real_plots: dict[int, Path]) -> None:
    """The agent is down (its push held, SIGSTOP) until the farmer lets the unrenewed reservation expire and removes
    the push's temp file. The push then goes on into a removed file: it must not land a plot under a final name that
    the farmer no longer reserves without the archiver noticing; the plot is archived once, whole, by itself."""
    farm = bed.farm("farmer-01", drives=2, lease_s=4.0)
    plotter = bed.plotter([farm], bwlimit_kbps=BWLIMIT_KBPS, archiving=QUICK, start=False)
    src = place(real_plots[19], plotter.dst[0])
    truth = Truth.of([src])
    watch = Watch(truth, lambda: [*plotter.dst, *farm.drives], plotter.transfers).start()
    plotter.start()
    drive = wait_mid_push([farm], src.name, MiB)
    (pid,) = pushes(plotter.transfers)
    os.kill(pid, signal.SIGSTOP)
    try:
        plotter.kill()
        wait_until("the reservation to expire", lambda: farm.reservations() == (), 30)
        wait_until("the farmer to remove the push's temp file", lambda: temp_of(drive, src.name) is None, 30)
        plotter.start()
    finally:
        os.kill(pid, signal.SIGCONT)
    settled(truth, [farm], plotter, watch)


def test_a_hung_daemon_connection(bed: Bed, real_plots: dict[int, Path]) -> None:
    """The daemon's processes for the push hang (SIGSTOP) mid-push: rsync's I/O timeout ends the push, the archiver
    pushes again and archives the plot; when the hung process wakes up after that (its socket long closed), whatever
    it leaves (its temp file, moved into the partial dir) is cleaned up too."""
    farm = bed.farm("farmer-01", drives=2, lease_s=LEASE_S)
    quick = {**QUICK, "rsync": {"bwlimit_kbps": BWLIMIT_KBPS, "io_timeout_s": 5}}
    plotter = bed.plotter([farm], archiving=quick, start=False)
    src = place(real_plots[19], plotter.dst[0])
    truth = Truth.of([src])
    watch = Watch(truth, lambda: [*plotter.dst, *farm.drives], plotter.transfers).start()
    plotter.start()
    wait_mid_push([farm], src.name, MiB)
    hung = psutil.Process(farm.rsyncd.proc.pid).children(recursive=True)  # the push's generator and receiver
    for p in hung:
        p.suspend()
    try:
        wait_until("the plot archived around the hung connection", lambda: not src.exists(), 90)
    finally:
        for p in hung:
            p.resume()
    _, alive = psutil.wait_procs(hung, timeout=30)  # they find their socket closed; whatever they leave is there now
    assert not alive, alive
    settled(truth, [farm], plotter, watch)


def test_rsync_killed_while_the_plotter_agent_is_down(bed: Bed, real_plots: dict[int, Path]) -> None:
    """The agent dies mid-push, then its push is killed too: the restarted agent finds a log without an end and no
    rsync, and must settle that attempt (resume on, or release, the reservation it cannot have renewed) by itself."""
    (farm,), plotter, truth, watch = setup(bed, [real_plots[19]])
    name = real_plots[19].name
    wait_mid_push([farm], name, MiB)
    (pid,) = pushes(plotter.transfers)
    plotter.kill()
    os.kill(pid, signal.SIGKILL)
    wait_until("the push to end", lambda: not pushes(plotter.transfers), 30)
    plotter.start()
    settled(truth, [farm], plotter, watch)
    runs = runs_of(plotter.transfers, name)
    assert runs[0] == (pid, None) and len(runs) >= 2, runs


def test_a_hung_daemon_generator_is_ended_by_the_watchdog(bed: Bed, real_plots: dict[int, Path]) -> None:
    """Only the daemon's generator for the push hangs (SIGSTOP) while the data flows: the receiver takes the whole
    plot, and the push then waits for the generator forever, its keep-alive writes (read by the receiver) keeping
    rsync's own ``--timeout`` from firing. The archiver's watchdog kills it after ``stall_timeout_s`` and resumes on
    the reservation; the plot is archived once, whole."""
    farm = bed.farm("farmer-01", drives=2, lease_s=LEASE_S)
    quick = {**QUICK, "stall_timeout_s": 15, "rsync": {"bwlimit_kbps": BWLIMIT_KBPS, "io_timeout_s": 5}}
    plotter = bed.plotter([farm], archiving=quick, start=False)
    src = place(real_plots[19], plotter.dst[0])
    truth = Truth.of([src])
    watch = Watch(truth, lambda: [*plotter.dst, *farm.drives], plotter.transfers).start()
    plotter.start()
    wait_mid_push([farm], src.name, MiB)
    (pid,) = pushes(plotter.transfers)
    # the daemon forks one process per connection, which forks the receiver and goes on as the generator
    generators = psutil.Process(farm.rsyncd.proc.pid).children()
    assert len(generators) == 1 and len(generators[0].children()) == 1, generators
    generators[0].suspend()
    try:
        landed = lambda: any((d / src.name).is_file() for d in farm.drives)  # noqa: E731
        wait_until("the receiver to land the plot whole under its name", landed, 60)
        wait_until("the watchdog to kill the hung push", lambda: pid not in pushes(plotter.transfers), 60)
        wait_until("the plot archived", lambda: not src.exists(), 60)
    finally:
        generators[0].resume()
    _, alive = psutil.wait_procs(generators, timeout=30)
    assert not alive, alive
    shown = plotter.shown()
    # ended by the watchdog, not by rsync's own --timeout (exit 30), which the keep-alives hold off
    assert any("no progress for" in e for e in shown.failed) and not any("exit 30" in e for e in shown.failed), shown
    settled(truth, [farm], plotter, watch)
