"""analyze(): phase statistics per (plotter, mode, k) over the sample logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from plotter_agent.analyze import GroupStats, PhaseStats, analyze, read_logs
from plotter_agent.logparse import LogInfo, Plotter, parse_file
from tests.unit.logsamples import ALL_LOGS, SAMPLES


def sample_infos() -> list[LogInfo]:
    return [parse_file(p) for p in ALL_LOGS]


def test_groups_over_all_samples() -> None:
    groups, incomplete = analyze(sample_infos())
    assert incomplete == 1  # the SIGTERM'd k25 run
    assert [(g.plotter, g.mode, g.k, g.count) for g in groups] == [
        (Plotter.BLADEBIT, "cuda", 32, 1),  # the last plot of the two-plot log
        (Plotter.BLADEBIT, "disk", 32, 1),
        (Plotter.BLADEBIT, "ram", 32, 1),
        (Plotter.CHIA, None, 18, 1),
        (Plotter.CHIA, None, 22, 2),
        (Plotter.CHIA, None, 25, 2),
        (Plotter.CHIA, None, 32, 1),
        (Plotter.MADMAX, None, 33, 1),
    ]


def test_bladebit_ram_disk_and_cuda_are_apart() -> None:
    """One (plotter, k) group would give phase 3 a mean of 383 s: the average of 203 s in RAM and 563 s on disk."""
    groups, _ = analyze(sample_infos(), plotter=Plotter.BLADEBIT)
    phase3 = {g.mode: next(p.mean_s for p in g.phases if p.major == 3) for g in groups}
    assert phase3 == {"ram": 203.26, "disk": 562.95, "cuda": 38.96}
    totals = {g.mode: g.total_mean_s for g in groups}
    assert totals == {"ram": 582.91, "disk": 1189.79, "cuda": 70.61}


def test_k22_statistics() -> None:
    groups, incomplete = analyze(sample_infos(), k=22)
    assert incomplete == 0
    (g,) = groups
    assert g.plotter is Plotter.CHIA and g.count == 2
    p1 = g.phases[0]
    assert (p1.major, p1.min_s, p1.max_s) == (1, 6.355, 6.616)
    assert p1.mean_s == pytest.approx((6.355 + 6.616) / 2)
    assert [p.major for p in g.phases] == [1, 2, 3, 4]
    assert g.phases[3].min_s == 0.205 and g.phases[3].max_s == 0.236
    assert g.total_mean_s == pytest.approx((10.936 + 11.358) / 2)


def test_filters() -> None:
    groups, incomplete = analyze(sample_infos(), k=25)
    assert [(g.plotter, g.k, g.count) for g in groups] == [(Plotter.CHIA, 25, 2)]
    assert incomplete == 1
    groups, incomplete = analyze(sample_infos(), plotter=Plotter.MADMAX)
    assert len(groups) == 1 and groups[0].k == 33 and incomplete == 0
    assert groups[0].total_mean_s == pytest.approx(4968.41)
    assert analyze(sample_infos(), k=40) == ([], 0)


def test_empty_and_unknown() -> None:
    assert analyze([]) == ([], 0)
    assert analyze([LogInfo(), LogInfo(completed=True)]) == ([], 2)


def test_total_falls_back_to_summed_phase_times() -> None:
    info = LogInfo(plotter=Plotter.CHIA, k=20, completed=True, phase_times={1: 1.0, 2: 2.0})
    groups, _ = analyze([info])
    assert groups == [
        GroupStats(
            plotter=Plotter.CHIA,
            k=20,
            mode=None,
            tmp_dir=None,
            count=1,
            phases=(PhaseStats(1, 1.0, 1.0, 1.0, 1.0, 1), PhaseStats(2, 2.0, 2.0, 2.0, 2.0, 1)),
            total=PhaseStats(0, 3.0, 3.0, 3.0, 3.0, 1),
        )
    ]


def test_bladebit_disk_has_three_phases() -> None:
    groups, _ = analyze([parse_file(SAMPLES / "plotman-bladebit2disk.plot.log")])
    assert [p.major for p in groups[0].phases] == [1, 2, 3]


def test_median_and_counts_per_phase_and_total() -> None:
    infos = [
        LogInfo(plotter=Plotter.CHIA, k=20, completed=True, phase_times={1: t, 2: 1.0}, total_time=t + 1.0)
        for t in (10.0, 30.0, 11.0)
    ] + [LogInfo(plotter=Plotter.CHIA, k=20, completed=True, phase_times={1: 12.0})]  # no phase 2, no total
    (g,) = analyze(infos)[0]
    p1, p2 = g.phases
    assert (p1.count, p1.median_s, p1.min_s, p1.max_s) == (4, 11.5, 10.0, 30.0)
    assert p1.mean_s == pytest.approx(63.0 / 4)
    assert (p2.count, p2.median_s) == (3, 1.0)
    assert (g.total.major, g.total.count, g.total.median_s) == (0, 4, 12.0)  # of 11, 31, 12 and the summed 12


def test_group_by_any_keys() -> None:
    infos = sample_infos()
    by_k = {g.k: g.count for g in analyze(infos, by=("k",))[0]}
    assert by_k == {18: 1, 22: 2, 25: 2, 32: 4, 33: 1}  # bladebit ram, disk, cuda and chia k32 together
    assert all(g.plotter is None and g.mode is None and g.tmp_dir is None for g in analyze(infos, by=("k",))[0])
    by_tmp = {(g.k, g.tmp_dir): g.count for g in analyze(infos, k=22, by=("k", "tmp"))[0]}
    assert by_tmp == {(22, "/mnt/tmp/00"): 1, (22, "xfs/tmp"): 1}
    (everything,) = analyze(infos, by=())[0]
    assert everything.count == 10  # every completed sample log
    with pytest.raises(ValueError, match="nope"):
        analyze(infos, by=("nope",))  # type: ignore[arg-type]


def test_since_filters_on_the_logs_start_time() -> None:
    infos = sample_infos()
    start = {i.plot_id: i.start_time for i in infos if i.start_time is not None}
    cut = 1795626500.0  # between the k22 chiapos runs (…445, …486) and the k25 chia runs (…520, …649, …792)
    assert sorted(t for t in start.values() if t is not None and t >= cut)
    groups, incomplete = analyze(infos, since=cut)
    assert [(g.k, g.count) for g in groups] == [(25, 2)]
    assert incomplete == 1  # the SIGTERM'd k25 run started after the cut too
    assert analyze([LogInfo(plotter=Plotter.CHIA, k=20, completed=True)], since=0.0) == ([], 0)  # no start time


def test_read_logs_skips_what_is_no_plot_log(tmp_path: Path) -> None:
    garbled = tmp_path / "garbled.log"
    garbled.write_bytes(bytes(range(256)) * 10)
    gone = tmp_path / "gone.log"
    infos, skipped = read_logs([SAMPLES / "plotman-madmax.plot.log", garbled, gone])
    assert [(i.plotter, i.k) for i in infos] == [(Plotter.MADMAX, 33)]
    assert [(s.path, s.reason.split(":")[0]) for s in skipped] == [
        (garbled, "not a log of any known plotter (chia, chiapos, madMAx, bladebit)"),
        (gone, "cannot read"),
    ]


def test_a_tmp_dir_with_and_without_its_trailing_slash_is_one_group() -> None:
    """madMAx writes `Working Directory:   /mnt/tmp/00/`, chia `... temporary dirs: /mnt/tmp/00 and ...`: one dir."""
    madmax = next(i for i in sample_infos() if i.plotter is Plotter.MADMAX)
    chia = next(i for i in sample_infos() if i.k == 25 and i.completed)
    madmax.tmp_dir, chia.tmp_dir = "/mnt/tmp/00/", "/mnt/tmp/00"
    root = LogInfo(**{**chia.__dict__, "tmp_dir": "/"})
    groups, _ = analyze([madmax, chia, root], by=("tmp",))
    assert [(g.tmp_dir, g.count) for g in groups] == [("/", 1), ("/mnt/tmp/00", 2)]
