"""Fixtures for the farmer agent's integration tests: an in-process agent behind a real gRPC server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from farmer_agent.app import FarmerAgent
from farmer_agent.config import FarmerConfig
from farmer_agent.drives import ProbeFn
from plotboss.auth import TokenSet
from plotboss.transport import Server, dial, serve
from plotboss.v1 import farmer_pb2_grpc


@dataclass
class Running:
    agent: FarmerAgent
    server: Server
    stub: farmer_pb2_grpc.FarmerServiceStub
    channel: grpc.Channel


@pytest.fixture
def start_farmer(tmp_path: Path) -> Iterator[Any]:
    running: list[Running] = []

    def start(cfg: FarmerConfig, probe: ProbeFn | None = None) -> Running:
        agent = FarmerAgent(cfg, tmp_path / "farmer.yaml", probe=probe)
        server = serve(agent.registrations(), "127.0.0.1:0", tls=None, tokens=TokenSet())
        agent.start()
        channel = dial(f"127.0.0.1:{server.port}")
        r = Running(agent, server, farmer_pb2_grpc.FarmerServiceStub(channel), channel)
        running.append(r)
        return r

    yield start
    for r in running:
        r.channel.close()
        r.server.stop(0)
        r.agent.stop()
