"""The CLI's farmer tables: drives (fill bar, notes for drives that are not ok) and reservations."""

from __future__ import annotations

from cli.farmer_cmds import drive_json, drives_table, reservations_table
from plotboss.rpc import to_timestamp
from plotboss.v1 import farmer_pb2

GiB = 2**30
PLOT = "plot-k32-2021-05-05-12-34-" + "ab" * 32 + ".plot"


def test_drives_table_rows_fill_and_notes() -> None:
    ok = farmer_pb2.Drive(
        path="/mnt/farm/d0",
        total_bytes=100 * GiB,
        free_bytes=60 * GiB,
        reserved_bytes=10 * GiB,
        plot_count=3,
        state=farmer_pb2.DRIVE_STATE_OK,
        writers=1,
    )
    missing = farmer_pb2.Drive(path="/mnt/farm/d1", state=farmer_pb2.DRIVE_STATE_MISSING, error="not a mount point")
    grid, notes = drives_table([ok, missing])
    assert grid.rows[0] == ("/mnt/farm/d0", "100.0 GiB", "60.0 GiB", "10.0 GiB", "█████░░░░░", "3", "ok", "1")
    assert grid.rows[1][6] == "missing" and grid.rows[1][4] == "░" * 10
    assert notes == ["/mnt/farm/d1: missing: not a mount point"]
    lines = grid.plain().splitlines()
    assert lines[0].split() == ["drive", "size", "free", "reserved", "fill", "plots", "state", "writers"]
    assert len({len(line) for line in lines[:2]}) == 1  # aligned columns
    assert drives_table([])[1] == ["no drives (drives.paths matched nothing)"]
    assert drive_json(missing)["state"] == "missing" and drive_json(missing)["error"] == "not a mount point"


def test_reservations_table_shortens_plot_names_and_counts_down() -> None:
    r = farmer_pb2.Reservation(
        id="0123456789abcdef" * 2,
        plot_name=PLOT,
        size_bytes=GiB,
        requester="plotter-01",
        drive_path="/mnt/farm/d0",
        expire_time=to_timestamp(1000.0),
    )
    (row,) = reservations_table([r], now=880.4).rows
    assert row[0] == "01234567" and row[1].startswith("plot-k32-2021-05-05-12-34-abab") and "…" in row[1]
    assert row[2:] == ("1.0 GiB", "plotter-01", "/mnt/farm/d0", "120 s")
    (late,) = reservations_table([r], now=2000.0).rows
    assert late[-1] == "0 s"
