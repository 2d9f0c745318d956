"""The archiver from plotter.yaml's ``archiving`` section (secrets read here: a bad one exits 2 before anything
starts)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from plotboss.config import ClientTlsConfig, SecretSource
from plotboss.errors import ConfigError
from plotboss.localcred import local_token
from plotter_agent.archive.farmers import FarmerRules
from plotter_agent.archive.links import FarmerApi, Target
from plotter_agent.archive.outcome import OutcomeRules
from plotter_agent.archive.records import default_state_path
from plotter_agent.archive.runner import Archiver
from plotter_agent.archive.source import SourceRules
from plotter_agent.archive.transfer import Settings
from plotter_agent.archive.watchdog import StallRules, default_stall_s
from plotter_agent.config import FarmerTarget, PlotterConfig
from plotter_agent.farmer_client import FarmerClient
from plotter_agent.proctable import ProcessTable
from plotter_agent.view import Snapshot


def _secret(source: SecretSource | None, where: str) -> str | None:
    """The secret's value; ConfigError naming the file and field (the agent exits 2)."""
    if source is None:
        return None
    try:
        return source.resolve()
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _connect(target: FarmerTarget, where: str) -> Callable[[], FarmerApi]:
    token = _secret(target.token, f"{where}.token")
    tls = ClientTlsConfig(ca=target.tls_ca) if target.tls_ca is not None else None

    def connect() -> FarmerApi:
        # without a token of its own, a farmer on this machine is called with its local credential (as plotboss-cli
        # does); read at each connect: it changes when the farmer restarts
        return FarmerClient(target.address, token=token or local_token(target.address), tls=tls)

    return connect


def settings_of(config: PlotterConfig, config_path: Path) -> Settings:
    label = str(config_path)
    a = config.archiving
    assert config.logging.transfers is not None  # the config requires it when farmers are set
    keys = {f.address: f.key for f in a.farmers} | {f.key: f.key for f in a.farmers}
    return Settings(
        requester=config.agent.name,
        log_dir=str(config.logging.transfers.resolve()),
        dst_dirs=tuple(str(p.resolve()) for p in config.directories.dst),
        max_concurrent=a.max_concurrent_transfers,
        source_rules=SourceRules(max_readers_per_dir=a.max_readers_per_dir, settle_s=a.settle_s),
        outcome_rules=OutcomeRules(base_s=a.retry_base_s, cap_s=a.retry_cap_s),
        priority=tuple(keys[p] for p in a.priority),
        polling_time_s=a.polling_time_s,
        password=_secret(a.rsync.password, f"{label}: archiving.rsync.password"),
        bwlimit_kbps=a.rsync.bwlimit_kbps,
        io_timeout_s=a.rsync.io_timeout_s,
        connect_timeout_s=a.rsync.connect_timeout_s,
        rsync=a.rsync.executable,
        state_path=a.state_file or default_state_path(config_path),
        stall_rules=StallRules(stall_s=a.stall_timeout_s or default_stall_s(a.rsync.io_timeout_s)),
        log_retention_s=a.transfer_log_retention_days * 86400.0 or None,
    )


def build_archiver(
    config: PlotterConfig,
    config_path: Path,
    snapshot: Callable[[], Snapshot | None],
    table: ProcessTable,
    *,
    clock: Callable[[], float] = time.time,
) -> Archiver | None:
    """The archiver, or None when no farmer is configured."""
    a = config.archiving
    if not a.farmers:
        return None
    label = str(config_path)
    targets = [
        Target(f.key, f.address, _connect(f, f"{label}: archiving.farmers[{i}]")) for i, f in enumerate(a.farmers)
    ]

    def open_files(pid: int) -> list[str]:
        fds, _ = table.open_files(pid)
        return [target for _fd, target in fds if target.startswith("/")]

    rules = FarmerRules(backoff_base_s=min(5.0, a.retry_base_s), backoff_cap_s=a.retry_cap_s)
    return Archiver(
        settings_of(config, config_path), targets, snapshot, clock=clock, open_files=open_files, farmer_rules=rules
    )
