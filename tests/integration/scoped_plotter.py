"""plotboss-plotter for tests on a shared machine: it sees only the plot jobs whose command line names a test's own
dir (``PLOTBOSS_TEST_SCOPE``). Other tests and other people run plot jobs on this machine too, and the scheduler
counts every job it sees (as it must in production); scoping the process table keeps a test's starts its own.
Everything else is the production agent: real process table, real launcher, real gRPC."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from plotboss.agent import AgentSpec, run_agent
from plotboss.config import StrictModel
from plotter_agent.app import PlotterAgent
from plotter_agent.cmdline import is_candidate
from plotter_agent.config import PlotterConfig
from plotter_agent.proctable import SystemProcessTable


def main(argv: Sequence[str] | None = None) -> int:
    scope = os.environ["PLOTBOSS_TEST_SCOPE"]

    def candidate(args: Sequence[str]) -> bool:
        return is_candidate(args) and any(scope in a for a in args)

    def build(config: StrictModel, config_path: Path) -> PlotterAgent:
        assert isinstance(config, PlotterConfig)
        return PlotterAgent(config, config_path, table=SystemProcessTable(candidate=candidate))

    return run_agent(AgentSpec(prog="plotboss-plotter", config_model=PlotterConfig, build=build), argv)


def write_entry_script(path: Path) -> Path:
    """An executable that runs :func:`main` with this interpreter (``start_agent`` takes a script path)."""
    repo = Path(__file__).resolve().parents[2]
    path.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(repo)!r})\n"
        "from tests.integration.scoped_plotter import main\nsys.exit(main())\n"
    )
    path.chmod(0o755)
    return path
