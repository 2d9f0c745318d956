"""Bad agent config files: the real agents exit 2 with the file and the field named, start nothing, never trace back."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli.examples import EXAMPLES
from plotboss.transport import dial
from testbed.agents import farmer_config, plotter_config, start_agent, write_yaml
from testbed.children import stop_process

SCRIPTS = {"plotter": "plotboss-plotter", "farmer": "plotboss-farmer"}
BASES: dict[str, Callable[[Path], dict[str, Any]]] = {"plotter": plotter_config, "farmer": farmer_config}


def _wrong_type(kind: str, data: dict[str, Any]) -> str:
    if kind == "plotter":
        data["scheduling"] = {"global_max_jobs": "eight"}
        return "scheduling.global_max_jobs: expected an integer"
    data["drives"]["min_free_bytes"] = "lots"
    return "drives.min_free_bytes: expected an integer"


def _unknown_key(kind: str, data: dict[str, Any]) -> str:
    data["agent"]["colour"] = "blue"
    return "agent.colour: unknown key"


def _nested_unknown_key(kind: str, data: dict[str, Any]) -> str:
    section = "directories" if kind == "plotter" else "rsyncd"
    data[section]["extra"] = 1
    return f"{section}.extra: unknown key"


def _no_version(kind: str, data: dict[str, Any]) -> str:
    del data["version"]
    return "version: required"


def _version_2(kind: str, data: dict[str, Any]) -> str:
    data["version"] = 2
    return "version: unsupported version 2"


def _missing_section(kind: str, data: dict[str, Any]) -> str:
    section = "directories" if kind == "plotter" else "rsyncd"
    del data[section]
    return f"{section}: required"


MUTATIONS = [_wrong_type, _unknown_key, _nested_unknown_key, _no_version, _version_2, _missing_section]


def _cases(root: Path) -> list[tuple[str, Path, str]]:
    """(kind, config path, expected stderr text) for every bad file of both agents."""
    out = []
    for kind in SCRIPTS:
        for mutate in MUTATIONS:
            d = root / f"{kind}{mutate.__name__}"
            data = BASES[kind](d)
            expected = mutate(kind, data)
            path = write_yaml(d / f"{kind}.yaml", data)
            out.append((kind, path, f"{path}: {expected}"))
        missing = root / kind / "missing" / f"{kind}.yaml"
        out.append((kind, missing, f"{missing}: no such file"))
        broken = root / kind / "broken" / f"{kind}.yaml"
        broken.parent.mkdir(parents=True)
        broken.write_text("version: 1\nagent: {name: x, listen: [\n")
        out.append((kind, broken, f"{broken}: not valid YAML at line 3"))
        prose = root / kind / "prose" / f"{kind}.yaml"
        prose.parent.mkdir(parents=True)
        prose.write_text("This is not a config file, just prose.\n")
        out.append((kind, prose, f"{prose}: expected a YAML mapping at the top level, got str"))
    return out


def test_bad_agent_configs_exit_2_naming_file_and_field(tmp_path: Path) -> None:
    cases = _cases(tmp_path)
    # all agents at once: each costs an interpreter start, and they are independent
    procs = []
    for kind, path, _ in cases:
        exe = Path(sys.executable).parent / SCRIPTS[kind]
        port_file = path.parent / "port"
        procs.append(
            subprocess.Popen(
                [str(exe), "--config", str(path), "--port-file", str(port_file)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    failures = []
    for (kind, path, expected), proc in zip(cases, procs, strict=True):
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        problems = []
        if proc.returncode != 2:
            problems.append(f"exit {proc.returncode}, expected 2")
        if f"{SCRIPTS[kind]}: {expected}" not in err:
            problems.append(f"stderr lacks {expected!r}")
        if "Traceback" in err:
            problems.append("traceback in stderr")
        if (path.parent / "port").exists() or "listening on" in out:
            problems.append("the agent started")
        if problems:
            failures.append(f"{kind} {path.name} in {path.parent.name}: {'; '.join(problems)}\n  stderr: {err!r}")
    assert not failures, "\n".join(failures)


def _example_for_test(kind: str, root: Path) -> Path:
    """The `config init` example with its machine paths moved under ``root`` and a free port."""
    text = EXAMPLES[kind]
    for old in ("/var/lib/plotboss", "/mnt"):
        text = text.replace(old, str(root / old.strip("/").replace("/", "-")))
    text = text.replace('"127.0.0.1:8470"', '"127.0.0.1:0"').replace('"127.0.0.1:8471"', '"127.0.0.1:0"')
    text = text.replace("allow_non_mount: false", "allow_non_mount: true")
    data = yaml.safe_load(text)
    for d in ("tmp/00", "tmp/01", "tmp2", "dst/00", "farm/d0"):
        (root / "mnt" / d).mkdir(parents=True, exist_ok=True)
    for d in ("plots", "transfers"):  # the plot log dir must exist for the plotter to start
        (root / "var-lib-plotboss" / "logs" / d).mkdir(parents=True, exist_ok=True)
    path = root / f"{kind}.yaml"
    path.write_text(text)
    assert data["version"] == 1
    return path


@pytest.mark.parametrize("kind", sorted(SCRIPTS))
def test_agents_start_with_the_config_init_example(tmp_path: Path, kind: str) -> None:
    path = _example_for_test(kind, tmp_path)
    proc, port = start_agent(SCRIPTS[kind], path, output=tmp_path / "agent.out")
    try:
        with dial(f"127.0.0.1:{port}", timeout_s=5) as ch:
            resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        stop_process(proc)
    assert proc.returncode == 0
