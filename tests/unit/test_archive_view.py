"""How `plotboss-cli archive` and the archive line of `status` show GetArchiveStatus (pure, from built messages)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest

from cli.archive_view import archive_json, archive_line, archive_report, short_plot
from cli.render import Grid
from plotter_agent.archive_msgs import archive_status_message, disabled_status_message
from tests.archfake import NOW, PLOT_A, PLOT_B, sample_status


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_short_plot_keeps_date_and_id_prefix() -> None:
    assert short_plot(PLOT_A) == "plot-k18-2026-12-07-20-00-a1a1a1a1….plot"
    assert short_plot("plot-k32-a.plot") == "plot-k32-a.plot"  # not a plot name with an id: as is


def test_status_line_running_paused_idle_disabled() -> None:
    msg = archive_status_message(sample_status())
    assert archive_line(msg) == (
        "archive: running, 1 in flight (40%), 3 plots waiting (40.1 MiB), last error 07:58:20 "
        "plot-k18-2026-12-07-20-05-b2b2b2b2….plot: rsync exit 10: error in socket IO (code 10) at clientserver.c(139)"
    )
    idle = dataclasses.replace(sample_status("paused"), active=(), recent=(), reason="paused")
    assert (
        archive_line(archive_status_message(idle))
        == "archive: paused, none in flight: paused, 3 plots waiting (40.1 MiB)"
    )
    assert archive_line(disabled_status_message()) == (
        "archive: disabled: no farmers configured (archiving.farmers), plots stay in the dst dirs"
    )


def test_json_has_snake_case_keys_sizes_in_bytes_and_seconds() -> None:
    data = archive_json(archive_status_message(sample_status()))
    assert list(data) == [
        "state",
        "reason",
        "max_concurrent_transfers",
        "pass_time",
        "archived_plots",
        "archived_bytes",
        "plots_waiting",
        "bytes_waiting",
        "active",
        "recent",
        "dirs",
        "farmers",
    ]
    assert (data["state"], data["plots_waiting"], data["bytes_waiting"]) == ("running", 3, 42_000_000)
    assert data["pass_time"] == pytest.approx(NOW - 1)
    (a,) = data["active"]
    assert a["plot_name"] == PLOT_A and a["progress"] == 0.4 and a["eta_s"] == 8.0 and a["end_time"] is None
    assert a["outcome"] == "in_progress" and a["error"] is None and a["rate_bytes_per_s"] == 1_048_576
    failed, done = data["recent"]
    assert failed["plot_name"] == PLOT_B and failed["outcome"] == "failed" and failed["eta_s"] is None
    assert failed["next_step"] == "retry in 20 s on another farmer" and failed["error"].startswith("rsync exit 10")
    assert done["outcome"] == "done" and done["recovered"] is True
    assert data["dirs"][0] == {
        "path": "/mnt/dst/00",
        "plots_waiting": 2,
        "bytes_waiting": 28_000_000,
        "score": 1.5,
        "readers": 1,
        "skipped": "busy",
    }
    up, down = data["farmers"]
    assert up["unreachable_since_time"] is None and up["room_bytes"] == 140_000_000 and up["error"] is None
    assert down["reachable"] is False and down["unreachable_since_time"] == pytest.approx(NOW - 120)
    assert down["next_try_time"] == pytest.approx(NOW + 40)
    disabled = archive_json(disabled_status_message())
    assert disabled["state"] == "disabled" and disabled["active"] == [] and disabled["farmers"] == []


def test_report_has_progress_bars_waiting_farmers_and_results() -> None:
    parts = archive_report(archive_status_message(sample_status()), NOW)
    text = "\n".join(p if isinstance(p, str) else p.plain() for p in parts)
    titles = [p.title for p in parts if isinstance(p, Grid)]
    assert titles == ["in flight", "waiting", "farmers", "last results"]
    assert "  state        running: max_concurrent_transfers (1) reached" in text
    assert "  transfers    1 in flight, at most 1 at a time" in text
    assert "  archived     1 plots (13.4 MiB) since the agent started; last pass 2027-01-15 07:59:59" in text
    flight = next(p for p in parts if isinstance(p, Grid) and p.title == "in flight")
    assert flight.rows == [
        (
            "plot-k18-2026-12-07-20-00-a1a1a1a1….plot",
            "/mnt/dst/00",
            "farmer-01:/mnt/farm/d1",
            "████░░░░░░  40%",
            "5.3 MiB",
            "13.4 MiB",
            "1.0 MiB/s",
            "0:08",
        )
    ]
    assert "UNREACHABLE since 07:58:00 (for 2:00), next try 08:00:40: unreachable: connection refused" in text
    assert "rsync exit 10: error in socket IO (code 10) at clientserver.c(139); retry in 20 s on another farmer" in text
    assert "(recovered)" in text and "deleted the source" in text
    # disabled: the state and why, nothing else
    assert archive_report(disabled_status_message(), NOW) == [
        "  state        disabled: no farmers configured (archiving.farmers), plots stay in the dst dirs"
    ]


def test_no_eta_before_a_rate_is_known() -> None:
    """rsync's first progress line has no rate yet and an ETA of 0:00:00: shown as unknown, not as done."""
    st = sample_status()
    early = dataclasses.replace(st.active[0], rate_bytes_per_s=0.0, eta_s=0.0, transferred_bytes=32768)
    msg = archive_status_message(dataclasses.replace(st, active=(early,)))
    assert archive_json(msg)["active"][0]["eta_s"] is None
    flight = next(p for p in archive_report(msg, NOW) if isinstance(p, Grid) and p.title == "in flight")
    assert flight.rows[0][-2:] == ("0 B/s", "-")
