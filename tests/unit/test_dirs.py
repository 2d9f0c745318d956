"""Temp-file naming, orphan detection over a real temp dir, and removal that never touches a finished plot."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from plotboss.plots import plausible_plot_size_range, plot_size
from plotter_agent.dirs import (
    build_dirs,
    find_orphans,
    job_dirs,
    job_temp_bytes,
    remove_files,
    scan_dir,
    temp_files_of,
    temp_plot_id,
)
from plotter_agent.jobs import Job, build_job, group_families
from plotter_agent.logparse import LogParser
from testbed.procs import job, proc
from tests.unit.test_logparse_multiplot import ID1_MADMAX, ID2, madmax_two_plots

LIVE = "1" * 64
DEAD = "2" * 64
NEW = "3" * 64
NAME = "plot-k32-2021-05-01-10-00-{}.plot"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (NAME.format(LIVE) + ".table1.tmp", LIVE),
        (NAME.format(LIVE) + ".table7.tmp", LIVE),
        (NAME.format(LIVE) + ".sort.tmp", LIVE),
        (NAME.format(LIVE) + ".p1.t3.sort_bucket_012.tmp", LIVE),
        (NAME.format(LIVE) + ".p3s.t2.sort_bucket_127.tmp", LIVE),
        (NAME.format(LIVE) + ".2.tmp", LIVE),
        (NAME.format(LIVE) + ".tmp", LIVE),  # madMAx / bladebit final copy
        (NAME.format(LIVE)[:-5] + ".p1t1.sort_bucket_000.tmp", LIVE),  # madMAx-like
        (NAME.format(LIVE), None),  # a finished plot is never a temp file
        (f"plot-k32-c05-2023-06-01-10-00-{LIVE}.plot", None),  # bladebit --compress 5
        (f"plot-mmx-k32-c7-2023-06-01-10-00-{LIVE}.plot", None),  # a plot format we do not know: still a plot
        (NAME.format(LIVE) + ".tmp.plot", None),  # ends in .plot: never removed, whatever comes before
        (f".{NAME.format(LIVE)}.Xy12Ab", None),  # an rsync partial: no temp suffix
        (NAME.format(LIVE) + ".TMP", None),
        ("t1_0.tmp", None),
        ("notes.txt", None),
        ("x" + LIVE[:63], None),
        (LIVE + "0.tmp", None),  # 65 hex digits: not a plot id
    ],
)
def test_temp_plot_id(name: str, expected: str | None) -> None:
    assert temp_plot_id(name) == expected


def _touch(p: Path, size: int, mtime: float | None = None) -> Path:
    p.write_bytes(b"x" * size)
    if mtime is not None:
        os.utime(p, (mtime, mtime))
    return p


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    d = tmp_path / "tmp"
    d.mkdir()
    _touch(d / (NAME.format(LIVE) + ".table1.tmp"), 10, 1000)
    _touch(d / (NAME.format(LIVE) + ".p1.t1.sort_bucket_000.tmp"), 5, 1000)
    _touch(d / (NAME.format(DEAD) + ".table2.tmp"), 7, 1000)
    _touch(d / (NAME.format(DEAD) + ".2.tmp"), 3, 1000)
    _touch(d / (NAME.format(NEW) + ".table1.tmp"), 11, 5000)
    _touch(d / NAME.format(DEAD), 100, 1000)  # named like a finished plot of the dead id
    _touch(d / "unrelated.tmp", 1, 1000)
    (d / (NAME.format(DEAD) + ".subdir.tmp")).mkdir()
    return d


def test_scan_and_orphans(tmp_dir: Path) -> None:
    scan = scan_dir(str(tmp_dir))
    assert scan.error == "" and scan.total_bytes > 0
    assert (scan.plot_count, scan.plot_bytes) == (0, 0)  # a 100-byte "k32 plot" is no plot...
    assert [f.name for f in scan.suspects] == [NAME.format(DEAD)]  # ...but a suspect
    assert len(scan.temp_files) == 5
    live = replace(job(1, LIVE), tmp_dir=str(tmp_dir))
    orphans = find_orphans(scan, [live])
    assert sorted(f.plot_id for f in orphans) == [DEAD, DEAD, NEW]
    assert job_temp_bytes(live, {str(tmp_dir): scan}) == 15


def test_job_without_id_guards_newer_files(tmp_dir: Path) -> None:
    scan = scan_dir(str(tmp_dir))
    unknown = replace(job(2, None), tmp_dir=str(tmp_dir), create_time=2000.0)
    orphans = find_orphans(scan, [unknown])
    # files older than the id-less job are orphans; the one written since it started might be its own
    assert {f.plot_id for f in orphans} == {LIVE, DEAD}


def test_remove_orphans_never_a_plot(tmp_dir: Path) -> None:
    scan = scan_dir(str(tmp_dir))
    views = build_dirs([(str(tmp_dir), "tmp")], {str(tmp_dir): scan}, [replace(job(1, LIVE), tmp_dir=str(tmp_dir))])
    assert views[0].orphan_bytes == 7 + 3 + 11 and views[0].jobs[0].pid == 1
    removed, total = remove_files(views[0].orphans)
    assert total == 21 and len(removed) == 3
    left = sorted(p.name for p in tmp_dir.iterdir())
    assert NAME.format(DEAD) in left and "unrelated.tmp" in left
    assert sum(1 for n in left if LIVE in n) == 2


def test_remove_refuses_a_renamed_plot(tmp_dir: Path) -> None:
    scan = scan_dir(str(tmp_dir))
    victim = next(f for f in scan.temp_files if f.path.endswith(".2.tmp"))
    final = _touch(tmp_dir / NAME.format(LIVE), 50)
    # a forged entry pointing at a finished plot is refused by name
    removed, _ = remove_files([replace(victim, path=str(final))])
    assert removed == [] and final.exists()
    # so is one pointing at any name that ends in .plot
    mmx = _touch(tmp_dir / f"plot-mmx-k32-c7-2021-05-01-10-00-{victim.plot_id}.plot", 50)
    assert remove_files([replace(victim, path=str(mmx))]) == ([], 0) and mmx.exists()
    # a file that vanished meanwhile is skipped quietly
    os.unlink(victim.path)
    assert remove_files([victim]) == ([], 0)


def test_temp_files_of_one_or_more_ids(tmp_dir: Path) -> None:
    def names(ids: str | list[str]) -> set[str]:
        return {os.path.basename(f.path) for f in temp_files_of(ids, [str(tmp_dir), str(tmp_dir)])}

    assert names(DEAD) == names([DEAD]) == {NAME.format(DEAD) + ".2.tmp", NAME.format(DEAD) + ".table2.tmp"}
    assert len(temp_files_of([DEAD, LIVE], [str(tmp_dir)])) == 4 and temp_files_of([], [str(tmp_dir)]) == []


def test_missing_dir_is_reported(tmp_path: Path) -> None:
    scan = scan_dir(str(tmp_path / "nope"))
    assert scan.error and scan.temp_files == ()


def test_unconfigured_job_dirs_are_listed_without_orphans(tmp_dir: Path, tmp_path: Path) -> None:
    scan = scan_dir(str(tmp_dir))
    by_hand = replace(job(1, LIVE), tmp_dir=str(tmp_dir), dst_dir=str(tmp_path))
    views = build_dirs(
        [(str(tmp_path), "dst")], {str(tmp_dir): scan, str(tmp_path): scan_dir(str(tmp_path))}, [by_hand]
    )
    assert [(v.path, v.role) for v in views] == [(str(tmp_path), "dst"), (str(tmp_dir), "tmp")]
    assert views[1].jobs[0].pid == 1 and views[1].orphans == ()  # never offered for removal


def test_earlier_plot_being_copied_is_not_an_orphan(tmp_path: Path) -> None:
    """madMAx `-n 2`: while plot 2 runs, plot 1 is still copied from tmp2 to dst; those files are the job's."""
    data, late_at = madmax_two_plots()
    parser = LogParser()
    parser.feed(data[:late_at])  # plot 2 in phase 1, plot 1's copy not finished
    tmp, tmp2, dst = (tmp_path / n for n in ("tmp", "tmp2", "dst"))
    for d in (tmp, tmp2, dst):
        d.mkdir()
    plot1 = f"plot-k33-2021-07-14-21-56-{ID1_MADMAX}.plot"
    _touch(tmp2 / (plot1 + ".tmp"), 500, 1000)  # plot 1, complete, being copied
    _touch(dst / (plot1 + ".tmp"), 300, 1000)  # the copy in progress
    _touch(tmp / f"plot-k33-2021-07-14-22-30-{ID2}.p1.t1.sort_bucket_000.tmp", 70, 1000)  # plot 2's own
    _touch(tmp / (NAME.format(DEAD) + ".p1.t1.sort_bucket_000.tmp"), 9, 1000)  # a real orphan
    argv = ("chia_plot", "-n", "2", "-t", f"{tmp}/", "-2", f"{tmp2}/", "-d", f"{dst}/")
    fam = group_families([proc(100, argv, fds=((1, "/logs/mm.log"),))])[0]
    j = build_job(
        fam,
        now=2000.0,
        logfile="/logs/mm.log",
        log_reason="",
        info=parser.info.copy(),
        last_growth=1999.0,
        progress=0.1,
        eta_s=None,
        tmp_bytes=0,
        stall_after_s=600.0,
    )
    assert (j.plot_id, j.earlier_plot_ids) == (ID2, (ID1_MADMAX,))
    pairs = [(str(tmp), "tmp"), (str(tmp2), "tmp2"), (str(dst), "dst")]
    views = build_dirs(pairs, {p: scan_dir(p) for p, _r in pairs}, [j])
    assert [(v.role, [f.plot_id for f in v.orphans]) for v in views] == [("tmp", [DEAD]), ("tmp2", []), ("dst", [])]


