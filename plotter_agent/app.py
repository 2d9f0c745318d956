"""Wires the plotter agent together: config -> domain objects -> servicer; the background poll loop."""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

from plotboss.config import StrictModel, load_config
from plotboss.errors import ConfigError
from plotboss.transport import ServiceRegistration
from plotboss.v1 import plotter_pb2_grpc
from plotter_agent.archive.build import build_archiver
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
        self.archiver = build_archiver(
            config,
            config_path,
            lambda: self.view.snapshot if self.view.snapshot.version > 0 else None,
            self.table,
            clock=clock,
        )
        self.servicer = PlotterServicer(
            config.agent.name, self.view, self.controller, self.scheduler, archiver=self.archiver
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
        if self.archiver is not None:
            self.archiver.start()

    def stop(self) -> None:
        """Stop the agent's threads. Plot jobs and rsync pushes run on: they are detached, and nothing here signals
        them (a restarted agent finds them again)."""
        if self.archiver is not None:
            self.archiver.stop()
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


def _dir_problem(path: Path) -> tuple[str, bool]:
    """('', _) for a dir that is there; else (what is wrong, whether it is certain: there but not a directory)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "no such directory", False
    except OSError as e:
        return f"cannot look at it: {e.strerror or e}", True
    return ("", True) if stat.S_ISDIR(st.st_mode) else ("not a directory", True)


def start_checks(config: PlotterConfig, label: str) -> list[str]:
    """What the agent (and `config check`) checks on this machine before starting; ConfigError naming ``label`` (the
    file) and the field for a dir that cannot be what it names, warnings returned for what may still change.

    ``logging.plots`` must be a directory: it is where jobs are recognised by their logs, and a typo there meant that
    no job was ever tracked. A tmp/tmp2/dst dir (or the transfer log dir) that does not exist is only a warning: those
    are often mount points of drives that come up after the agent (they show as errors in `dirs` until they do); one
    that exists but is not a directory is an error."""
    warnings = []
    problem, _ = _dir_problem(config.logging.plots)
    if problem:
        raise ConfigError(
            f"{label}: logging.plots: {config.logging.plots}: {problem} (the plot log dir, where jobs are "
            "recognised by their log files; create it or fix the path)"
        )
    d = config.directories
    named: list[tuple[str, Path]] = [(f"directories.tmp[{i}]", p) for i, p in enumerate(d.tmp)]
    named += [("directories.tmp2", d.tmp2)] if d.tmp2 is not None else []
    named += [(f"directories.dst[{i}]", p) for i, p in enumerate(d.dst)]
    named += [("logging.transfers", config.logging.transfers)] if config.logging.transfers is not None else []
    for field, path in named:
        problem, certain = _dir_problem(path)
        if problem and certain:
            raise ConfigError(f"{label}: {field}: {path}: {problem}")
        if problem:
            warnings.append(
                f"{label}: {field}: {path}: {problem} (yet: a drive not mounted? shown as an error until it is)"
            )
    if config.archiving.farmers and not config.directories.dst:
        warnings.append(f"{label}: archiving.farmers: set, but directories.dst is empty: nothing to archive")
    return warnings


def build(config: StrictModel, config_path: Path) -> PlotterAgent:
    assert isinstance(config, PlotterConfig)
    for warning in start_checks(config, str(config_path)):
        log.warning("%s", warning)
    return PlotterAgent(config, config_path)
