"""Wires the farmer agent together: config -> domain objects -> servicer; the background loop."""

from __future__ import annotations

from pathlib import Path

from farmer_agent.config import FarmerConfig
from farmer_agent.service import FarmerServicer
from plotboss.config import StrictModel
from plotboss.transport import ServiceRegistration
from plotboss.v1 import farmer_pb2_grpc


class FarmerAgent:
    def __init__(self, config: FarmerConfig, config_path: Path) -> None:
        self.config = config
        self.config_path = config_path
        self.servicer = FarmerServicer()  # type: ignore[abstract]

    def registrations(self) -> list[ServiceRegistration]:
        return [
            ServiceRegistration(
                farmer_pb2_grpc.add_FarmerServiceServicer_to_server, self.servicer, "plotboss.v1.FarmerService"
            )
        ]

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def build(config: StrictModel, config_path: Path) -> FarmerAgent:
    assert isinstance(config, FarmerConfig)
    return FarmerAgent(config, config_path)
