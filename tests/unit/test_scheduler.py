"""decide(): every rule, every override, the space checks, unknown phases, hand-started jobs, each reason's text.

Pure: snapshots are built (tests/unit/schedsnaps.py), time is a number. Sizes are k32's (C0 plot 101.4 GiB, chia
peak tmp 239 GiB).
"""

from __future__ import annotations

from dataclasses import replace

from plotter_agent.dirs import DirView, PlotFile
from plotter_agent.jobs import ProcState
from plotter_agent.logparse import Plotter
from plotter_agent.scheduler import Start, Wait, decide
from tests.unit.schedsnaps import DST0, DST1, ROOMY, T0, TMP0, TMP1, GiB, config, d, job, snap


def wait_reasons(decision: object) -> tuple[str, ...]:
    assert isinstance(decision, Wait), decision
    return decision.reasons


def test_an_idle_machine_starts_in_the_first_tmp_dir_and_the_freest_dst() -> None:
    dec = decide(snap(), config(), T0)
    assert isinstance(dec, Start)
    assert (dec.tmp, dec.tmp2, dec.dst) == (TMP0, None, DST0)
    assert dec.argv[:3] == ("chia", "plots", "create")
    assert dec.argv[dec.argv.index("-t") + 1] == TMP0 and dec.argv[dec.argv.index("-d") + 1] == DST0
    assert [t.eligible for t in dec.tmp_dirs] == [True, True]
    assert dec.tmp_dirs[0].reason == "tmp /mnt/tmp/00: ready (0 jobs)"


def test_global_max_jobs() -> None:
    jobs = [job(i, TMP0 if i % 2 else TMP1, (3, 1), 100 + i) for i in range(1, 4)]
    assert "global_max_jobs (3) reached" in wait_reasons(decide(snap(*jobs), config(global_max_jobs=3), T0))
    assert isinstance(decide(snap(*jobs), config(global_max_jobs=4), T0), Start)


def test_global_stagger_counts_from_the_youngest_job_on_a_virtual_clock() -> None:
    jobs = (job(1, TMP0, (3, 1), 90), job(2, TMP1, (2, 2), 18))
    assert wait_reasons(decide(snap(*jobs), config(), T0)) == ("global stagger: 12 min left",)
    assert wait_reasons(decide(snap(*jobs), config(), T0 + 11.5 * 60)) == ("global stagger: 30 s left",)
    assert isinstance(decide(snap(*jobs), config(), T0 + 12 * 60), Start)
    assert isinstance(decide(snap(*jobs), config(global_stagger_m=0), T0), Start)


def test_tmpdir_max_jobs_per_dir() -> None:
    jobs = [job(i, TMP0, (4, 0), 200 + i) for i in range(3)]
    dec = decide(snap(*jobs), config(global_stagger_m=0), T0)
    assert isinstance(dec, Start) and dec.tmp == TMP1
    assert dec.tmp_dirs[0].reason == "tmp /mnt/tmp/00: 3 jobs (tmpdir_max_jobs 3)"
    assert not dec.tmp_dirs[0].eligible and dec.tmp_dirs[0].running_jobs == 3


def test_stagger_phase_per_dir_and_each_reason_when_none_is_eligible() -> None:
    jobs = (job(1, TMP0, (1, 6), 60), job(2, TMP1, (2, 0), 40))
    reasons = wait_reasons(decide(snap(*jobs), config(global_stagger_m=0), T0))
    assert reasons == (
        "tmp /mnt/tmp/00: 1 job before 2:1 (limit 1)",
        "tmp /mnt/tmp/01: 1 job before 2:1 (limit 1)",
    )
    # the job reaching 2:1 frees its dir; a limit of 2 lets a second job in
    moved = (job(1, TMP0, (2, 1), 60), job(2, TMP1, (2, 0), 40))
    dec = decide(snap(*moved), config(global_stagger_m=0), T0)
    assert isinstance(dec, Start) and dec.tmp == TMP0
    assert isinstance(decide(snap(*jobs), config(global_stagger_m=0, tmpdir_stagger_phase_limit=2), T0), Start)
    two = (job(1, TMP0, (1, 2), 60), job(3, TMP0, (1, 1), 50))
    dec = decide(snap(*two), config(global_stagger_m=0, tmpdir_stagger_phase_limit=2), T0)
    assert isinstance(dec, Start) and dec.tmp == TMP1
    assert dec.tmp_dirs[0].reason == "tmp /mnt/tmp/00: 2 jobs before 2:1 (limit 2)"


