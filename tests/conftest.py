"""Shared fixtures: real rsync daemon, TLS certificates, child-process cleanup."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.certs import TlsFiles, make_tls_files
from testbed.children import stop_process
from testbed.rsyncd import RsyncDaemon, start_rsyncd

SAMPLES = Path(__file__).resolve().parent / "data" / "logs"


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def rsyncd(tmp_path: Path) -> Iterator[RsyncDaemon]:
    """A real rsync daemon on 127.0.0.1 with module ``plots`` rooted at tmp_path/module."""
    daemon = start_rsyncd(tmp_path / "rsyncd", tmp_path / "module")
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Append every child you start; all are stopped (with their sessions) at teardown."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for p in started:
            stop_process(p)
