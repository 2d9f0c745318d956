"""Secret, TLS and config files that are not regular files (a FIFO, /dev/zero) or are far too big: exit 2 naming the
file and the field or option, at once, never a hang or a traceback (real agent and CLI processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from plotboss.small_files import MAX_SMALL_FILE_BYTES, read_small_file
from testbed.agents import plotter_config, write_yaml
from testbed.certs import make_tls_files
from testbed.children import stop_process

BIN = Path(sys.executable).parent
TOKEN = "s" * 32


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _run_all(cases: dict[str, list[str]]) -> dict[str, tuple[int | None, str]]:
    """Start every command at once; (exit status or None if it hung for 30 s, stderr) of each."""
    procs = {
        name: subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True
        )
        for name, argv in cases.items()
    }
    out: dict[str, tuple[int | None, str]] = {}
    try:
        for name, proc in procs.items():
            try:
                _o, err = proc.communicate(timeout=30)
                out[name] = (proc.returncode, err.decode(errors="replace"))
            except subprocess.TimeoutExpired:
                out[name] = (None, "")
    finally:
        for proc in procs.values():
            stop_process(proc)
    return out


def test_agents_refuse_secret_tls_and_config_files_that_are_not_regular_files(tmp_path: Path) -> None:
    """Before: a FIFO hung the agent in open() (SIGTERM did not stop it); /dev/zero ended in a MemoryError."""
    tls = make_tls_files(tmp_path / "tls")
    big = tmp_path / "big.token"
    big.write_bytes(b"x" * (MAX_SMALL_FILE_BYTES + 1))
    configs: dict[str, tuple[Path, str]] = {}

    def config(name: str, expected: str, **agent: Any) -> None:
        path = write_yaml(tmp_path / name / "plotter.yaml", plotter_config(tmp_path / name, **agent))
        configs[name] = (path, f"{path}: {expected}")

    config(
        "fifo token", "agent.tokens.read[0]: cannot read file ", tokens={"read": [{"file": str(_fifo(tmp_path / "t"))}]}
    )
    config(
        "dev zero token",
        "agent.tokens.control[0]: cannot read file /dev/zero: not a regular file: it is a character device",
        tokens={"control": [{"file": "/dev/zero"}]},
    )
    config("big token", "agent.tokens.read[0]: cannot read file ", tokens={"read": [{"file": str(big)}]})
    key = _fifo(tmp_path / "key.pem")
    config(
        "fifo tls key",
        f"agent.tls.key: cannot read {key}: not a regular file: it is a named pipe (FIFO)",
        tls={"cert": str(tls.server_cert), "key": str(key)},
    )
    config(
        "dev zero client ca",
        "agent.tls.client_ca: cannot read /dev/zero: not a regular file",
        tls={"cert": str(tls.server_cert), "key": str(tls.server_key), "client_ca": "/dev/zero"},
    )
    fifo_config = _fifo(tmp_path / "plotter.yaml")
    cases = {name: [str(BIN / "plotboss-plotter"), "--config", str(path)] for name, (path, _) in configs.items()}
    cases["fifo config"] = [str(BIN / "plotboss-plotter"), "--config", str(fifo_config)]
    expected = {name: text for name, (_, text) in configs.items()}
    expected["fifo config"] = f"{fifo_config}: cannot read: not a regular file: it is a named pipe (FIFO)"
    results = _run_all(cases)
    for name, (rc, err) in results.items():
        assert rc is not None, f"{name}: the agent hung at start"
        assert rc == 2 and expected[name] in err, (name, rc, err)
        assert "Traceback" not in err and "MemoryError" not in err, (name, err)
    assert "named pipe (FIFO)" in results["fifo token"][1]
    assert f"larger than {MAX_SMALL_FILE_BYTES} bytes" in results["big token"][1]


def test_the_cli_refuses_token_tls_and_fleet_files_that_are_not_regular_files(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "fifo")
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(f"version: 1\nplotters: [{{name: p1, address: '127.0.0.1:1', token_file: {fifo}}}]\n")
    cli = [str(BIN / "plotboss-cli")]
    adhoc = [*cli, "--plotter", "127.0.0.1:1"]
    cases = {
        "--token-file": [*cli, "--token-file", str(fifo), "--plotter", "127.0.0.1:1", "status"],
        "--tls-ca": [*adhoc, "--tls-ca", "/dev/zero", "status"],
        "fleet token_file": [*cli, "--fleet", str(fleet), "status"],
        "--fleet": [*cli, "--fleet", str(fifo), "status"],
    }
    expected = {
        "--token-file": f"--token-file: cannot read file {fifo}: not a regular file: it is a named pipe (FIFO)",
        "--tls-ca": "--tls-ca: cannot read /dev/zero: not a regular file: it is a character device",
        "fleet token_file": f"{fleet}: plotters[0].token_file: cannot read file {fifo}: not a regular file",
        "--fleet": f"{fifo}: cannot read: not a regular file: it is a named pipe (FIFO)",
    }
    for name, (rc, err) in _run_all(cases).items():
        assert rc is not None, f"{name}: the CLI hung"
        assert rc == 2 and expected[name] in err, (name, rc, err)
        assert "Traceback" not in err, (name, err)


def test_a_symlink_to_a_regular_file_is_read_and_one_to_a_fifo_is_not(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "link").symlink_to(tmp_path / "token")
    assert read_small_file(tmp_path / "link") == TOKEN.encode()
    (tmp_path / "fifo-link").symlink_to(_fifo(tmp_path / "fifo"))
    with pytest.raises(OSError, match="named pipe"):
        read_small_file(tmp_path / "fifo-link")