def test_a_job_whose_phase_is_unknown_counts_as_just_started() -> None:
    jobs = (job(1, TMP0, None, 500), job(2, TMP1, (0, 0), 400))
    reasons = wait_reasons(decide(snap(*jobs), config(global_stagger_m=0), T0))
    assert reasons == (
        "tmp /mnt/tmp/00: 1 job before 2:1 (limit 1)",
        "tmp /mnt/tmp/01: 1 job before 2:1 (limit 1)",
    )


def test_hand_started_jobs_of_any_plotter_count_like_our_own() -> None:
    # a madMAx job someone started in a shell, and a chia job with a relative -t resolved by the view
    madmax = job(7, TMP0, (1, 3), 5, plotter=Plotter.MADMAX, cmdline=("chia_plot", "-t", TMP0 + "/", "-d", DST1))
    reasons = wait_reasons(decide(snap(madmax), config(global_max_jobs=1), T0))
    assert reasons[0] == "global_max_jobs (1) reached"
    assert "global stagger: 25 min left" in reasons
    dec = decide(snap(madmax), config(global_stagger_m=0), T0)
    assert isinstance(dec, Start) and dec.tmp == TMP1
    assert dec.tmp_dirs[0].reason == "tmp /mnt/tmp/00: 1 job before 2:1 (limit 1)"


def test_a_zombie_has_exited_and_does_not_count() -> None:
    dead = job(9, TMP0, (5, 0), 1, state=ProcState.ZOMBIE)
    assert isinstance(decide(snap(dead), config(global_max_jobs=1), T0), Start)


def test_tmp_overrides_per_dir() -> None:
    jobs = (job(1, TMP0, (1, 2), 60),)
    over = {TMP0 + "/": {"tmpdir_stagger_phase_major": 1, "tmpdir_stagger_phase_minor": 2}}
    dec = decide(snap(*jobs), config(global_stagger_m=0, tmp_overrides=over), T0)
    assert isinstance(dec, Start) and dec.tmp == TMP1  # the empty dir still comes first
    assert dec.tmp_dirs[0].eligible and dec.tmp_dirs[0].reason == "tmp /mnt/tmp/00: ready (1 job)"
    capped = {TMP1: {"tmpdir_max_jobs": 0}, TMP0: {"tmpdir_stagger_phase_limit": 2}}
    dec = decide(snap(*jobs), config(global_stagger_m=0, tmp_overrides=capped), T0)
    assert isinstance(dec, Start) and dec.tmp == TMP0
    assert dec.tmp_dirs[1].reason == "tmp /mnt/tmp/01: 0 jobs (tmpdir_max_jobs 0)"
    strict = {TMP0: {"tmpdir_stagger_phase_major": 4, "tmpdir_stagger_phase_minor": 0}}
    both = (job(1, TMP0, (3, 5), 60), job(2, TMP1, (3, 5), 50))
    dec = decide(snap(*both), config(global_stagger_m=0, tmp_overrides=strict), T0)
    assert isinstance(dec, Start) and dec.tmp == TMP1
    assert dec.tmp_dirs[0].reason == "tmp /mnt/tmp/00: 1 job before 4:0 (limit 1)"


