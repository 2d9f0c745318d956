"""The archiver's record and its config: push logs marked handled, deleting a source only while it is the same file,
the pause file, and the `archiving` section's checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from plotboss.config import parse_config
from plotboss.errors import ConfigError
from plotter_agent.archive.records import (
    delete_source,
    load_paused,
    mark_log,
    pending_logs,
    read_log,
    rsync_processes,
    save_paused,
    source_id,
    stderr_detail,
)
from plotter_agent.config import PlotterConfig

PLOT = "plot-k18-2021-05-05-12-34-" + "ab" * 32 + ".plot"
RID = "0123456789abcdef" * 2


def test_pending_logs_are_our_unhandled_logs_only(tmp_path: Path) -> None:
    log = tmp_path / f"{PLOT}.{RID}.rsync.log"
    log.write_text("2026/12/01 20:40:43 [12877] sent 4195499 bytes  received 44 bytes  total size 4194304\n")
    (tmp_path / f"{PLOT}.{RID}.rsync.log.12.done").write_text("")
    (tmp_path / "other.log").write_text("")
    os.symlink(log, tmp_path / f"{PLOT}.{'f' * 32}.rsync.log")  # a symlink is never read as a log
    assert [(p.plot_name, p.reservation_id) for p in pending_logs(str(tmp_path))] == [(PLOT, RID)]
    assert "total size" in read_log(str(log))
    marked = mark_log(str(log), 12877, "done")
    assert marked.endswith(".rsync.log.12877.done") and not log.exists()
    assert not list(pending_logs(str(tmp_path)))
    assert mark_log(str(log), 1, "failed") == ""  # already handled: nothing to do
    assert list(pending_logs(str(tmp_path / "missing"))) == []


def test_delete_source_only_while_it_is_the_confirmed_file(tmp_path: Path) -> None:
    p = tmp_path / PLOT
    p.write_bytes(b"x" * 100)
    sid = source_id(str(p))
    assert sid is not None and sid.size == 100
    assert "the farmer confirmed 99" in delete_source(str(p), 99, sid) and p.exists()
    os.utime(p, (1.0, 1.0))
    assert "replaced" in delete_source(str(p), 100, sid) and p.exists()  # modified since the push began
    assert delete_source(str(p), 100, source_id(str(p))) == "" and not p.exists()
    assert delete_source(str(p), 100, None) == ""  # already gone
    os.symlink(tmp_path / "elsewhere", p)
    assert "not a regular file" in delete_source(str(p), 100, None) and os.path.islink(p)


def test_pause_file(tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    assert load_paused(f) is False
    save_paused(f, True, 5.0)
    assert load_paused(f) is True
    save_paused(f, False, 6.0)
    assert load_paused(f) is False
    f.write_text("{nonsense")
    with pytest.raises(ConfigError, match="not a plotboss archiver state file"):
        load_paused(f)


def test_stderr_detail() -> None:
    assert stderr_detail(5, None, ["", "@ERROR: auth failed on module plots", "rsync error: ... (code 5)"]) == (
        "rsync exit 5: @ERROR: auth failed on module plots | rsync error: ... (code 5)"
    )
    assert stderr_detail(None, 9, []) == "rsync killed by signal 9"


def _cfg(tmp_path: Path, **archiving: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "agent": {"name": "plotter-01"},
        "logging": {"plots": str(tmp_path), "transfers": str(tmp_path / "t")},
        "directories": {"tmp": [str(tmp_path)]},
        "archiving": archiving,
    }


def test_archiving_config(tmp_path: Path) -> None:
    ok = parse_config(
        _cfg(
            tmp_path,
            farmers=[{"address": "farmer-01:8471", "name": "f1"}, {"address": "farmer-02:8471"}],
            priority=["farmer-02:8471", "f1"],
        ),
        PlotterConfig,
        "plotter.yaml",
    )
    assert [f.key for f in ok.archiving.farmers] == ["f1", "farmer-02:8471"]
    assert ok.archiving.max_readers_per_dir == 1 and ok.archiving.rsync.io_timeout_s == 60
    cases: list[tuple[dict[str, Any], str]] = [
        ({"farmers": [{"address": "a:1", "name": "x"}, {"address": "b:1", "name": "x"}]}, "name given twice: x"),
        ({"farmers": [{"address": "a:1"}, {"address": "a:1", "name": "y"}]}, "address given twice: a:1"),
        ({"farmers": [{"address": "a:1"}], "priority": ["nope"]}, "priority: nope: not the name or address"),
        ({"farmers": [{"address": "not an address"}]}, "archiving.farmers[0].address"),
        ({"retry_base_s": 10, "retry_cap_s": 5}, "retry_cap_s: must be at least retry_base_s"),
        ({"max_readers_per_dir": 0}, "archiving.max_readers_per_dir"),
    ]
    for archiving, message in cases:
        with pytest.raises(ConfigError, match=r"plotter\.yaml: ") as exc:
            parse_config(_cfg(tmp_path, **archiving), PlotterConfig, "plotter.yaml")
        assert message in str(exc.value), (archiving, str(exc.value))
    data = _cfg(tmp_path, farmers=[{"address": "a:1"}])
    del data["logging"]["transfers"]
    with pytest.raises(ConfigError, match=r"logging\.transfers: required when archiving\.farmers is set"):
        parse_config(data, PlotterConfig, "plotter.yaml")


def test_rsync_processes_are_our_users_only(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    for pid, comm, argv in ((10, "rsync", ["rsync", "a", "b"]), (11, "bash", ["bash"]), (12, "rsync", [])):
        d = proc / str(pid)
        d.mkdir(parents=True)
        (d / "comm").write_text(comm + "\n")
        (d / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
    mine = os.geteuid()
    assert rsync_processes(str(proc), uid=mine) == [(10, ("rsync", "a", "b"))]  # a zombie (no cmdline) is not listed
    assert rsync_processes(str(proc), uid=mine + 1) == []  # another user's rsync is never ours