def _chia_job_without_tmp2(tmp: Path, dst: Path, cwd: str = "/home/u") -> Job:
    """A running `chia plots create` job with no `-2`, fed the first part of a real chia 2.7.5 log (whose header says
    `temporary dirs: /mnt/tmp/00 and /mnt/tmp/00`: chia uses the tmp dir as tmp2), its paths moved to ``tmp``."""
    raw = (Path(__file__).parents[1] / "data" / "logs" / "chia-2.7.5-k25-minimal-config.plot.log").read_bytes()
    raw = raw.replace(b"/mnt/tmp/00", str(tmp).encode()).replace(b"/mnt/dst/00", str(dst).encode())
    parser = LogParser()
    parser.feed(raw[: raw.index(b"Computing table 3")])
    assert parser.info.tmp2_dir == str(tmp) and parser.info.plot_id == LIVE_REAL
    argv = ("python3", "/venv/bin/chia", "plots", "create", "-k", "25", "-t", str(tmp), "-d", str(dst))
    fam = group_families([proc(100, argv, fds=((1, "/logs/a.log"),))])[0]
    return build_job(
        fam,
        now=2000.0,
        logfile="/logs/a.log",
        log_reason="",
        info=parser.info.copy(),
        last_growth=1999.0,
        progress=0.1,
        eta_s=None,
        tmp_bytes=0,
        stall_after_s=600.0,
    )


