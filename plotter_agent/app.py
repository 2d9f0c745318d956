"""Wires the plotter agent together: config -> domain objects -> servicer; the background loop."""

from __future__ import annotations

from pathlib import Path

from plotter_agent.config import PlotterConfig
from plotter_agent.service import PlotterServicer
from plotboss.config import StrictModel
from plotboss.transport import ServiceRegistration
from plotboss.v1 import plotter_pb2_grpc


class PlotterAgent:
    def __init__(self, config: PlotterConfig, config_path: Path) -> None:
        self.config = config
        self.config_path = config_path
        self.servicer = PlotterServicer()  # type: ignore[abstract]

    def registrations(self) -> list[ServiceRegistration]:
        return [
            ServiceRegistration(
                plotter_pb2_grpc.add_PlotterServiceServicer_to_server, self.servicer, "plotboss.v1.PlotterService"
            )
        ]

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def build(config: StrictModel, config_path: Path) -> PlotterAgent:
    assert isinstance(config, PlotterConfig)
    return PlotterAgent(config, config_path)