def test_tmp_room_counts_what_jobs_there_will_still_write() -> None:
    # TMP0: 400 GiB free, one job in phase 3 holding 150 GiB of its 239 GiB peak: it still writes 89 GiB
    inflight = job(1, TMP0, (3, 1), 300, tmp_bytes=150 * GiB)
    dirs = (d(TMP0, 400 * GiB), d(TMP1, 200 * GiB), *ROOMY[2:])
    dec = decide(snap(inflight, dirs=dirs), config(global_stagger_m=0), T0)
    assert isinstance(dec, Start) and dec.tmp == TMP0  # 400 - 89 = 311 GiB >= 239 GiB
    assert dec.tmp_dirs[1].reason == "tmp /mnt/tmp/01: no room for another job (needs 239.0 GiB, 200.0 GiB free)"
    # the same job just started holds nothing yet: it will still write its whole peak
    fresh = job(1, TMP0, (2, 1), 300, tmp_bytes=0)
    reasons = wait_reasons(decide(snap(fresh, dirs=dirs), config(global_stagger_m=0), T0))
    assert reasons == (
        "tmp /mnt/tmp/00: no room for another job (needs 239.0 GiB, 161.0 GiB free after 239.0 GiB its 1 job will"
        " still write)",
        "tmp /mnt/tmp/01: no room for another job (needs 239.0 GiB, 200.0 GiB free)",
    )
    # a job that finished plotting (5:0, copying) writes nothing more to tmp
    done = job(1, TMP0, (5, 0), 300, tmp_bytes=0)
    dec = decide(snap(done, dirs=(d(TMP0, 240 * GiB), d(TMP1, 10 * GiB), *ROOMY[2:])), config(global_stagger_m=0), T0)
    assert isinstance(dec, Start) and dec.tmp == TMP0


def test_peak_tmp_depends_on_the_plotter_and_mode() -> None:
    dirs = (d(TMP0, 300 * GiB), d(TMP1, 300 * GiB), *ROOMY[2:])
    assert isinstance(decide(snap(dirs=dirs), config(), T0), Start)  # chia with the bitfield: 239 GiB
    reasons = wait_reasons(decide(snap(dirs=dirs), config({"chia": {"k": 32, "e": True}}), T0))
    assert reasons[0] == "tmp /mnt/tmp/00: no room for another job (needs 332.0 GiB, 300.0 GiB free)"
    ram = {"type": "bladebit", "bladebit": {"mode": "ramplot", "compression": 3}}
    tiny = (d(TMP0, GiB), d(TMP1, GiB), *ROOMY[2:])
    dec = decide(snap(dirs=tiny), config(ram), T0)
    assert isinstance(dec, Start) and dec.argv[-1] == DST0 and "ramplot" in dec.argv


def test_dst_room_counts_inbound_plots_this_one_and_the_floor() -> None:
    # DST0: 250 GiB free with two jobs inbound (202.8 GiB): 47.2 GiB left. DST1: 60.2 GiB free, nothing inbound.
    inbound = (job(1, TMP0, (3, 1), 300, dst=DST0), job(2, TMP0, (2, 1), 200, dst=DST0))
    dirs = (*ROOMY[:2], d(DST0, 250 * GiB, "dst"), d(DST1, int(60.2 * GiB), "dst"))
    reasons = wait_reasons(decide(snap(*inbound, dirs=dirs), config(global_stagger_m=0), T0))
    assert reasons == ("dst: no dir can take another k32 plot (needs 101.4 GiB, most free 60.2 GiB)",)
    roomy = (*ROOMY[:2], d(DST0, 250 * GiB, "dst"), d(DST1, 110 * GiB, "dst"))
    dec = decide(snap(*inbound, dirs=roomy), config(global_stagger_m=0), T0)
    assert isinstance(dec, Start) and dec.dst == DST1
    floor = 10 * GiB
    reasons = wait_reasons(decide(snap(*inbound, dirs=roomy), config(global_stagger_m=0, dst_min_free_bytes=floor), T0))
    assert reasons == ("dst: no dir can take another k32 plot (needs 111.4 GiB, most free 110.0 GiB)",)