LIVE_REAL = "a2b35344670079d0b01b356c89275b3db9ad4beb708ab4f18083e38244aeacea"


@pytest.mark.parametrize("configured", [True, False])
def test_a_chia_job_without_tmp2_uses_one_dir_not_two(tmp_dir: Path, tmp_path: Path, configured: bool) -> None:
    """`dirs` listed such a tmp dir twice, as tmp and tmp2, and counted its orphans twice."""
    dst = tmp_path / "dst"
    dst.mkdir()
    j = _chia_job_without_tmp2(tmp_dir, dst)
    assert (j.tmp_dir, j.tmp2_dir) == (str(tmp_dir), str(tmp_dir))  # what chia does: tmp2 is tmp
    assert job_dirs(j) == [(str(tmp_dir), "tmp"), (str(dst), "dst")]
    pairs = [(str(tmp_dir), "tmp"), (str(dst), "dst")] if configured else [(str(dst), "dst")]
    scans = {str(tmp_dir): scan_dir(str(tmp_dir)), str(dst): scan_dir(str(dst))}
    views = build_dirs(pairs, scans, [j])
    assert sorted((v.path, v.role) for v in views) == [(str(dst), "dst"), (str(tmp_dir), "tmp")]
    tmp_view = next(v for v in views if v.path == str(tmp_dir))
    assert [d.pid for d in tmp_view.jobs] == [100]
    # its orphans (every temp file: the job's own id is none of them), once; none in a dir not configured
    assert sum(len(v.orphans) for v in views) == (5 if configured else 0)


