"""`plotboss-cli analyze` over local files (the real CLI as a subprocess) and over a real agent with --since/--by."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

from plotboss.v1 import plotter_pb2, plotter_pb2_grpc
from testbed.agents import plotter_config, start_agent, write_yaml
from testbed.children import stop_process
from tests.conftest import SAMPLES

CLI = Path(sys.executable).parent / "plotboss-cli"
PLOT_LOGS = sorted(SAMPLES.glob("*.plot.log"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False
    )


def by_key(groups: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {(g["plotter"], g["mode"], g["k"], g["tmp_dir"]): g for g in groups}


def test_every_format_from_a_dir_with_json(tmp_path: Path) -> None:
    for p in PLOT_LOGS:
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "notes.txt").write_text("not a plot log\n")
    r = run("analyze", "--dir", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    assert f"skipped {tmp_path / 'notes.txt'}: not a log of any known plotter" in r.stderr
    data = json.loads(r.stdout)
    assert data["logs"] == len(PLOT_LOGS) and data["incomplete_logs"] == 1
    assert data["skipped"] == [
        {
            "path": str(tmp_path / "notes.txt"),
            "reason": "not a log of any known plotter (chia, chiapos, madMAx, bladebit)",
        }
    ]
    groups = by_key(data["groups"])
    assert set(groups) == {
        ("bladebit", "cuda", 32, None),
        ("bladebit", "disk", 32, None),
        ("bladebit", "ram", 32, None),
        ("chia", None, 18, None),
        ("chia", None, 22, None),
        ("chia", None, 25, None),
        ("chia", None, 32, None),
        ("madmax", None, 33, None),
    }
    k25 = groups[("chia", None, 25, None)]
    assert k25["count"] == 2
    assert k25["total"] == {"count": 2, "mean_s": 103.965, "median_s": 103.965, "min_s": 100.795, "max_s": 107.134}
    assert k25["phases"][0] == {"major": 1, "count": 2, "mean_s": 55.933, "median_s": 55.933, "min_s": 53.902,
                                "max_s": 57.964}  # fmt: skip


def test_by_since_and_csv_over_named_files() -> None:
    chia = [str(p) for p in PLOT_LOGS if p.name.startswith(("chia-", "chiapos-"))]
    r = run("analyze", *chia, "--by", "k", "--by", "tmp", "--since", "2026-11-25T17:08:20Z", "--csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    # 1795626500: k18 (…420) and k22 (…445, …486) started before it, the two finished k25 runs (…520, …649) after
    assert {(row["k"], row["tmp_dir"], row["phase"], row["count"]) for row in rows} == {
        ("25", "/mnt/tmp/00", phase, "2") for phase in ("1", "2", "3", "4", "total")
    }
    assert all(row["plotter"] == "" and row["mode"] == "" and row["source"] == "local" for row in rows)
    text = run("analyze", *chia, "--by", "k,tmp")
    assert text.returncode == 0, text.stderr
    assert "xfs/tmp" in text.stdout and "median" in text.stdout


def test_bad_inputs_exit_2_naming_them(tmp_path: Path) -> None:
    for args, named in (
        (("analyze", str(tmp_path / "missing.log")), "missing.log: no such file"),
        (("analyze", "--dir", str(tmp_path / "nodir")), "nodir: cannot list"),
        (("analyze", str(PLOT_LOGS[0]), "--since", "last tuesday"), "'last tuesday'"),
        (("analyze", str(PLOT_LOGS[0]), "--by", "colour"), "'colour'"),
        (("analyze", str(tmp_path)), "not a file (use --dir"),
    ):
        r = run(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert named in r.stderr and "Traceback" not in r.stderr
    garbled = tmp_path / "garbled.log"
    garbled.write_bytes(b"\x00\xff" * 1000)
    r = run("analyze", str(garbled))
    assert r.returncode == 2 and "none of the 1 files is a plot log" in r.stderr, r.stderr
    # one garbled log among good ones is skipped, not fatal
    r = run("analyze", str(garbled), str(PLOT_LOGS[0]), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["skipped"][0]["path"] == str(garbled)


def test_agent_side_since_and_by(tmp_path: Path) -> None:
    cfg = plotter_config(tmp_path)
    logs = Path(cfg["logging"]["plots"])
    for p in PLOT_LOGS:
        shutil.copy(p, logs / p.name)
    agent, port = start_agent("plotboss-plotter", write_yaml(tmp_path / "plotter.yaml", cfg))
    try:
        deadline = time.monotonic() + 30
        while True:
            r = run(
                "--plotter", f"127.0.0.1:{port}", "analyze", "--json", "--by", "k", "--since", "2026-11-25T17:08:20Z"
            )
            assert r.returncode == 0, r.stderr
            (answer,) = json.loads(r.stdout)["plotters"]
            if answer["groups"] or time.monotonic() > deadline:
                break
            time.sleep(0.3)  # the agent parses its old logs in the background after start-up
        assert answer["ok"] is True
        assert [(g["plotter"], g["k"], g["count"]) for g in answer["groups"]] == [(None, 25, 2)]
        assert answer["incomplete_logs"] == 1
        assert answer["groups"][0]["total"]["median_s"] == 103.965
        r = run("--plotter", f"127.0.0.1:{port}", "analyze", "--by", "plotter", "--csv")
        assert r.returncode == 0, r.stderr
        totals = {
            row["plotter"]: row["count"] for row in csv.DictReader(io.StringIO(r.stdout)) if row["phase"] == "total"
        }
        assert totals == {"bladebit": "3", "chia": "6", "madmax": "1"}
        assert {row["source"] for row in csv.DictReader(io.StringIO(r.stdout))} == {f"127.0.0.1:{port}"}
    finally:
        stop_process(agent)


class OldAgent(plotter_pb2_grpc.PlotterServiceServicer):
    """An agent from before --since/--by: it answers AnalyzeLogs without the `by` it grouped by."""

    def AnalyzeLogs(self, request: Any, context: Any) -> plotter_pb2.AnalyzeLogsResponse:
        return plotter_pb2.AnalyzeLogsResponse(
            groups=[plotter_pb2.LogGroupStats(plotter=plotter_pb2.PLOTTER_KIND_CHIA, k=32, count=3)]
        )


def test_an_agent_that_ignores_since_and_by_is_a_failed_row() -> None:
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    servicer = OldAgent()  # type: ignore[abstract]  # the stubs mark every RPC abstract; the rest are unused
    plotter_pb2_grpc.add_PlotterServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        address = f"127.0.0.1:{port}"
        r = run("--plotter", address, "analyze", "--json")
        assert r.returncode == 0, r.stderr  # no filter it could have ignored: its groups are shown
        assert [(g["plotter"], g["k"], g["count"]) for g in json.loads(r.stdout)["plotters"][0]["groups"]] == [
            ("chia", 32, 3)
        ]
        for extra in (("--by", "k"), ("--since", "7d")):
            r = run("--plotter", address, "analyze", "--json", *extra)
            assert r.returncode == 1, (extra, r.stderr)
            (row,) = json.loads(r.stdout)["plotters"]
            assert row["error"] == "this agent predates --since/--by" and row["groups"] == []
    finally:
        server.stop(0)