def test_a_plot_already_renamed_into_dst_is_not_inbound_while_its_job_exits() -> None:
    # DST0 holds the job's finished plot and has 150 GiB free; the job is still alive (its process has not exited
    # yet). Counting the plot as inbound too would leave 48.6 GiB and call the dir full; it is not.
    plot_id = "ab" * 32
    name = f"plot-k32-2027-01-15-10-00-{plot_id}.plot"
    landed = PlotFile(f"{DST0}/{name}", name, int(101.4 * GiB), T0)
    dst0 = DirView(DST0, "dst", 1000 * GiB, 150 * GiB, (), (landed,), ())
    dirs = (*ROOMY[:2], dst0, d(DST1, 50 * GiB, "dst"))
    done = replace(job(1, TMP0, (5, 3), 300, dst=DST0), plot_id=plot_id)
    dec = decide(snap(done, dirs=dirs), config(global_stagger_m=0), T0)
    assert isinstance(dec, Start) and dec.dst == DST0, dec
    # before the rename (the copy still under way) the plot is still inbound, whatever the phase says
    copying = replace(done, phase=(5, 0), plot_id="cd" * 32)
    reasons = wait_reasons(decide(snap(copying, dirs=dirs), config(global_stagger_m=0), T0))
    assert reasons == ("dst: no dir can take another k32 plot (needs 101.4 GiB, most free 50.0 GiB)",)
    # a plot of another job in the dir does not make this job's plot landed
    other = replace(done, dst_dir=DST1)
    dec = decide(snap(other, dirs=(*ROOMY[:2], dst0, d(DST1, 150 * GiB, "dst"))), config(global_stagger_m=0), T0)
    assert isinstance(dec, Start) and dec.dst == DST0  # DST1: 150 - 101.4 inbound = 48.6 GiB


def test_dst_of_a_compressed_plot_is_sized_by_its_level() -> None:
    dirs = (*ROOMY[:2], d(DST0, 80 * GiB, "dst"), d(DST1, 70 * GiB, "dst"))
    bb = {"type": "bladebit", "bladebit": {"mode": "diskplot", "compression": 7}}  # 78.0 GiB
    dec = decide(snap(dirs=dirs), config(bb), T0)
    assert isinstance(dec, Start) and dec.dst == DST0
    full = (*ROOMY[:2], d(DST0, 70 * GiB, "dst"), d(DST1, 60 * GiB, "dst"))
    assert wait_reasons(decide(snap(dirs=full), config(bb), T0)) == (
        "dst: no dir can take another k32 C7 plot (needs 78.0 GiB, most free 70.0 GiB)",
    )


def test_dst_choice_fewest_inbound_then_most_free() -> None:
    one = (job(1, TMP0, (4, 0), 300, dst=DST0),)
    dec = decide(snap(*one), config(global_stagger_m=0), T0)  # DST0 is freer but has a job inbound
    assert isinstance(dec, Start) and dec.dst == DST1
    dec = decide(snap(), config(), T0)
    assert isinstance(dec, Start) and dec.dst == DST0  # none inbound: the freer


def test_tmp_choice_least_recently_used() -> None:
    cfg = config(global_stagger_m=0, tmpdir_stagger_phase_limit=5)
    # both dirs used: the one whose youngest job started longest ago
    jobs = (job(1, TMP0, (3, 1), 100), job(2, TMP0, (1, 1), 20), job(3, TMP1, (2, 3), 40))
    dec = decide(snap(*jobs), cfg, T0)
    assert isinstance(dec, Start) and dec.tmp == TMP1
    # an empty dir before any used one, whatever the order
    dec = decide(snap(job(1, TMP0, (3, 1), 500)), cfg, T0)
    assert isinstance(dec, Start) and dec.tmp == TMP1


