"""Wires the farmer agent together: config -> drives prober, ledger, state file, servicer; the background threads.

Start-up order matters for restart safety: reservations are restored from the state file (leases extended by one
lease, since plotters could not renew while the agent was down), the drives are probed once, and rsync temp files no
reservation covers get a recovered reservation (or, next to their plot's final file, are removed as stale leftovers),
all before the server answers its first call (see ``Ledger.recover``). Before any of it, the state file's lock is
taken (one farmer per state file, see state.py); it is let go at stop, or when the process ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from farmer_agent.config import FarmerConfig
from farmer_agent.drives import DriveProber, ProbeFn, make_probe
from farmer_agent.farmer import Farmer
from farmer_agent.ledger import Ledger
from farmer_agent.reservation import Rules
from farmer_agent.rsyncd import check_drive_patterns
from farmer_agent.service import FarmerServicer
from farmer_agent.state import StateLock, StateWriter, default_state_path, load
from plotboss.config import StrictModel
from plotboss.errors import ConfigError
from plotboss.transport import ServiceRegistration
from plotboss.v1 import farmer_pb2_grpc

log = logging.getLogger(__name__)


class FarmerAgent:
    def __init__(
        self,
        config: FarmerConfig,
        config_path: Path,
        *,
        probe: ProbeFn | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.config_path = config_path
        label = str(config_path)
        check_drive_patterns(config.drives.paths, config.rsyncd, f"{label}: drives.paths")
        self.state_path = config.reservations.state_file or default_state_path(config_path)
        self.lock = StateLock.acquire(
            self.state_path, config.agent.name, config.agent.listen, f"{label}: reservations.state_file"
        )
        try:
            self._build(config, label, probe, clock, monotonic)
        except BaseException:
            self.lock.release()
            raise

    def _build(
        self,
        config: FarmerConfig,
        label: str,
        probe: ProbeFn | None,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
    ) -> None:
        rules = Rules(
            min_free_bytes=config.drives.min_free_bytes,
            max_writers_per_drive=config.drives.max_writers_per_drive,
            policy=config.drives.policy,
            lease_s=config.reservations.lease_s,
        )
        restored = load(self.state_path)
        self.ledger = Ledger(rules, clock, reservations=restored, monotonic=monotonic)
        self.ledger.extend_all()
        self.prober = DriveProber(
            config.drives.paths,
            probe=probe or make_probe(config.drives.allow_non_mount),
            poll_s=config.agent.poll_s,
            timeout_s=config.agent.probe_timeout_s,
            clock=clock,
            monotonic=monotonic,
        )
        self.state = StateWriter(self.state_path, self.ledger.export)
        try:
            self.state.save_now()
        except OSError as e:
            raise ConfigError(
                f"{label}: reservations.state_file: cannot write {self.state_path}: {e.strerror or e}"
            ) from None
        self.farmer = Farmer(
            config.rsyncd, self.prober.snapshot, self.ledger, self.state, io_timeout_s=config.agent.probe_timeout_s
        )
        self.prober.refresh()
        self.farmer.recover()
        if restored:
            log.info("restored %d reservation(s) from %s", len(restored), self.state_path)
        self.servicer = FarmerServicer(self.farmer, config.agent.name)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def registrations(self) -> list[ServiceRegistration]:
        return [
            ServiceRegistration(
                farmer_pb2_grpc.add_FarmerServiceServicer_to_server, self.servicer, "plotboss.v1.FarmerService"
            )
        ]

    def _sweep_loop(self) -> None:
        period = min(1.0, self.config.reservations.lease_s / 4)
        while not self._stop.wait(period):
            try:
                self.farmer.sweep()
            except Exception:
                log.exception("expiry sweep failed")

    def start(self) -> None:
        # the server is up now: restored leases run from here, not from when the state file was read (a slow start,
        # probing every drive, would otherwise eat the lease plotters could not renew while the agent was down)
        self.ledger.extend_all()
        self.prober.start(initial=False)
        t = threading.Thread(target=self._sweep_loop, name="reservation-sweeper", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self.prober.stop()
        for t in self._threads:
            t.join(5)
        self.lock.release()


def build(config: StrictModel, config_path: Path) -> FarmerAgent:
    assert isinstance(config, FarmerConfig)
    return FarmerAgent(config, config_path)
