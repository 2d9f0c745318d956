"""An in-process stand-in for the archiver loop behind the servicer's seam (``ArchiverControl``): it holds one
``ArchiveStatus`` and flips its state on pause/resume, as the real one does. For unit tests of the conversion and
rendering, and for integration tests of the RPCs and CLI commands where a real transfer is not the point."""

from __future__ import annotations

import dataclasses
import threading

from plotter_agent.archive.status import ArchiveStatus, DirWaiting, FarmerReach, TransferView

NOW = 1_800_000_000.0
K18 = 14_000_000
PLOT_A = "plot-k18-2026-12-07-20-00-" + "a1" * 32 + ".plot"
PLOT_B = "plot-k18-2026-12-07-20-05-" + "b2" * 32 + ".plot"
PLOT_C = "plot-k18-2026-12-07-19-50-" + "c3" * 32 + ".plot"
PLOT_D = "plot-k18-2026-12-07-19-40-" + "d4" * 32 + ".plot"


def sample_status(state: str = "running") -> ArchiveStatus:
    """One transfer at 40%, one done and one failed (newest first), two dst dirs, a farmer down since two minutes."""
    active = TransferView(
        plot_name=PLOT_A,
        source_path=f"/mnt/dst/00/{PLOT_A}",
        dst_dir="/mnt/dst/00",
        farmer="farmer-01",
        drive_path="/mnt/farm/d1",
        reservation_id="r-0001",
        size_bytes=K18,
        transferred_bytes=K18 * 2 // 5,
        rate_bytes_per_s=1_048_576.0,
        eta_s=8.0,
        start_time=NOW - 5,
        end_time=None,
        outcome="in_progress",
    )
    failed = dataclasses.replace(
        active,
        plot_name=PLOT_B,
        source_path=f"/mnt/dst/01/{PLOT_B}",
        dst_dir="/mnt/dst/01",
        farmer="farmer-02",
        drive_path="/mnt/farm/d0",
        reservation_id="r-0000",
        transferred_bytes=K18 // 10,
        eta_s=None,
        start_time=NOW - 120,
        end_time=NOW - 100,
        outcome="failed",
        error="rsync exit 10: error in socket IO (code 10) at clientserver.c(139)",
        next_step="retry in 20 s on another farmer",
    )
    done = dataclasses.replace(
        active,
        plot_name=PLOT_C,
        source_path=f"/mnt/dst/00/{PLOT_C}",
        reservation_id="r-ffff",
        transferred_bytes=K18,
        eta_s=None,
        start_time=NOW - 300,
        end_time=NOW - 280,
        outcome="done",
        next_step="deleted the source",
        recovered=True,
    )
    return ArchiveStatus(
        state=state,  # type: ignore[arg-type]
        reason="max_concurrent_transfers (1) reached",
        active=(active,),
        recent=(failed, done),
        dirs=(
            DirWaiting("/mnt/dst/00", plots_waiting=2, bytes_waiting=2 * K18, score=1.5, readers=1, skipped="busy"),
            DirWaiting("/mnt/dst/01", plots_waiting=1, bytes_waiting=K18, score=0.75, readers=0),
        ),
        farmers=(
            FarmerReach("farmer-01", "127.0.0.1:8471", reachable=True, drives=3, room_bytes=10 * K18),
            FarmerReach(
                "farmer-02",
                "127.0.0.1:8472",
                reachable=False,
                error="unreachable: connection refused",
                unreachable_since=NOW - 120,
                next_try_time=NOW + 40,
            ),
        ),
        max_concurrent_transfers=1,
        archived_plots=1,
        archived_bytes=K18,
        pass_time=NOW - 1,
    )


class FakeArchiver:
    """``ArchiverControl`` over a fixed status; pause/resume flip its state (a disabled one stays disabled)."""

    def __init__(self, status: ArchiveStatus | None = None) -> None:
        self._status = status if status is not None else sample_status()
        self._lock = threading.Lock()
        self.calls: list[str] = []

    def status(self) -> ArchiveStatus:
        with self._lock:
            return self._status

    def _set(self, call: str, state: str) -> ArchiveStatus:
        with self._lock:
            self.calls.append(call)
            if self._status.state != "disabled":
                self._status = dataclasses.replace(self._status, state=state)  # type: ignore[arg-type]
            return self._status

    def pause(self) -> ArchiveStatus:
        return self._set("pause", "paused")

    def resume(self) -> ArchiveStatus:
        return self._set("resume", "running")