def test_an_unreadable_dir_is_not_used() -> None:
    dirs = (d(TMP0, 0, error="Permission denied"), *ROOMY[1:])
    dec = decide(snap(dirs=dirs), config(), T0)
    assert isinstance(dec, Start) and dec.tmp == TMP1
    assert dec.tmp_dirs[0].reason == "tmp /mnt/tmp/00: cannot be read (Permission denied)"
    assert wait_reasons(decide(snap(dirs=dirs[:1]), config(), T0)) == (
        "tmp /mnt/tmp/00: cannot be read (Permission denied)",
        "tmp /mnt/tmp/01: cannot be read (not scanned yet)",
        "dst: no dir can be read (/mnt/dst/00, /mnt/dst/01)",
    )


def test_tmp2_room_for_a_plotter_that_uses_it() -> None:
    mm = {"type": "madmax", "madmax": {"k": 32}}  # madMAx: 220 GiB in tmp, 110 GiB in tmp2 at k32
    tmp2 = "/mnt/ram"
    dirs = (*ROOMY, d(tmp2, 100 * GiB, "tmp2"))
    reasons = wait_reasons(decide(snap(dirs=dirs), config(mm, tmp2=tmp2), T0))
    assert reasons == ("tmp2 /mnt/ram: no room for another job (needs 110.0 GiB, 100.0 GiB free)",)
    dec = decide(snap(dirs=(*ROOMY, d(tmp2, 120 * GiB, "tmp2"))), config(mm, tmp2=tmp2), T0)
    assert isinstance(dec, Start) and dec.tmp2 == tmp2
    assert dec.argv[dec.argv.index("-2") + 1] == tmp2 + "/"


def test_dirs_on_one_filesystem_share_its_free_space() -> None:
    # TMP0 and TMP1 on one SSD: the job in TMP0 will still write its whole peak, from the same free space
    fresh = job(1, TMP0, (2, 1), 300, tmp_bytes=0)
    dirs = (d(TMP0, 400 * GiB), d(TMP1, 400 * GiB), *ROOMY[2:])
    alone = decide(snap(fresh, dirs=dirs), config(global_stagger_m=0), T0)
    assert isinstance(alone, Start) and alone.tmp == TMP1
    shared = decide(snap(fresh, dirs=dirs), config(global_stagger_m=0, devices={TMP0: 7, TMP1: 7}), T0)
    assert wait_reasons(shared)[1] == (
        "tmp /mnt/tmp/01: no room for another job (needs 239.0 GiB, 161.0 GiB free after 239.0 GiB 1 job on its "
        "filesystem will still write)"
    )
    # two dst dirs on one drive: the plot inbound to DST0 comes out of DST1's free space too
    inbound = job(1, TMP0, (3, 1), 300, dst=DST0)
    dsts = (*ROOMY[:2], d(DST0, 150 * GiB, "dst"), d(DST1, 150 * GiB, "dst"))
    dec = decide(snap(inbound, dirs=dsts), config(global_stagger_m=0), T0)
    assert isinstance(dec, Start) and dec.dst == DST1
    reasons = wait_reasons(decide(snap(inbound, dirs=dsts), config(global_stagger_m=0, devices={DST0: 3, DST1: 3}), T0))
    assert reasons == ("dst: no dir can take another k32 plot (needs 101.4 GiB, most free 48.6 GiB)",)


def test_the_stagger_counts_from_the_later_of_process_start_and_log_start() -> None:
    # the process table says 20 min ago (its boot-time arithmetic can be early); the log's first line, 18 min ago
    j = replace(job(1, TMP0, (3, 1), 20), start_time=T0 - 18 * 60)
    assert wait_reasons(decide(snap(j), config(), T0)) == ("global stagger: 12 min left",)
    assert isinstance(decide(snap(replace(j, start_time=None)), config(), T0 + 10 * 60), Start)
