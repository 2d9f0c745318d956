"""The benchmark scripts run end to end at a tiny size and print their verdict lines. Nothing here looks at a timing
(benchmarks are not tests): only that each script sets up, measures, checks its outputs and reports. ~10 s each on a
quiet machine; the plotman ones are skipped where no benchmark has installed plotman yet (a fresh clone, CI)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLOTMAN = REPO / ".bench-venvs" / "plotman" / "bin" / "plotman"
needs_plotman = pytest.mark.skipif(
    not PLOTMAN.exists(), reason=f"plotman 0.5.3 is not installed in {PLOTMAN.parents[1]} (a benchmark installs it)"
)
#: small plot jobs, stopped as soon as they are in phase 1
JOBS = ("--jobs", "1", "--k", "20", "--seconds-in-phase1", "0.1")


def run_bench(script: str, tmp_path: Path, *args: str) -> tuple[str, dict[str, object]]:
    results = tmp_path / "results.json"
    p = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args, "--workdir", str(tmp_path), "--results", str(results)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert not [d for d in tmp_path.iterdir() if d.name.startswith("plotboss-")], "temporary directory left behind"
    data: dict[str, object] = json.loads(results.read_text())
    return p.stdout, data


@pytest.mark.slow
def test_fleet_bench(tmp_path: Path) -> None:
    out, data = run_bench("fleet_bench.py", tmp_path, "--agents", "2", "--runs", "1", *JOBS)
    assert re.search(
        r"^ratio status, 2 agents \(fleet file\) +/ 1 agent: \d+\.\d\d .* target <= 2 (ok|MISSED)$", out, re.M
    )
    assert re.search(r"^ratio status --json, 2 agents +/ 1 agent: ", out, re.M)
    ratios = data["ratios"]
    assert isinstance(ratios, dict)
    assert set(ratios) == {"status, 2 agents (fleet file)", "status --json, 2 agents", "status, --plotter x2"}


@pytest.mark.slow
def test_load_bench(tmp_path: Path) -> None:
    out, data = run_bench(
        "load_bench.py", tmp_path, "--clients", "3", "--seconds", "1", "--idle-s", "0.2", "--lead-s", "4", *JOBS
    )
    assert re.search(r"^processes +\d+ .*\n^in-process +\d+ ", out, re.M)
    assert "errors 0   target 0 ok" in out
    loads = data["loads"]
    assert isinstance(loads, list) and [x["label"] for x in loads] == ["processes", "in-process"]
    assert all(x["calls"] > 0 and x["errors"] == 0 for x in loads)


@pytest.mark.slow
@needs_plotman
def test_analyze_bench(tmp_path: Path) -> None:
    out, data = run_bench("analyze_bench.py", tmp_path, "--logs", "14", "--runs", "1", "--no-installed")
    assert "plots counted: plotman 14, plotboss 14 (of 14 logs)" in out
    assert re.search(r"^ratio analyze LOG\.\.\. +/ plotman: \d\.\d{3} +target <= 0\.2 (ok|MISSED)", out, re.M)
    assert data["counts"] == {"plotman": 14, "plotboss": 14}


@pytest.mark.slow
@needs_plotman
def test_status_bench(tmp_path: Path) -> None:
    args = ("--runs", "1", "--old-logs", "4", "--cpu-window-s", "1", "--warmup-s", "0", "--no-installed", *JOBS)
    out, data = run_bench("status_bench.py", tmp_path, *args)
    assert re.search(r"^status +\d\.\d\d .* <= 0\.5 (ok|MISSED)$", out, re.M)
    assert re.search(r"^agent CPU per poll: [\d.]+ ms +target < 10 ms (ok|MISSED)$", out, re.M)
    assert not data["problems"]
