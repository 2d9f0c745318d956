"""plotboss-farmer: the farmer agent's entry point."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from farmer_agent.app import build
from farmer_agent.config import FarmerConfig
from plotboss.agent import AgentSpec, run_agent


def main(argv: Sequence[str] | None = None) -> int:
    return run_agent(AgentSpec(prog="plotboss-farmer", config_model=FarmerConfig, build=build), argv)


if __name__ == "__main__":
    sys.exit(main())
