"""The ETA on the real sample logs replayed on a virtual clock (tests/unit/eta_replay.py); ``pytest -s`` prints the
figures (also ``python -m tests.unit.eta_replay``)."""

from __future__ import annotations

import pytest

from plotter_agent.logparse import LogParser, parse_file
from plotter_agent.progress import DEFAULT_SHARES, EtaModel
from tests.unit.eta_replay import (
    SHARES_SOURCES,
    figures,
    finished_logs,
    replay,
    report,
    shares_of,
    stamp,
    steps_table,
)
from tests.unit.logsamples import K25, SAMPLES


def test_the_virtual_clock_follows_the_logs_own_timings() -> None:
    for path in finished_logs():
        info = parse_file(path)
        lines = stamp(path)
        times = [s.t for s in lines]
        assert times == sorted(times), path.name
        r = replay(path, EtaModel())
        assert info.total_time is not None
        assert r.total_s == pytest.approx(info.total_time, rel=0.001), path.name  # the plotter's own total
    # Table by table: k25's table 3 starts when table 2's 6.886 s after F1's 0.486 s are over.
    at = {s.line.decode(errors="replace").strip(): s.t for s in stamp(K25)}
    assert at["Computing table 3"] == pytest.approx(0.486 + 6.886)
    assert at["Computing table 7"] == pytest.approx(0.486 + 6.886 + 9.753 + 10.636 + 10.083 + 8.749)


def test_default_shares_are_those_of_the_real_k32_sample_logs() -> None:
    for key, name in SHARES_SOURCES.items():
        assert shares_of(SAMPLES / name) == pytest.approx(dict(DEFAULT_SHARES[key]), abs=2e-5), (
            f"DEFAULT_SHARES[{key!r}] differs from {name}: regenerate with `python -m tests.unit.eta_replay --shares`"
        )


def test_eta_with_two_finished_logs_of_history_stays_within_10_percent() -> None:
    print("\n" + report() + "\n\n" + steps_table("chia-2.7.5-k25.plot.log") + "\n")
    rows = figures(history=2)
    assert len(rows) == 9  # every finished sample log, every format
    for row in rows:
        assert row.unknown == 0, row
        assert row.worst <= 0.10, row  # the figure: max |error| <= 10% of the job's time after 10% of it
        # ... and no flat ETA that jumps at the next step: the predicted end moves by <= 2% between two points
        assert row.jump <= 0.02, row
    # Learning only from the other run (k25: the other k25 job; k22: the other k22 job) is what a fleet sees first.
    others = figures(history=2, others_only=True)
    assert {r.name for r in others} == {
        "chia-2.7.5-k25.plot.log",
        "chia-2.7.5-k25-minimal-config.plot.log",
        "chiapos-2.0.12-k22.plot.log",
        "chiapos-2.0.12-k22-final-on-other-fs.plot.log",
    }
    for row in others:
        assert row.worst <= 0.05 and row.jump <= 0.02, row


def test_eta_without_history_is_known_for_every_format_after_10_percent() -> None:
    rows = {r.name: r for r in figures(history=0)}
    for row in rows.values():
        assert row.unknown == 0, row  # bladebit logs state no start: the process's start stands in
    # The logs the default shares come from replay exactly (up to chiapos's untimed table-7 sort in phase 2).
    for name in SHARES_SOURCES.values():
        assert rows[name].worst <= 0.02, rows[name]


@pytest.mark.parametrize("learn", [False, True], ids=["no-history", "history"])
def test_progress_never_goes_back_on_the_virtual_clock(learn: bool) -> None:
    for path in finished_logs():
        model = EtaModel.learn([parse_file(path)] if learn else [])
        info0 = parse_file(path)
        epoch = info0.start_time if info0.start_time is not None else 1.0e9
        parser = LogParser()
        values = []
        lines = stamp(path)
        for s, nxt in zip(lines, [*lines[1:], None], strict=True):
            parser.feed(s.line)
            for t in (s.t, s.t if nxt is None else (s.t + nxt.t) / 2):  # at the line and halfway to the next one
                values.append(model.progress(parser.info, epoch + t, started=epoch))
        assert values == sorted(values), path.name
        assert values[-1] == 1.0, path.name
