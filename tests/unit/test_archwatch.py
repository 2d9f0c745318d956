"""The fleet watch's own eyes (testbed.archwatch): what it counts as a writer on a drive and as a final plot, and the
farmer log lines it takes as answered Completes. The fleet test leans on these; if they saw nothing, it would pass
without looking."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from plotboss.plots import PARTIAL_DIR
from testbed.archwatch import log_times, look_at_drive

A = "plot-k18-2021-05-05-12-34-" + "a" * 64 + ".plot"
B = "plot-k18-2021-05-05-12-34-" + "b" * 64 + ".plot"
C = "plot-k18-2021-05-05-12-34-" + "c" * 64 + ".plot"


def test_writers_are_rsync_temp_files_and_partial_dir_files(tmp_path: Path) -> None:
    (tmp_path / f".{A}.Xy12Zq").write_bytes(b"x" * 10)  # rsync's temp file of a push in progress
    (tmp_path / PARTIAL_DIR).mkdir()
    (tmp_path / PARTIAL_DIR / B).write_bytes(b"y" * 5)  # a killed push's partial file
    (tmp_path / C).write_bytes(b"z" * 7)  # landed
    (tmp_path / "notes.txt").write_text("not a plot")
    (tmp_path / f".{C}.tooshort").write_bytes(b"")  # not rsync's temp-name form
    writers, finals = look_at_drive(tmp_path)
    assert writers == {A, B}
    assert finals == [(C, 7)]


def test_an_empty_drive_has_no_writers(tmp_path: Path) -> None:
    assert look_at_drive(tmp_path) == (set(), [])


def test_completed_lines_as_the_farmer_agent_logs_them() -> None:
    # the farmer agent's logging format (plotboss/agent.py) and message (farmer_agent/farmer.py), made the same way
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    rec = logging.LogRecord(
        "farmer_agent.farmer",
        logging.INFO,
        __file__,
        1,
        "completed %s on %s (%d bytes) for %s",
        (A, "/mnt/farm/d0", 123, "plotter-01"),
        None,
    )
    line = fmt.format(rec)
    other = line.replace("completed", "released")
    got = log_times(f"{other}\n{line}\n")
    assert list(got) == [A]
    assert abs(got[A] - rec.created) < 0.002
    assert dt.datetime.fromtimestamp(got[A]).year >= 2024
