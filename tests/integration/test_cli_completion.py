"""Shell completion: the scripts, and JOB completing to a real agent's real job (the chia stand-in), through click's
``_PLOTBOSS_CLI_COMPLETE=bash_complete`` protocol in a subprocess, as bash calls it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plotboss.transport import dial
from plotboss.v1 import plotter_pb2, plotter_pb2_grpc
from testbed.agents import plotter_config, start_agent, write_yaml
from testbed.standin import start_chia_job

CLI = Path(sys.executable).parent / "plotboss-cli"


def complete(*words: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """What bash gets for the command line ``plotboss-cli WORDS`` with the cursor on the last word."""
    env = {
        **os.environ,
        "_PLOTBOSS_CLI_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(("plotboss-cli", *words)),
        "COMP_CWORD": str(len(words)),
    }
    t0 = time.monotonic()
    r = subprocess.run([str(CLI)], env=env, capture_output=True, text=True, timeout=60, check=False)
    return r, time.monotonic() - t0


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_scripts_name_the_program(shell: str) -> None:
    r = subprocess.run([str(CLI), "completion", shell], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert "plotboss-cli" in r.stdout and "_PLOTBOSS_CLI_COMPLETE" in r.stdout
    assert f"{shell}_complete" in r.stdout  # the script calls the program back in its own shell's protocol
    bad = subprocess.run([str(CLI), "completion", "tcsh"], capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "tcsh" in bad.stderr


def test_commands_complete() -> None:
    r, _ = complete("sta")
    assert r.returncode == 0 and r.stdout.splitlines() == ["plain,status"], r
    r, _ = complete("arch")
    assert r.returncode == 0 and r.stdout.splitlines() == ["plain,archive"], r
    r, _ = complete("archive", "")
    assert r.returncode == 0 and r.stdout.splitlines() == ["plain,pause", "plain,resume", "plain,status"], r


@pytest.mark.slow
def test_job_ids_of_a_real_agents_real_job(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    cfg = plotter_config(tmp_path, poll_s=0.5)
    agent, port = start_agent("plotboss-plotter", write_yaml(tmp_path / "plotter.yaml", cfg))
    procs.append(agent)
    address = f"127.0.0.1:{port}"
    job = start_chia_job(22, tmp_path / "tmp", tmp_path / "dst", tmp_path / "logs" / "job.log")
    procs.append(job)
    plot_id = ""
    deadline = time.monotonic() + 30
    ch = dial(address)
    try:
        while not plot_id and time.monotonic() < deadline:
            jobs = plotter_pb2_grpc.PlotterServiceStub(ch).ListJobs(plotter_pb2.ListJobsRequest()).jobs
            plot_id = next((j.plot_id for j in jobs if j.pid == job.pid), "")
            time.sleep(0.2)
    finally:
        ch.close()
    assert plot_id, "the agent never listed the job with its plot id"
    for command in ("suspend", "kill", "logs", "details"):
        r, _ = complete("--plotter", address, command, plot_id[:3])
        assert r.returncode == 0, r.stderr
        assert f"plain,{plot_id}" in r.stdout.splitlines(), (command, r.stdout)
    r, _ = complete("--plotter", address, "resume", plot_id[:2].upper())  # the ids are hex: case does not matter
    assert f"plain,{plot_id}" in r.stdout.splitlines()
    other = "0" if plot_id[0] != "0" else "1"
    r, _ = complete("--plotter", address, "kill", other + plot_id[1:4])
    assert f"plain,{plot_id}" not in r.stdout.splitlines()
    assert job.poll() is None  # completing touched nothing
    # the same job through status --sort (every key), as JSON and as text
    for key in ("phase", "age", "eta", "plotter"):
        r = subprocess.run(
            [str(CLI), "--plotter", address, "status", "--sort", key, "--json"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert plot_id in [j["plot_id"] for j in json.loads(r.stdout)["plotters"][0]["jobs"]]
    r = subprocess.run(
        [str(CLI), "--plotter", address, "status", "--sort", "age"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and "chia" in r.stdout, r.stderr
    bad = subprocess.run([str(CLI), "--plotter", address, "status", "--sort", "size"], capture_output=True, text=True)
    assert bad.returncode == 2 and "'size' is not one of" in bad.stderr


def test_job_completion_is_silently_empty_when_agents_are_gone(tmp_path: Path) -> None:
    # a port nobody listens on, and a fleet file that does not exist: no candidates, no message, no traceback
    for words in (("--plotter", "127.0.0.1:1", "kill", ""), ("--fleet", str(tmp_path / "no.yaml"), "kill", "ab")):
        r, took = complete(*words)
        assert (r.returncode, r.stdout.strip(), r.stderr) == (0, "", ""), (words, r)
        assert took < 20
