"""The archiver across a fleet, all real and on loopback (issue 10, "What it must show: Fleet"): 3 plotter agents, each
with 2 dst dirs holding real k18 plots (chiapos, through the stand-in) and a live plot job finishing two more plots
during the run, and 2 farmer agents, each with its own rsync daemon and 3 tmpfs drives whose capacity fits the plots
with little slack (room for 14 plots, 12 come). Sampled throughout (testbed.archwatch): no drive below its floor,
never two writers on a drive, nothing partial under a final name, a source deleted only after its Complete. At the
end: everything archived once, byte-identical (sha256), no reservation left.

Why all plots are k18: with plots of one size, drives sized in whole plot "slots" take the plots in any order with
little slack; with mixed sizes, an arrival order exists that strands a big plot unless every drive keeps about one
big plot of slack (the last plot fits somewhere only if total free >= drives x its size), which is no longer little.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from testbed.archfleet import Fleet, MountRefused, make_plots, round_up
from testbed.archwatch import FleetWatch, final_checks
from testbed.children import stop_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

K = 18
FLOOR = 512 * 1024
#: plots each drive of a farmer has room for (above its floor): 14 slots in the fleet for 12 plots
SLOTS = (2, 2, 3)
TIMEOUT_S = 240.0
#: a live k18 job (two plots) running longer than this is stuck (see testbed.archfleet.make_plots) and is killed
LIVE_JOB_LIMIT_S = 150.0
#: a slot: at least the largest k18 plot the stand-in was seen to make (3.63..4.22 MB with -u 16 -b 100 -r 1) and a
#: little more, so the live jobs' plots, whose sizes are not known in advance, fit one too (if one did not, the 2 spare
#: slots would still take it: a drive of 2 slots with one plot has room for a 50 % bigger one)
K18_MAX = 4_400_000


def describe(fleet: Fleet, watch: FleetWatch) -> str:
    lines = [f"violations: {watch.violations[:20]}", f"sampler errors: {watch.errors[:10]}"]
    for p in fleet.plotters:
        left = [str(f) for d in p.dst for f in d.glob("plot-*.plot")]
        lines.append(f"{p.name}: still in dst: {left}; jobs running: {[j.pid for j in p.jobs if j.poll() is None]}")
        lines.append(f"--- {p.log} (tail)\n" + "\n".join(p.log.read_text(errors="replace").splitlines()[-30:]))
    for f in fleet.farmers:
        lines.append(f"--- {f.log} (tail)\n" + "\n".join(f.log.read_text(errors="replace").splitlines()[-15:]))
    return "\n".join(lines)


def test_fleet_archives_every_plot_within_the_rules(tmp_path: Path) -> None:
    with Fleet(tmp_path / "fleet") as fleet:
        plotters = [fleet.add_plotter(n_dst=2, max_concurrent_transfers=2, poll_s=0.5) for _ in range(3)]
        premade = make_plots([(K, d, 1) for p in plotters for d in p.dst], tmp_path / "premade", parallel=2)
        assert len(premade) == 6
        old = time.time() - 120
        for plot in premade:
            os.utime(plot, (old, old))  # settled: the archiver may take them at once
        slot = round_up(max(K18_MAX, *(int(p.stat().st_size * 1.02) for p in premade)))
        try:
            for _ in range(2):
                fleet.add_farmer([FLOOR + n * slot for n in SLOTS], floor_bytes=FLOOR, lease_s=30)
        except MountRefused as e:
            pytest.skip(str(e))
        watch = FleetWatch(fleet)
        for plot in premade:
            watch.add_source(plot)
        fleet.start()
        with watch:
            for i, p in enumerate(plotters):
                fleet.start_job(p, K, p.dst[(i + 1) % 2], count=2)  # two plots land during the run
            started = time.monotonic()
            stuck: list[int] = []
            deadline = started + TIMEOUT_S
            while time.monotonic() < deadline:
                for job in (j for p in plotters for j in p.jobs):
                    if job.poll() is None and time.monotonic() - started > LIVE_JOB_LIMIT_S:
                        stuck.append(job.pid)  # chiapos spinning for good (see make_plots): its plots never come
                        stop_process(job)
                in_dst = [f for p in plotters for d in p.dst for f in d.glob("plot-*.plot")]
                if not fleet.jobs_running() and not in_dst:
                    break
                time.sleep(0.5)
            else:
                pytest.fail(f"not everything archived within {TIMEOUT_S:.0f} s\n" + describe(fleet, watch))
            time.sleep(1.0)  # a last round of samples of the end state
        for p in plotters:
            failed = [j.pid for j in p.jobs if j.returncode != 0 and j.pid not in stuck]
            assert not failed, f"{p.name}: plot job(s) {failed} failed (see {p.logs})"
        # the live jobs' plots came during the run and were archived too (all 6, unless chiapos got stuck in a job)
        assert len(stuck) <= 1 and 12 - 2 * len(stuck) <= len(watch.sources) <= 12, (len(watch.sources), stuck)
        assert watch.errors == [], describe(fleet, watch)
        assert watch.violations == [], describe(fleet, watch)
        assert final_checks(watch) == []
        # the sampler really ran, and the drives really filled: at least 4 of the 6 drives ended with less room above
        # their floor than one plot (whatever the split between the farmers: 12 plots in slots (2, 2, 3) x 2)
        for seen in watch.drives.values():
            assert seen.samples > 20 and seen.listed_samples > 3, seen
        full = [d for d, seen in watch.drives.items() if seen.min_headroom is not None and seen.min_headroom < slot]
        if not stuck:
            assert len(full) >= 4, {str(d): s.min_headroom for d, s in watch.drives.items()}
