"""run_agent, the entry-point skeleton both agents share, in process with a stand-in agent."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from plotboss.agent import AgentSpec, run_agent
from plotboss.config import StrictModel
from plotboss.errors import ConfigError
from plotboss.transport import ServiceRegistration
from plotter_agent.config import PlotterConfig
from testbed.agents import plotter_config, write_yaml


class _FailingAgent:
    def __init__(self) -> None:
        self.stopped = False

    def registrations(self) -> list[ServiceRegistration]:
        return []

    def start(self) -> None:
        raise ConfigError("plotter.yaml: directories.tmp[0]: /nope is not a directory")

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def keep_signal_handlers() -> Iterator[None]:
    """run_agent installs SIGTERM/SIGINT handlers; give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def _spec(built: list[_FailingAgent]) -> AgentSpec:
    def build(_cfg: StrictModel, _path: Path) -> _FailingAgent:
        built.append(_FailingAgent())
        return built[-1]

    return AgentSpec(prog="plotboss-test", config_model=PlotterConfig, build=build)


def test_a_config_problem_found_at_start_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keep_signal_handlers: None
) -> None:
    config = write_yaml(tmp_path / "plotter.yaml", plotter_config(tmp_path))
    built: list[_FailingAgent] = []
    rc = run_agent(_spec(built), ["--config", str(config), "--port-file", str(tmp_path / "port")])
    assert rc == 2
    assert "plotboss-test: plotter.yaml: directories.tmp[0]: /nope is not a directory" in capsys.readouterr().err
    assert not (tmp_path / "port").exists()
    assert len(built) == 1


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1:99999", "127.0.0.1"])
def test_a_malformed_listen_address_exits_2_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], listen: str
) -> None:
    config = write_yaml(tmp_path / "plotter.yaml", plotter_config(tmp_path))
    built: list[_FailingAgent] = []
    rc = run_agent(_spec(built), ["--config", str(config), "--listen", listen])
    assert rc == 2
    err = capsys.readouterr().err
    assert f"plotboss-test: --listen: {listen!r}: expected HOST:PORT" in err
    assert not built  # nothing was built, let alone started


def test_an_address_in_use_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        config = write_yaml(tmp_path / "plotter.yaml", plotter_config(tmp_path, listen=f"127.0.0.1:{port}"))
        rc = run_agent(_spec([]), ["--config", str(config)])
    assert rc == 2
    assert f"{config}: agent.listen: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_unknown_option_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_agent(_spec([]), ["--config", str(tmp_path / "x.yaml"), "--colour"]) == 2
    assert "--colour" in capsys.readouterr().err


class _SlowToBuildAgent(_FailingAgent):
    """Gets SIGTERM while it is being built (as an agent whose first scan takes a while might)."""

    started = False

    def start(self) -> None:
        self.started = True


def test_sigterm_while_starting_is_a_clean_stop(tmp_path: Path, keep_signal_handlers: None) -> None:
    config = write_yaml(tmp_path / "plotter.yaml", plotter_config(tmp_path))
    built: list[_SlowToBuildAgent] = []

    def build(_cfg: StrictModel, _path: Path) -> _SlowToBuildAgent:
        os.kill(os.getpid(), signal.SIGTERM)  # before run_agent's own handlers were installed, this killed pytest
        built.append(_SlowToBuildAgent())
        return built[-1]

    spec = AgentSpec(prog="plotboss-test", config_model=PlotterConfig, build=build)
    rc = run_agent(spec, ["--config", str(config), "--port-file", str(tmp_path / "port")])
    assert rc == 0
    (agent,) = built
    assert not agent.started and not (tmp_path / "port").exists()


def test_an_unwritable_port_file_stops_the_agent_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keep_signal_handlers: None
) -> None:
    config = write_yaml(tmp_path / "plotter.yaml", plotter_config(tmp_path))
    built: list[_SlowToBuildAgent] = []

    def build(_cfg: StrictModel, _path: Path) -> _SlowToBuildAgent:
        built.append(_SlowToBuildAgent())
        return built[-1]

    spec = AgentSpec(prog="plotboss-test", config_model=PlotterConfig, build=build)
    rc = run_agent(spec, ["--config", str(config), "--port-file", str(tmp_path)])  # a directory
    assert rc == 2
    assert f"plotboss-test: --port-file: cannot write {tmp_path}: Is a directory" in capsys.readouterr().err
    (agent,) = built
    assert agent.stopped
