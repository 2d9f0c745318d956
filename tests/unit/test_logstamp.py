"""The bench's log stamper (testbed.logstamp): every stamped log is a finished log of its own plot, started when
stamped, under plotman's file name, that the agent's parser reads like the sample it came from."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

from plotter_agent.logparse import Plotter, parse_file
from testbed.logstamp import plotman_log_name, write_completed_logs


def test_stamped_logs_are_finished_logs_of_their_own_plots(tmp_path: Path) -> None:
    nbytes = write_completed_logs(tmp_path, 4)
    paths = sorted(tmp_path.iterdir(), reverse=True)  # plotman's names sort by start time: newest first
    assert len(paths) == 4 and nbytes == sum(p.stat().st_size for p in paths)
    infos = [parse_file(p) for p in paths]
    assert all(i.completed and i.plotter is Plotter.CHIA for i in infos)
    assert [i.k for i in infos] == [22, 25, 22, 25]
    assert len({i.plot_id for i in infos}) == 4
    for path, info in zip(paths, infos, strict=True):
        assert info.plot_id is not None and info.plot_name is not None and info.start_time is not None
        assert info.plot_id in info.plot_name
        start = dt.datetime.fromtimestamp(info.start_time)
        assert info.plot_name.startswith(f"plot-k{info.k}-{start:%Y-%m-%d-%H-%M}-")
        named = dt.datetime.strptime(path.name[:26], "%Y-%m-%dT%H_%M_%S.%f").replace(tzinfo=dt.UTC)  # plotman's, UTC
        assert abs(named.timestamp() - info.start_time) < 2 and path.name.endswith("+00_00.plot.log")
    starts = [i.start_time for i in infos if i.start_time is not None]
    # one every 20 minutes (a job's start is its first stamped line: chia's header comes a little before phase 1)
    gaps = [a - b for a, b in itertools.pairwise(starts)]
    assert len(gaps) == 3 and all(abs(g - 1200) < 2 for g in gaps), gaps


def test_plotman_log_name() -> None:
    when = dt.datetime(2026, 11, 25, 17, 7, 25, 123456, tzinfo=dt.UTC)
    assert plotman_log_name(when) == "2026-11-25T17_07_25.123456+00_00.plot.log"
    assert plotman_log_name(when.astimezone(dt.timezone(dt.timedelta(hours=2)))) == plotman_log_name(when)


def test_sample_logs_are_finished_logs_of_their_own_plots_and_tmp_dirs(tmp_path: Path) -> None:
    from testbed.logstamp import ANALYZE_SAMPLES, write_sample_logs

    count = 2 * len(ANALYZE_SAMPLES)
    nbytes = write_sample_logs(tmp_path, count, tmp_dirs=2)
    paths = sorted(tmp_path.iterdir())
    assert len(paths) == count and nbytes == sum(p.stat().st_size for p in paths)
    infos = [parse_file(p) for p in paths]
    assert all(i.completed and i.plotter in (Plotter.CHIA, Plotter.MADMAX) for i in infos)
    assert {i.k for i in infos} == {18, 22, 25, 32, 33}
    assert len({i.plot_id for i in infos}) == count
    assert {(i.tmp_dir or "").rstrip("/") for i in infos} == {"/mnt/tmp/00", "/mnt/tmp/01"}  # madMAx: "/mnt/tmp/00/"
    for path, info in zip(paths, infos, strict=True):
        assert info.plot_id is not None and info.plot_id in path.read_text()
        assert info.start_time is not None
        named = dt.datetime.strptime(path.name[:26], "%Y-%m-%dT%H_%M_%S.%f").replace(tzinfo=dt.UTC)
        assert abs(named.timestamp() - info.start_time) < 120  # madMAx's start is its plot name's minute
