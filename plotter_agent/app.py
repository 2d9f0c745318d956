"""Wires the plotter agent together: config -> domain objects -> servicer; the background poll loop."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from plotboss.config import StrictModel
from plotboss.transport import ServiceRegistration
from plotboss.v1 import plotter_pb2_grpc
from plotter_agent.config import PlotterConfig
from plotter_agent.control import Controller
from plotter_agent.dirs import configured_dirs
from plotter_agent.loglib import LogLibrary
from plotter_agent.proctable import ProcessTable, SystemProcessTable
from plotter_agent.schedconfig import check_executable
from plotter_agent.service import PlotterServicer
from plotter_agent.view import Clock, View

log = logging.getLogger(__name__)


class PlotterAgent:
    def __init__(
        self,
        config: PlotterConfig,
        config_path: Path,
        *,
        table: ProcessTable | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.config = config
        self.config_path = config_path
        if config.plotting is not None:  # exit 2 before anything starts when the plotter cannot be run
            check_executable(config.plotting, str(config_path))
        self.table = table if table is not None else SystemProcessTable()
        log_dir = config.logging.plots.resolve()
        d = config.directories
        pairs = configured_dirs(
            [str(p.resolve()) for p in d.tmp],
            str(d.tmp2.resolve()) if d.tmp2 is not None else None,
            [str(p.resolve()) for p in d.dst],
        )
        self.library = LogLibrary(log_dir, clock=clock)
        self.view = View(
            log_dir=log_dir,
            dirs=pairs,
            table=self.table,
            library=self.library,
            stall_after_s=config.agent.stall_after_s,
            poll_s=config.agent.poll_s,
            clock=clock,
        )
        self.controller = Controller(self.view, self.table, kill_grace_s=config.agent.kill_grace_s)
        self.servicer = PlotterServicer(config.agent.name, self.view, self.controller)

    def registrations(self) -> list[ServiceRegistration]:
        return [
            ServiceRegistration(
                plotter_pb2_grpc.add_PlotterServiceServicer_to_server, self.servicer, "plotboss.v1.PlotterService"
            )
        ]

    def start(self) -> None:
        self.view.start()

    def stop(self) -> None:
        self.controller.stop()
        self.view.stop()


def build(config: StrictModel, config_path: Path) -> PlotterAgent:
    assert isinstance(config, PlotterConfig)
    return PlotterAgent(config, config_path)
