"""`plotboss-cli simulate` with real agents: the phase times from a plotter agent's AnalyzeLogs (--phases-from) and
the drives of a farmer agent (--farmers), as the agents answer them over gRPC."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testbed.agents import farmer_config, plotter_config, start_agent, write_yaml
from testbed.children import stop_process
from tests.unit.logsamples import SAMPLES

pytestmark = pytest.mark.slow


def test_simulate_over_a_plotters_analyze_logs_and_a_farmers_drives(tmp_path: Path) -> None:
    pcfg = plotter_config(tmp_path / "p", name="plotter-01")
    for log in SAMPLES.glob("chia-2.7.5-k25*.plot.log"):
        shutil.copy(log, tmp_path / "p" / "logs" / log.name)
    pfile = write_yaml(tmp_path / "p" / "plotter.yaml", pcfg)
    ffile = write_yaml(tmp_path / "f" / "farmer.yaml", farmer_config(tmp_path / "f", name="farmer-01"))
    procs = []
    try:
        plotter, pport = start_agent("plotboss-plotter", pfile)
        procs.append(plotter)
        farmer, fport = start_agent("plotboss-farmer", ffile)
        procs.append(farmer)
        # what to simulate: the same dirs, with a plotting section (the agent above only watches)
        what = dict(pcfg, plotting={"type": "chia", "chia": {"k": 25}})
        (tmp_path / "sim.yaml").write_text(yaml.safe_dump(what))
        exe = Path(sys.executable).parent / "plotboss-cli"
        paddr, faddr = f"127.0.0.1:{pport}", f"127.0.0.1:{fport}"
        r = subprocess.run(
            [
                str(exe),
                "--plotter",
                paddr,
                "--farmer",
                faddr,
                "simulate",
                str(tmp_path / "sim.yaml"),
                "--phases-from",
                paddr,
                "--farmers",
                "--days",
                "0.5",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert f"AnalyzeLogs of {paddr}" in data["phase_times"] and "k25" in data["phase_times"]
        assert data["plots_per_day"] > 0 and data["plots_archived"] > 0 and data["violations"] == 0
        # a farmer that cannot be reached: exit 1, named
        stop_process(farmer)
        r = subprocess.run(
            [str(exe), "--timeout", "2", "--farmer", faddr, "simulate", str(tmp_path / "sim.yaml"), "--farmers"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 1 and faddr in r.stderr
    finally:
        for p in procs:
            stop_process(p)
