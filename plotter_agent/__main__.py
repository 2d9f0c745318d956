"""plotboss-plotter: the plotter agent's entry point."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from plotboss.agent import AgentSpec, run_agent
from plotter_agent.app import build
from plotter_agent.config import PlotterConfig


def main(argv: Sequence[str] | None = None) -> int:
    return run_agent(AgentSpec(prog="plotboss-plotter", config_model=PlotterConfig, build=build), argv)


if __name__ == "__main__":
    sys.exit(main())
