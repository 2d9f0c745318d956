"""`--timeout` takes a number of seconds a deadline can be: refused otherwise (exit 2, naming the option)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.agents import plotter_config, start_agent, write_yaml
from testbed.children import stop_process

CLI = str(Path(sys.executable).parent / "plotboss-cli")


@pytest.fixture(scope="module")
def plotter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("plotter")
    proc, port = start_agent("plotboss-plotter", write_yaml(root / "plotter.yaml", plotter_config(root)))
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc)


def _status(address: str, timeout: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "--plotter", address, "--timeout", timeout, "status", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("value", ["inf", "nan", "1e308", "-inf", "0", "86401"])
def test_a_timeout_no_deadline_can_be_is_refused(plotter: str, value: str) -> None:
    """Before: inf, nan and 1e308 were accepted and every call then failed at once."""
    run = _status(plotter, value)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Invalid value for '--timeout'" in run.stderr and "from 0.1 to 86400" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("value", ["0.5", "86400"])
def test_a_timeout_from_a_fraction_of_a_second_to_a_day_works(plotter: str, value: str) -> None:
    run = _status(plotter, value)
    assert run.returncode == 0, run.stderr
    assert '"ok": true' in run.stdout
