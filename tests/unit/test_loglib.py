"""LogLibrary over ~2,000 completed logs: parse once, never again while unchanged; active logs followed; ETA model."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import pytest

from plotter_agent.loglib import LogLibrary
from plotter_agent.logparse import Plotter
from plotter_agent.progress import phase_progress
from testbed.clock import VirtualClock
from tests.unit.logsamples import K18

N_OLD = 2000
TEMPLATE = K18.read_bytes()
T0 = 1_000_000.0  # the virtual clock's start
TICK_S = 61.0  # one step of the virtual clock: past the library's 60 s full-scan interval
SAMPLE_ID = b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


def log_bytes(i: int) -> bytes:
    """A completed k18 chiapos log with its own plot id and a proper final plot name."""
    plot_id = f"{i:064x}".encode()
    data = TEMPLATE.replace(SAMPLE_ID, plot_id)
    return data.replace(b"plot-k18-test.plot", b"plot-k18-2026-11-25-17-07-" + plot_id + b".plot")


def write_logs(d: Path, ids: range) -> list[Path]:
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in ids:
        p = d / f"{i:06d}.plot.log"
        p.write_bytes(log_bytes(i))
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("logs")
    write_logs(d, range(N_OLD))
    return d


def test_two_thousand_logs_parsed_once(big_dir: Path) -> None:
    clock = VirtualClock(T0)
    lib = LogLibrary(big_dir, clock=clock)
    lib.refresh()
    assert lib.parses == N_OLD
    done = lib.completed()
    assert len(done) == N_OLD
    assert len({i.plot_id for i in done}) == N_OLD
    assert all(i.k == 18 and i.plotter is Plotter.CHIA for i in done)
    for _ in range(200):  # many refreshes, scans and full scans: every old log re-stat'ed several times
        clock.advance(TICK_S)
        lib.refresh()
    assert lib.parses == N_OLD


def test_refresh_cost_with_2000_old_and_8_active_logs(big_dir: Path, tmp_path: Path) -> None:
    """Steady state: 8 growing active logs and 2,000 old ones. Prints the measured cost per refresh."""
    clock = VirtualClock(T0)
    lib = LogLibrary(big_dir, clock=clock)
    lib.refresh()
    active = [tmp_path / f"active{i}.log" for i in range(8)]
    chunks = [TEMPLATE[j : j + 400] for j in range(0, len(TEMPLATE), 400)]
    for p in active:
        p.write_bytes(b"")
    wall, cpu = [], []
    for n in range(60):
        for p in active:
            with open(p, "ab") as fh:
                fh.write(chunks[n % len(chunks)])
        clock.advance(5.0)  # every call is due a scan check
        t0, c0 = time.perf_counter(), time.process_time()
        lib.refresh(active)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    cpu_ms = statistics.median(cpu) * 1000
    print(
        f"refresh with {N_OLD} old + 8 active logs: CPU median {cpu_ms:.3f} ms; "
        f"wall median {statistics.median(wall) * 1000:.3f} ms, max {max(wall) * 1000:.3f} ms"
    )
    assert lib.parses == N_OLD
    assert cpu_ms < 10.0  # CPU time, not wall time: a loaded test machine must not fail this


def test_changed_new_and_removed_logs(tmp_path: Path) -> None:
    paths = write_logs(tmp_path, range(50))
    clock = VirtualClock(T0)
    lib = LogLibrary(tmp_path, clock=clock, restat_batch=10)
    lib.refresh()
    assert lib.parses == 50
    model = lib.eta_model()
    assert lib.eta_model() is model  # cached

    # A changed log is parsed again once the round-robin re-stat reaches it (50 logs / 10 per refresh).
    with open(paths[7], "ab") as fh:
        fh.write(b"\n")
    for _ in range(5):
        lib.refresh()
    assert lib.parses == 51
    assert lib.eta_model() is not model  # a completed log was replaced

    # A new log is found at the next scan (the dir's mtime changed).
    write_logs(tmp_path, range(50, 51))
    clock.advance(6.0)
    lib.refresh()
    assert lib.parses == 52 and len(lib.completed()) == 51

    # A removed log drops out.
    paths[0].unlink()
    clock.advance(6.0)
    lib.refresh()
    assert len(lib.completed()) == 50
    assert lib.parses == 52


def test_scan_interval_limits_listings(tmp_path: Path) -> None:
    write_logs(tmp_path, range(3))
    clock = VirtualClock(T0)
    lib = LogLibrary(tmp_path, clock=clock, scan_interval_s=5.0)
    lib.refresh()
    write_logs(tmp_path, range(3, 4))
    clock.advance(1.0)
    lib.refresh()
    assert lib.parses == 3  # not due yet
    clock.advance(5.0)
    lib.refresh()
    assert lib.parses == 4


def test_active_log_is_followed_then_handed_over_without_reparse(tmp_path: Path) -> None:
    write_logs(tmp_path, range(5))
    clock = VirtualClock(T0)
    lib = LogLibrary(tmp_path, clock=clock)
    running = tmp_path / "running.log"
    data = log_bytes(99)
    cut = data.index(b"Starting phase 3/4")
    running.write_bytes(data[:cut])
    lib.refresh([running])
    assert lib.parses == 5  # the active log is followed, not parsed whole
    f = lib.follower(running)
    assert f.info.phase == (2, 7) and not f.info.completed  # phase 2 ends on "table 1 new size"
    assert 0 < phase_progress(f.info) < 1
    assert len(lib.infos()) == 6
    model = lib.eta_model()

    with open(running, "ab") as fh:
        fh.write(data[cut:])
    lib.refresh([running])
    assert f.info.completed
    lib.refresh([])  # the job ended: its follower's info becomes the log's entry
    clock.advance(TICK_S)
    lib.refresh([])
    assert lib.parses == 5
    assert len(lib.completed()) == 6
    assert lib.eta_model() is not model


def test_log_found_by_scan_then_becoming_active_is_not_double_counted(tmp_path: Path) -> None:
    write_logs(tmp_path, range(2))
    p = tmp_path / "job.log"
    p.write_bytes(log_bytes(7))
    lib = LogLibrary(tmp_path, clock=VirtualClock(T0))
    lib.refresh()
    assert len(lib.completed()) == 3
    lib.refresh([p])
    assert len(lib.completed()) == 2  # it is now an active job's log
    assert lib.follower(p).info.completed


def test_parse_budget_spreads_the_first_parse(tmp_path: Path) -> None:
    write_logs(tmp_path, range(40))
    clock = VirtualClock(T0)
    lib = LogLibrary(tmp_path, clock=clock, parse_budget_s=0.0)
    lib.refresh()
    assert lib.parses == 1  # one log per refresh with a zero budget
    for _ in range(39):
        lib.refresh()
    assert lib.parses == 40 and len(lib.completed()) == 40


def test_missing_dir_and_bad_files_are_harmless(tmp_path: Path) -> None:
    lib = LogLibrary(tmp_path / "nope", clock=VirtualClock(T0))
    lib.refresh([tmp_path / "nope" / "x.log"])
    assert lib.completed() == [] and lib.parses == 0
    (tmp_path / "bad.log").write_bytes(os.urandom(5000))
    (tmp_path / ".hidden").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    lib2 = LogLibrary(tmp_path, clock=VirtualClock(T0))
    lib2.refresh()
    assert lib2.parses == 1 and lib2.completed() == []
    assert len(lib2.infos()) == 1


def test_eta_model_learns_from_completed_logs(tmp_path: Path) -> None:
    write_logs(tmp_path, range(3))
    lib = LogLibrary(tmp_path, clock=VirtualClock(T0))
    lib.refresh()
    model = lib.eta_model()
    profile = model.profiles[(Plotter.CHIA, None, 18)]
    assert profile.count == 3
    assert profile.means == pytest.approx({1: 0.445, 2: 0.047, 3: 0.201, 4: 0.012})


def test_ended_job_whose_log_was_not_read_to_the_end_is_parsed_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import plotter_agent.logparse as logparse

    monkeypatch.setattr(logparse, "MAX_READ_BYTES", 1000)  # a follower reads at most 1000 bytes per poll
    p = tmp_path / "job.log"
    p.write_bytes(log_bytes(5))
    lib = LogLibrary(tmp_path, clock=VirtualClock(T0))
    lib.refresh([p])
    assert lib.follower(p).offset == 1000
    assert lib.parses == 0
    lib.refresh([])
    assert lib.parses == 1
    assert [i.plot_id for i in lib.completed()] == [f"{5:064x}"]
