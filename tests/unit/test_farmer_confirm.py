"""ConfirmPlot's domain rules (Farmer.confirm_plot) over scripted drives: which drives are looked at, in what order,
and what each answer is."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from farmer_agent.config import RsyncdSection
from farmer_agent.drives import DriveInfo, DriveState
from farmer_agent.farmer import Farmer
from farmer_agent.ledger import Ledger
from farmer_agent.reservation import Rules
from plotboss import errors
from plotboss.plots import plot_size

K18 = plot_size(18)
PLOT = "plot-k18-2021-05-05-12-34-" + "cd" * 32 + ".plot"


def farmer(tmp_path: Path, drives: tuple[DriveInfo, ...], sizes: dict[str, int | None], looked: list[str]) -> Farmer:
    def size(drive: str, name: str) -> int | None:
        looked.append(drive)
        if sizes.get(drive) == -1:
            raise errors.FailedPrecondition(f"{drive}/{name}: a symlink")
        if sizes.get(drive) == -2:
            time.sleep(1.0)
        return sizes.get(drive)

    rsyncd = RsyncdSection(host="h", port=873, module="plots", path=tmp_path)
    return Farmer(rsyncd, lambda: drives, Ledger(Rules(), time.time), None, io_timeout_s=0.2, final_size_fn=size)


def d(path: str, state: DriveState = DriveState.OK, plots: frozenset[str] = frozenset()) -> DriveInfo:
    return DriveInfo(path, state, plots=plots)


def test_the_drive_its_probe_lists_is_looked_at_first(tmp_path: Path) -> None:
    looked: list[str] = []
    drives = (d("/a"), d("/b", plots=frozenset({PLOT})), d("/c"))
    f = farmer(tmp_path, drives, {"/b": K18}, looked)
    assert f.confirm_plot(PLOT, K18) == f"/b/{PLOT}" and looked == ["/b"]


def test_a_plot_landed_since_the_probe_is_found_and_missing_drives_are_skipped(tmp_path: Path) -> None:
    looked: list[str] = []
    f = farmer(tmp_path, (d("/m", DriveState.MISSING), d("/a"), d("/b")), {"/b": K18}, looked)
    assert f.confirm_plot(PLOT, K18) == f"/b/{PLOT}" and looked == ["/a", "/b"]


def test_answers(tmp_path: Path) -> None:
    looked: list[str] = []
    with pytest.raises(errors.NotFound):
        farmer(tmp_path, (d("/a"),), {}, looked).confirm_plot(PLOT, K18)
    with pytest.raises(errors.FailedPrecondition, match="bytes, not"):
        farmer(tmp_path, (d("/a"),), {"/a": K18 - 1}, looked).confirm_plot(PLOT, K18)
    with pytest.raises(errors.FailedPrecondition, match="symlink"):
        farmer(tmp_path, (d("/a"),), {"/a": -1}, looked).confirm_plot(PLOT, K18)
    with pytest.raises(errors.Unavailable, match="could not be looked at"):
        farmer(tmp_path, (d("/a"),), {"/a": -2}, looked).confirm_plot(PLOT, K18)  # too slow: time-boxed
    looked.clear()
    with pytest.raises(errors.Unavailable, match="/e: hung"):  # a drive whose probe failed is not touched
        farmer(tmp_path, (DriveInfo("/e", DriveState.ERROR, error="hung"), d("/a")), {}, looked).confirm_plot(PLOT, K18)
    assert looked == ["/a"]
    with pytest.raises(errors.InvalidArgument):
        farmer(tmp_path, (d("/a"),), {}, looked).confirm_plot("x/" + PLOT, K18)
    with pytest.raises(errors.InvalidArgument):
        farmer(tmp_path, (d("/a"),), {}, looked).confirm_plot(PLOT, 0)
