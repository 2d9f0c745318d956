"""Shared fixtures: real rsync daemon, TLS certificates, child-process cleanup."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from plotboss.localcred import ENV as RUNTIME_DIR_ENV
from testbed.certs import TlsFiles, make_tls_files
from testbed.children import stop_process
from testbed.rsyncd import RsyncDaemon, start_rsyncd

SAMPLES = Path(__file__).resolve().parent / "data" / "logs"


@pytest.fixture(scope="session", autouse=True)
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Agents started by the tests (and the CLI and helpers they run) keep their local credentials in a private dir
    of this test run, not in /run/plotboss: children inherit the variable."""
    d = tmp_path_factory.mktemp("runtime")
    d.chmod(0o700)
    old = os.environ.get(RUNTIME_DIR_ENV)
    os.environ[RUNTIME_DIR_ENV] = str(d)
    try:
        yield d
    finally:
        if old is None:
            os.environ.pop(RUNTIME_DIR_ENV, None)
        else:
            os.environ[RUNTIME_DIR_ENV] = old


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