def test_a_relative_dir_in_the_log_resolves_against_the_jobs_cwd(tmp_path: Path) -> None:
    """plotman's chia log says `temporary dirs: cp3/tmp and cp3/tmp`: that is the job's `-t` resolved, one dir."""
    (tmp_path / "cp3" / "tmp").mkdir(parents=True)
    parser = LogParser()
    parser.feed(b"Starting plotting progress into temporary dirs: cp3/tmp and cp3/tmp\n")
    argv = ("python3", "/venv/bin/chia", "plots", "create", "-t", "cp3/tmp", "-d", "cp3/tmp")
    fam = group_families([replace(proc(100, argv), cwd=str(tmp_path))])[0]
    j = build_job(
        fam,
        now=2000.0,
        logfile=None,
        log_reason="",
        info=parser.info.copy(),
        last_growth=None,
        progress=0.0,
        eta_s=None,
        tmp_bytes=0,
        stall_after_s=600.0,
    )
    assert j.tmp2_dir == j.tmp_dir == str(tmp_path / "cp3" / "tmp") and job_dirs(j) == [(j.tmp_dir, "tmp")]


def _sized(p: Path, size: int, mtime: float) -> Path:
    """A file of ``size`` bytes (sparse: what counts is its size)."""
    with open(p, "wb") as f:
        f.truncate(size)
    os.utime(p, (mtime, mtime))
    return p


def test_a_file_named_like_a_plot_counts_only_when_its_size_is_a_whole_plots(tmp_path: Path) -> None:
    """A 6-byte `plot-k25-....plot` counted as a plot in `dirs`; now it is a suspect, shown with its reason."""
    d = tmp_path / "dst"
    d.mkdir()
    whole = f"plot-k25-2026-11-25-17-10-{LIVE}.plot"
    _sized(d / whole, plot_size(25), 1000.0)
    compressed = f"plot-k25-c05-2026-11-25-17-10-{NEW}.plot"
    _sized(d / compressed, plot_size(25, 5), 1001.0)
    tiny = f"plot-k25-2026-11-25-17-11-{DEAD}.plot"
    _touch(d / tiny, 6, 1002.0)
    short_c9 = f"plot-k25-c09-2026-11-25-17-12-{'4' * 64}.plot"
    _sized(d / short_c9, plot_size(25, 9) // 2, 1003.0)  # a copy cut short
    bad_k = f"plot-k99-2026-11-25-17-13-{'5' * 64}.plot"
    _touch(d / bad_k, 6)
    link = f"plot-k25-2026-11-25-17-14-{'6' * 64}.plot"
    os.symlink(d / whole, d / link)
    scan = scan_dir(str(d))
    assert [(p.name, p.size_bytes, p.mtime) for p in scan.plots] == [
        (whole, plot_size(25), 1000.0),
        (compressed, plot_size(25, 5), 1001.0),
    ]
    assert (scan.plot_count, scan.plot_bytes) == (2, plot_size(25) + plot_size(25, 5))
    reasons = {p.name: p.reason for p in scan.suspects}
    assert set(reasons) == {tiny, short_c9, bad_k, link}
    lo, hi = plausible_plot_size_range(25)
    assert reasons[tiny] == f"6 bytes is not the size of a whole k25 plot ({lo}..{hi} bytes)"
    assert "k25 c09 plot" in reasons[short_c9] and "k=99" in reasons[bad_k] and reasons[link] == "not a regular file"
    # the dir snapshot keeps them as they are: plots (name, size, mtime) for the archiver, suspects apart
    (view,) = build_dirs([(str(d), "dst")], {str(d): scan}, [])
    assert view.plots == scan.plots and view.suspects == scan.suspects and view.plot_count == 2
    # a suspect is never a temp file either: nothing offers it for removal
    assert view.orphans == () and all(temp_plot_id(n) is None for n in reasons)
