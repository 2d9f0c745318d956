"""`plotboss-cli simulate` (in-process, no agent): its answers, --compare, --json, and bad input (exit 2 naming it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.__main__ import main
from tests.unit.logsamples import SAMPLES


def write(path: Path, stagger_m: float = 30, k: int = 32, **sched: Any) -> Path:
    data = {
        "version": 1,
        "agent": {"name": "plotter-01", "listen": "127.0.0.1:8470"},
        "logging": {"plots": "/var/lib/plotboss/logs"},
        "directories": {"tmp": ["/mnt/tmp/00", "/mnt/tmp/01"], "dst": ["/mnt/dst/00"]},
        "scheduling": {"global_max_jobs": 8, "global_stagger_m": stagger_m, "tmpdir_max_jobs": 3, **sched},
        "plotting": {"type": "chia", "chia": {"k": k}},
    }
    path.write_text(yaml.safe_dump(data))
    return path


SIZES = ["--size", "/mnt/tmp/00=2T", "--size", "/mnt/tmp/01=2T", "--size", "/mnt/dst/00=4T"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["simulate", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_json_answer_has_the_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, str(write(tmp_path / "p.yaml")), *SIZES, "--days", "3", "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["plots_per_day"] > 0 and data["days"] == 3
    assert set(data["peak_tmp_bytes"]) == {"/mnt/tmp/00", "/mnt/tmp/01"}
    assert 0 < data["peak_tmp_bytes"]["/mnt/tmp/00"] <= 2 * 10**12
    assert data["bottleneck"] in ("max_jobs", "stagger", "tmp_phase", "tmp_jobs", "tmp_space", "dst_space", "none")
    assert data["violations"] == 0 and "default shares" in data["phase_times"]


def test_phase_times_learned_from_a_log_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(
        capsys, str(write(tmp_path / "p.yaml", k=25)), *SIZES, "--days", "1", "--logs", str(SAMPLES), "--json"
    )
    assert rc == 0
    data = json.loads(out)
    assert str(SAMPLES) in data["phase_times"] and data["mean_job_s"] < 200  # the k25 sample logs take ~100 s


def test_a_long_stagger_is_the_bottleneck_and_compare_shows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fast = write(tmp_path / "fast.yaml", stagger_m=0, tmpdir_stagger_phase_limit=3)
    slow = write(tmp_path / "slow.yaml", stagger_m=240, tmpdir_stagger_phase_limit=3)
    rc, out, _ = run(capsys, str(fast), *SIZES, "--days", "3", "--compare", str(slow), "--json")
    assert rc == 0
    a, b = json.loads(out)["runs"]
    assert b["bottleneck"] == "stagger" and b["plots_per_day"] < a["plots_per_day"]
    rc, text, _ = run(capsys, str(fast), *SIZES, "--days", "3", "--compare", str(slow))
    assert rc == 0 and "plots/day" in text and "bottleneck" in text and "% plots/day against" in text


def test_a_small_dst_with_a_slow_link_is_a_dst_bottleneck(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sizes = ["--size", "/mnt/tmp/00=2T", "--size", "/mnt/tmp/01=2T", "--size", "/mnt/dst/00=250G"]
    rc, out, _ = run(capsys, str(write(tmp_path / "p.yaml")), *sizes, "--days", "4", "--link-mbps", "50", "--json")
    assert rc == 0
    assert json.loads(out)["bottleneck"] == "dst_space"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "directories.tmp: /mnt/tmp/00 is not on this machine; give its size with --size /mnt/tmp/00=SIZE"),
        ([*SIZES, "--size", "/mnt/tmp/00=lots"], "--size /mnt/tmp/00: 'lots' is not a size"),
        ([*SIZES, "--size", "nosize"], "--size 'nosize': expected PATH=SIZE"),
        ([*SIZES, "--logs", "/nonexistent/logs"], "--logs /nonexistent/logs: cannot list"),
    ],
)
def test_bad_input_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    rc, out, err = run(capsys, str(write(tmp_path / "p.yaml")), *args)
    assert rc == 2 and says in err and out == "" and "Traceback" not in err


def test_a_bad_config_is_named_with_its_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path / "p.yaml")
    p.write_text(p.read_text().replace("global_max_jobs: 8", "global_max_jobs: many"))
    rc, _, err = run(capsys, str(p), *SIZES)
    assert rc == 2 and f"{p}: scheduling.global_max_jobs" in err
    empty = tmp_path / "logs"
    empty.mkdir()
    rc, _, err = run(capsys, str(write(tmp_path / "q.yaml")), *SIZES, "--logs", str(empty))
    assert rc == 2 and "no finished chia plot log" in err
