"""What the plotter agent checks on the machine at start, and what it says about parts not built yet (real agent
processes and the real CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest

from plotboss.localcred import local_token
from plotboss.transport import dial
from plotboss.v1 import plotter_pb2, plotter_pb2_grpc
from testbed.agents import plotter_config, start_agent, write_yaml
from testbed.children import stop_process

BIN = Path(sys.executable).parent
NOT_YET_RPCS = {
    "GetArchiveStatus": ("archiver", plotter_pb2.GetArchiveStatusRequest),
    "PauseArchiver": ("archiver", plotter_pb2.PauseArchiverRequest),
    "ResumeArchiver": ("archiver", plotter_pb2.ResumeArchiverRequest),
}


def test_rpcs_not_built_yet_answer_one_clear_refusal_without_a_traceback(tmp_path: Path) -> None:
    """Before: every call wrote a full NotImplementedError traceback to the agent's log; the `archiving` section
    was accepted silently; a missing dst dir was not mentioned. (The scheduler's RPCs and section are built now.)"""
    cfg: dict[str, Any] = plotter_config(tmp_path)
    cfg["scheduling"] = {"global_max_jobs": 4}
    cfg["archiving"] = {"max_concurrent_transfers": 1}
    cfg["directories"]["dst"].append(str(tmp_path / "not-mounted-yet"))
    config = write_yaml(tmp_path / "plotter.yaml", cfg)
    out = tmp_path / "agent.out"
    proc, port = start_agent("plotboss-plotter", config, output=out)
    try:
        address = f"127.0.0.1:{port}"
        with dial(address, token=local_token(address), timeout_s=10) as ch:  # Pause/ResumeArchiver are control RPCs
            stub = plotter_pb2_grpc.PlotterServiceStub(ch)
            for name, (part, request) in NOT_YET_RPCS.items():
                for _ in range(3):
                    with pytest.raises(grpc.RpcError) as exc:
                        getattr(stub, name)(request(), timeout=10)
                    assert exc.value.code() == grpc.StatusCode.UNIMPLEMENTED
                    assert f"{name}: this plotboss version has no {part} yet" in (exc.value.details() or "")
    finally:
        stop_process(proc)
    log = out.read_text()
    assert "Traceback" not in log and "NotImplementedError" not in log
    assert not [line for line in log.splitlines() if any(name in line for name in NOT_YET_RPCS)]  # debug only
    assert f"{config}: scheduling: checked, but" not in log  # the scheduler acts on it
    assert "archiving: checked, but" not in log  # the archiver acts on it
    assert f"{config}: directories.dst[1]: {tmp_path / 'not-mounted-yet'}: no such directory (yet" in log


def _case(root: Path, name: str, change: str) -> Path:
    cfg: dict[str, Any] = plotter_config(root / name)
    if change == "plots missing":
        cfg["logging"]["plots"] = str(root / name / "log")  # a typo: the dir is `logs`
    elif change == "plots a file":
        (root / name / "plots.txt").write_text("")
        cfg["logging"]["plots"] = str(root / name / "plots.txt")
    elif change == "tmp a file":
        (root / name / "tmp-file").write_text("")
        cfg["directories"]["tmp"] = [str(root / name / "tmp"), str(root / name / "tmp-file")]
    return write_yaml(root / name / "plotter.yaml", cfg)


BAD_DIRS = {
    "plots missing": ("logging.plots", "log: no such directory (the plot log dir"),
    "plots a file": ("logging.plots", "plots.txt: not a directory (the plot log dir"),
    "tmp a file": ("directories.tmp[1]", "tmp-file: not a directory"),
}


def test_a_log_dir_that_is_not_there_or_a_tmp_dir_that_is_a_file_exits_2(tmp_path: Path) -> None:
    """Before: the agent started and `config check` said ok; with a typo in logging.plots no job was ever tracked."""
    configs = {case: _case(tmp_path, f"c{i}", case) for i, case in enumerate(BAD_DIRS)}
    procs = {
        case: subprocess.Popen(
            [str(BIN / "plotboss-plotter"), "--config", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for case, path in configs.items()
    }
    try:
        for case, proc in procs.items():
            field, words = BAD_DIRS[case]
            _out, err = proc.communicate(timeout=60)
            assert proc.returncode == 2, (case, err)
            assert f"plotboss-plotter: {configs[case]}: {field}: " in err and words in err, (case, err)
            assert "Traceback" not in err
            check = subprocess.run(
                [str(BIN / "plotboss-cli"), "config", "check", "plotter", str(configs[case])],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert check.returncode == 2, (case, check.stdout, check.stderr)
            assert f"{configs[case]}: {field}: " in check.stderr and words in check.stderr
    finally:
        for proc in procs.values():
            stop_process(proc)  # type: ignore[arg-type]


def test_config_check_warns_of_a_missing_tmp_dir_and_is_quiet_about_sections_not_given(tmp_path: Path) -> None:
    cfg: dict[str, Any] = plotter_config(tmp_path)
    cfg["directories"]["tmp"].append(str(tmp_path / "nvme1"))
    config = write_yaml(tmp_path / "plotter.yaml", cfg)
    run = subprocess.run(
        [str(BIN / "plotboss-cli"), "config", "check", "plotter", str(config)], capture_output=True, text=True
    )
    assert run.returncode == 0 and run.stdout.strip() == f"{config}: ok"
    assert f"warning: {config}: directories.tmp[1]: {tmp_path / 'nvme1'}: no such directory (yet" in run.stderr
    assert "this version has no" not in run.stderr  # no scheduling/archiving section given: nothing to note
