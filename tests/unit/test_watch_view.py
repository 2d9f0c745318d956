"""The watch screen rendered from built snapshots (no agent, no terminal): jobs, histogram, bars, unreachable rows,
scheduler and archiver lines, and the key decoder."""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Iterator

import pytest
from rich.console import Console

from cli.watch import keys_of
from cli.watch_view import FarmerSnap, PlotterSnap, Reach, Screen, clock_text, render
from plotboss.rpc import to_duration, to_timestamp
from plotboss.v1 import farmer_pb2, plotter_pb2
from plotter_agent.archive.status import ArchiveStatus, TransferView

NOW = 1_750_000_000.0
OK = Reach(seen=True)
GIB = 1 << 30


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def text(screen: Screen, width: int = 160) -> str:
    con = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    con.print(render(screen))
    return con.export_text()


def job(
    plot_id: str, tmp: str, major: int | None, minor: int = 0, progress: float = 0.0, eta_s: float | None = None
) -> plotter_pb2.Job:
    j = plotter_pb2.Job(
        plot_id=plot_id,
        k=32,
        plotter=plotter_pb2.PLOTTER_KIND_CHIA,
        pid=4242,
        tmp_dir=tmp,
        dst_dir="/mnt/dst/00",
        progress=progress,
        state=plotter_pb2.JOB_STATE_RUNNING,
        plot_count=1,
        phase=plotter_pb2.Phase(major=major or 0, minor=minor, known=major is not None),
        wall=to_duration(600),
    )
    if eta_s is not None:
        j.eta.FromNanoseconds(int(eta_s * 1e9))
    return j


def row(screen_text: str, needle: str, start: bool = False) -> str:
    """The one line holding ``needle`` (starting with it, with ``start``)."""
    (line,) = [line for line in screen_text.splitlines() if (line.startswith(needle) if start else needle in line)]
    return line


def test_clock_text_is_local_wall_clock() -> None:
    assert clock_text(0) == "00:00:00"
    assert clock_text(NOW) == "15:06:40"


def test_jobs_with_phase_progress_and_eta_and_the_selected_one() -> None:
    jobs = [
        job("aa" * 32, "/mnt/tmp/00", 1, 3, progress=0.2, eta_s=3725),
        job("bb" * 32, "/mnt/tmp/01", 3, 5, progress=0.75),
    ]
    out = text(Screen(NOW, plotters=[PlotterSnap("plotter-01", "10.0.0.1:8470", OK, jobs)], selected_job=1))
    assert "[1] plotter-01 (10.0.0.1:8470)  2 jobs" in out
    first, second = row(out, "aaaaaaaa"), row(out, "bbbbbbbb")
    assert "1:3" in first and "██░░░░░░░░░░  20%" in first and "1:02:05" in first
    assert "3:5" in second and "█████████░░░  75%" in second
    assert second.lstrip().startswith("›") and not first.lstrip().startswith("›")
    assert first.split()[-1] == "running"


def test_long_paths_keep_their_end_and_the_other_columns_fit() -> None:
    deep = "/srv/plotting/very/deep/mount/points/of/this/machine"
    jobs = [job("aa" * 32, f"{deep}/tmp/00", 2, 1, progress=0.5, eta_s=60)]
    jobs[0].dst_dir = f"{deep}/dst/00"
    dirs = [plotter_pb2.Dir(path=f"{deep}/tmp/00", role=plotter_pb2.DIR_ROLE_TMP, total_bytes=GIB, free_bytes=GIB)]
    out = text(Screen(NOW, plotters=[PlotterSnap("plotter-01", "h:1", OK, jobs, dirs)]))
    first = row(out, "aaaaaaaa")
    assert " …ints/of/this/machine/tmp/00 " in first and " …ints/of/this/machine/dst/00 " in first
    assert "2:1" in first and "50%" in first and "1:00" in first and first.rstrip().endswith("running")
    assert max(len(line) for line in out.splitlines()) <= 160
    hist, dir_row = (line for line in out.splitlines() if line.startswith("…"))
    assert hist.startswith("…g/very/deep/mount/points/of/this/machine/tmp/00 ") and "■" in hist
    assert dir_row.startswith("…g/very/deep/mount/points/of/this/machine/tmp/00 ") and "tmp" in dir_row.split()


