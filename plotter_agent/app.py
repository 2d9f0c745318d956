"""Wires the plotter agent together: config -> domain objects -> servicer; the background poll loop."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from plotboss.config import StrictModel, load_config
from plotboss.errors import ConfigError
from plotboss.transport import ServiceRegistration
from plotboss.v1 import plotter_pb2_grpc
from plotter_agent.config import PlotterConfig
from plotter_agent.control import Controller
from plotter_agent.dirs import configured_dirs
from plotter_agent.launcher import Launch, PopenLauncher
from plotter_agent.loglib import LogLibrary
from plotter_agent.proctable import ProcessTable, SystemProcessTable
from plotter_agent.schedconfig import check_executable, scheduler_config
from plotter_agent.schedloop import Scheduler
from plotter_agent.schedstate import default_state_path
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
        launcher: Launch | None = None,
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
        self.launcher = launcher if launcher is not None else PopenLauncher()
        state_path = config.scheduling.state_file or default_state_path(config_path)
        self.scheduler = Scheduler(
            lambda: self.view.snapshot,
            scheduler_config(config),
            log_dir=log_dir,
            nice=config.plotting.nice if config.plotting is not None else 0,
            state_path=state_path,
            launch=self.launcher,
            polling_time_s=config.scheduling.polling_time_s,
            clock=clock,
            reap=self.launcher.reap if isinstance(self.launcher, PopenLauncher) else lambda: None,
        )
        # the generated stubs mark every RPC abstract; the archiver's answer UNIMPLEMENTED from the base until it lands
        self.servicer = PlotterServicer(  # type: ignore[abstract]
            config.agent.name, self.view, self.controller, self.scheduler
        )

    def registrations(self) -> list[ServiceRegistration]:
        return [
            ServiceRegistration(
                plotter_pb2_grpc.add_PlotterServiceServicer_to_server, self.servicer, "plotboss.v1.PlotterService"
            )
        ]

    def start(self) -> None:
        self.view.start()
        self.scheduler.start()

    def stop(self) -> None:
        """Stop the agent's threads. Plot jobs run on: they are detached, and nothing here signals them."""
        self.scheduler.stop()
        self.controller.stop()
        self.view.stop()

    def reload(self) -> None:
        """SIGHUP: read the config file again and use its scheduling and plotting from the next pass on; a config
        that does not load (or whose plotter cannot be run) is refused and the old one kept, with the reason logged
        and shown by GetSchedulerStatus. Other sections take effect at the next restart."""
        try:
            cfg = load_config(self.config_path, PlotterConfig)
            if cfg.plotting is not None:
                check_executable(cfg.plotting, str(self.config_path))
        except ConfigError as e:
            log.error("config reload refused, keeping the config in force: %s", e)
            self.scheduler.reload_failed(str(e))
            return
        if cfg.directories != self.config.directories or cfg.agent != self.config.agent:
            log.warning("config reload: agent and directories changes take effect at the next restart")
            cfg = cfg.model_copy(update={"directories": self.config.directories, "agent": self.config.agent})
        self.config = cfg
        self.scheduler.reload(
            scheduler_config(cfg), cfg.plotting.nice if cfg.plotting is not None else 0, cfg.scheduling.polling_time_s
        )
        log.info("config reloaded from %s", self.config_path)


def build(config: StrictModel, config_path: Path) -> PlotterAgent:
    assert isinstance(config, PlotterConfig)
    return PlotterAgent(config, config_path)