def test_phase_histogram_per_tmp_dir_and_in_all() -> None:
    jobs = [
        job("a1" * 32, "/mnt/tmp/00", 1),
        job("a2" * 32, "/mnt/tmp/00", 1),
        job("a3" * 32, "/mnt/tmp/00", 3),
        job("b1" * 32, "/mnt/tmp/01", 2),
        job("b2" * 32, "/mnt/tmp/01", None),
    ]
    out = text(Screen(NOW, plotters=[PlotterSnap("plotter-01", "h:1", OK, jobs)]))
    header = row(out, "phase 1")
    assert header.split() == ["tmp", "phase", "1", "phase", "2", "phase", "3", "phase", "4", "unknown"]
    # each cell: a bar scaled to the largest count (2) and the count
    assert row(out, "/mnt/tmp/00", start=True).split()[:9] == [
        "/mnt/tmp/00",
        "■■■■■■■■",
        "2",
        "·",
        "0",
        "■■■■",
        "1",
        "·",
        "0",
    ]
    cells = row(out, "/mnt/tmp/01", start=True).split()
    assert cells[1:5] == ["·", "0", "■■■■", "1"] and cells[-2:] == ["■■■■", "1"]
    assert row(out, "all", start=True).split()[1:5] == ["■■■■■■■■", "2", "■■■■", "1"]


def test_dir_and_drive_bars_count_used_and_reserved_space() -> None:
    dirs = [
        plotter_pb2.Dir(path="/mnt/tmp/00", role=plotter_pb2.DIR_ROLE_TMP, total_bytes=100 * GIB, free_bytes=40 * GIB),
        plotter_pb2.Dir(path="/mnt/gone", role=plotter_pb2.DIR_ROLE_DST, error="missing: /mnt/gone"),
    ]
    drives = [
        farmer_pb2.Drive(
            path="/mnt/farm/d0",
            total_bytes=1000 * GIB,
            free_bytes=500 * GIB,
            reserved_bytes=250 * GIB,
            plot_count=5,
            writers=1,
            state=farmer_pb2.DRIVE_STATE_OK,
        ),
        farmer_pb2.Drive(path="/mnt/farm/d1", state=farmer_pb2.DRIVE_STATE_MISSING, error="not mounted"),
    ]
    res = farmer_pb2.Reservation(
        id="r1",
        plot_name="plot-k32-x.plot",
        size_bytes=101 * GIB,
        requester="plotter-01",
        drive_path="/mnt/farm/d0",
        expire_time=to_timestamp(NOW + 90),
    )
    out = text(
        Screen(
            NOW,
            plotters=[PlotterSnap("plotter-01", "h:1", OK, dirs=dirs)],
            farmers=[FarmerSnap("farmer-01", "h:2", OK, drives, [res])],
        )
    )
    assert "████████████░░░░░░░░  60%" in row(out, "/mnt/tmp/00") and "40.0 GiB" in row(out, "/mnt/tmp/00")
    assert "missing: /mnt/gone" in row(out, "/mnt/gone")
    d0 = row(out, "/mnt/farm/d0", start=True)
    assert "███████████████░░░░░  75%" in d0 and "250.0 GiB" in d0 and d0.split()[-3:] == ["5", "1", "ok"]
    assert "missing: not mounted" in row(out, "/mnt/farm/d1")
    assert "farmer-01 (h:2)  2 drives, 1 reservations" in out
    assert "reserved 101.0 GiB on /mnt/farm/d0 for plotter-01 (lease 90 s): plot-k32-x.plot" in out


def test_unreachable_rows_say_since_when_and_hide_stale_data() -> None:
    down = Reach(seen=True, down_since=NOW - 65, error="unreachable: connection refused")
    stale = [job("cc" * 32, "/mnt/tmp/00", 2)]
    out = text(
        Screen(
            NOW,
            plotters=[PlotterSnap("plotter-01", "h:1", down, stale), PlotterSnap("plotter-02", "h:3", Reach())],
            farmers=[FarmerSnap("farmer-01", "h:2", Reach(down_since=NOW - 3, error="no answer before the deadline"))],
        )
    )
    since = clock_text(NOW - 65)
    assert since == "15:05:35"
    assert "[1] plotter-01 (h:1)  UNREACHABLE since 15:05:35 (for 1:05): unreachable: connection refused" in out
    assert "cccccccc" not in out and "phases" not in out
    assert "[2] plotter-02 (h:3)  waiting for a first answer" in out
    assert "farmer-01 (h:2)  UNREACHABLE since 15:06:37 (for 0:03): no answer before the deadline" in out


def test_scheduler_and_archive_lines_only_when_the_agent_answers_them() -> None:
    plain = text(Screen(NOW, plotters=[PlotterSnap("plotter-01", "h:1", OK)]))
    assert "scheduler:" not in plain and "archive:" not in plain
    sched = plotter_pb2.GetSchedulerStatusResponse(
        state=plotter_pb2.SCHEDULER_STATE_PAUSED, reason="global_max_jobs (8) reached"
    )
    active = plotter_pb2.Transfer(
        plot_name="plot-k32-a.plot",
        farmer="farmer-01",
        drive_path="/mnt/farm/d0",
        size_bytes=100 * GIB,
        transferred_bytes=50 * GIB,
        rate_bytes_per_s=200 << 20,
    )
    failed = plotter_pb2.Transfer(
        plot_name="plot-k32-b.plot", outcome=plotter_pb2.TRANSFER_OUTCOME_FAILED, error="rsync exit 12"
    )
    arch = plotter_pb2.GetArchiveStatusResponse(
        state=plotter_pb2.ARCHIVER_STATE_RUNNING, reason="", active=[active], recent=[failed]
    )
    out = text(Screen(NOW, plotters=[PlotterSnap("plotter-01", "h:1", OK, scheduler=sched, archive=arch)]))
    assert "scheduler: paused: global_max_jobs (8) reached" in out
    assert "archive: running" in out
    assert "→ ██████░░░░░░  50% 50.0 GiB/100.0 GiB 200.0 MiB/s eta -  plot-k32-a.plot  → farmer-01:/mnt/farm/d0" in out
    assert "last archive error ?: plot-k32-b.plot: rsync exit 12" in out
    # a state this CLI's stubs do not know (a newer agent) shows as its number, not a crash
    newer = plotter_pb2.GetSchedulerStatusResponse(reason="r")
    newer.state = 9  # type: ignore[assignment]
    assert "scheduler: 9: r" in text(Screen(NOW, plotters=[PlotterSnap("p", "h:1", OK, scheduler=newer)]))


def test_prompt_status_and_log_pane_come_first() -> None:
    out = text(
        Screen(
            NOW,
            plotters=[PlotterSnap("plotter-01", "h:1", OK, [job("aa" * 32, "/t", 1)])],
            prompt="pause the scheduler of plotter-01? y/n",
            log=("aa" * 32, ["Starting phase 1/4", "Computing table 1"]),
        )
    )
    lines = out.splitlines()
    assert lines[2] == "pause the scheduler of plotter-01? y/n"
    assert lines[3] == f"log: {'aa' * 32}" and lines[4:6] == ["Starting phase 1/4", "Computing table 1"]
    assert lines.index(f"log: {'aa' * 32}") < next(i for i, line in enumerate(lines) if "plotter-01 (h:1)" in line)


def test_keys_of_decodes_arrows_and_skips_other_escapes() -> None:
    assert list(keys_of("q\x1b[Ab1\x1bOB\x1b[5~p")) == ["q", "up", "b", "1", "down", "p"]


def test_a_busy_plotter_is_cut_to_its_share_of_the_screen_around_the_selected_job() -> None:
    jobs = [job(f"{i:02x}" * 32, f"/mnt/tmp/{i % 12:02d}", 1 + i % 4) for i in range(30)]
    dirs = [
        plotter_pb2.Dir(path=f"/mnt/tmp/{i:02d}", role=plotter_pb2.DIR_ROLE_TMP, total_bytes=GIB) for i in range(20)
    ]
    farmer = FarmerSnap("farmer-01", "h:2", OK, [farmer_pb2.Drive(path="/mnt/farm/d0", total_bytes=GIB)])
    snap = PlotterSnap("plotter-01", "h:1", OK, jobs, dirs)
    out = text(Screen(NOW, plotters=[snap], farmers=[farmer], selected_job=25, height=40))
    job_rows = [line for line in out.splitlines() if "%" in line and "chia" in line]
    assert len(job_rows) == 10  # 40 // 4
    assert any(line.lstrip().startswith("›") and "19191919" in line for line in job_rows)  # job 25 (0x19) in view
    assert "… 20 more jobs (←→ scrolls)" in out
    assert "… 6 more tmp dirs" in out and "… 14 more dirs" in out  # 40 // 6 = 6 rows each
    assert row(out, "all", start=True).split()[2::2] == ["8", "8", "7", "7", "0"]  # every job still counted
    assert "farmer-01 (h:2)" in out and "/mnt/farm/d0" in out
    assert len(out.splitlines()) <= 40
    # no height given (a test, a pipe): nothing is cut
    assert "more jobs" not in text(Screen(NOW, plotters=[snap]))


def test_the_selected_jobs_dirs_stay_in_view_when_lists_are_cut() -> None:
    jobs = [job(f"{i:02x}" * 32, f"/mnt/tmp/{i:02d}", 1) for i in range(20)]
    jobs[17].dst_dir = "/mnt/dst/17"
    dirs = [
        plotter_pb2.Dir(path=f"/mnt/tmp/{i:02d}", role=plotter_pb2.DIR_ROLE_TMP, total_bytes=GIB) for i in range(20)
    ]
    dirs.append(plotter_pb2.Dir(path="/mnt/dst/17", role=plotter_pb2.DIR_ROLE_DST, total_bytes=GIB))
    out = text(Screen(NOW, plotters=[PlotterSnap("plotter-01", "h:1", OK, jobs, dirs)], selected_job=17, height=40))
    starts = [line.split()[0] for line in out.splitlines() if line.startswith("/mnt/")]
    assert starts.count("/mnt/tmp/17") == 2 and "/mnt/dst/17" in starts  # in the histogram and in the dirs
    assert "/mnt/tmp/16" not in starts  # cut (every tmp dir has one job: the first ones are kept after it)


def test_a_reason_that_names_the_state_is_not_preceded_by_it_again() -> None:
    sched = plotter_pb2.GetSchedulerStatusResponse(reason="paused: by plotboss-cli")
    sched.state = plotter_pb2.SCHEDULER_STATE_PAUSED
    out = text(Screen(NOW, plotters=[PlotterSnap("plotter-01", "h:1", OK, scheduler=sched)]))
    assert "scheduler: paused: by plotboss-cli" in out and "paused: paused" not in out


def test_archive_lines_show_transfers_waiting_unreachable_farmers_and_the_last_error() -> None:
    """From everything GetArchiveStatus carries: the in-flight transfer with bar, bytes, rate and ETA; plots waiting
    per dst dir; a farmer down since when and its next try; the newest failure with its next step."""
    from plotter_agent.archive_msgs import archive_status_message, disabled_status_message
    from tests.archfake import sample_status

    now = NOW
    status = archive_status_message(_shifted(sample_status(), now))
    out = text(Screen(now, plotters=[PlotterSnap("plotter-01", "h:1", OK, archive=status)]), width=200)
    lines = {line.split(":", 1)[0].strip(): line for line in out.splitlines()}
    assert (
        "archive: running: max_concurrent_transfers (1) reached  (1/1 in flight, 3 waiting (40.1 MiB), 1 archived)"
        in out
    )
    (flight,) = [line for line in out.splitlines() if line.startswith("  → ")]
    assert flight == (
        "  → █████░░░░░░░  40% 5.3 MiB/13.4 MiB 1.0 MiB/s eta 0:08  "
        "plot-k18-2026-12-07-20-00-a1a1a1a1….plot /mnt/dst/00 → farmer-01:/mnt/farm/d1"
    )
    assert lines["waiting"] == "  waiting: /mnt/dst/00 2 (26.7 MiB) [busy], /mnt/dst/01 1 (13.4 MiB)"
    assert (
        "  farmer farmer-02 (127.0.0.1:8472) UNREACHABLE since 15:04:40 (for 2:00), next try 15:07:20: "
        "unreachable: connection refused"
    ) in out
    assert "farmer-01 (127.0.0.1:8471)" not in out  # a reachable farmer takes no line
    assert (
        "  last archive error 15:05:00: plot-k18-2026-12-07-20-05-b2b2b2b2….plot: rsync exit 10: error in socket IO "
        "(code 10) at clientserver.c(139) → retry in 20 s on another farmer"
    ) in out
    disabled = text(Screen(now, plotters=[PlotterSnap("plotter-01", "h:1", OK, archive=disabled_status_message())]))
    (line,) = [x for x in disabled.splitlines() if x.startswith("archive:")]
    assert line == "archive: disabled: no farmers configured (archiving.farmers), plots stay in the dst dirs"


def _shifted(st: ArchiveStatus, now: float) -> ArchiveStatus:
    """The sample status with its times moved so that its NOW is ``now``."""
    from tests.archfake import NOW as SAMPLE_NOW

    d = now - SAMPLE_NOW

    def move(t: float | None) -> float | None:
        return None if t is None else t + d

    def tv(x: TransferView) -> TransferView:
        return dataclasses.replace(x, start_time=x.start_time + d, end_time=move(x.end_time))

    return dataclasses.replace(
        st,
        active=tuple(tv(x) for x in st.active),
        recent=tuple(tv(x) for x in st.recent),
        farmers=tuple(
            dataclasses.replace(f, unreachable_since=move(f.unreachable_since), next_try_time=move(f.next_try_time))
            for f in st.farmers
        ),
        pass_time=move(st.pass_time),
    )
