"""plotting: validated at load (k ranges, keys) and at start (the executable), errors naming the file and field."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.examples import PLOTTER
from plotboss.config import parse_config
from plotboss.errors import ConfigError
from plotter_agent.config import PlotterConfig
from plotter_agent.plotkeys import bech32m_decode, check_contract_address, check_g1_hex, encode_contract_address
from plotter_agent.schedconfig import check_executable, scheduler_config

# A well-formed compressed G1 point (top bit of the first byte set) and a contract address made for a puzzle hash.
G1 = "a" + "1" * 95
CONTRACT = encode_contract_address(bytes(range(32)))


def _load(plotting: dict[str, Any], **sched: Any) -> PlotterConfig:
    data: dict[str, Any] = {
        "version": 1,
        "agent": {"name": "plotter-01"},
        "logging": {"plots": "/var/log/plots"},
        "directories": {"tmp": ["/mnt/tmp/00", "/mnt/tmp/01"], "dst": ["/mnt/dst/00"]},
        "plotting": plotting,
    }
    if sched:
        data["scheduling"] = sched
    return parse_config(data, PlotterConfig, "plotter.yaml")


def _error(plotting: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as exc:
        _load(plotting)
    return str(exc.value)


# BIP-350's valid bech32m test vectors, and strings each invalid in one way (the first is valid *bech32*, not bech32m)
BIP350_VALID = [
    "A1LQFN3A",
    "a1lqfn3a",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
]
BIP350_INVALID = [
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "A1LQFN3a",
    "a1lqfn3b",
    "1lqfn3a",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryb",
]


@pytest.mark.parametrize("text", BIP350_VALID)
def test_bech32m_accepts_bip350_vectors(text: str) -> None:
    bech32m_decode(text)


@pytest.mark.parametrize("text", BIP350_INVALID)
def test_bech32m_refuses_broken_strings(text: str) -> None:
    with pytest.raises(ValueError):
        bech32m_decode(text)


def test_contract_address_round_trip_and_one_typo() -> None:
    assert CONTRACT.startswith("xch1") and len(CONTRACT) == 62
    assert check_contract_address(CONTRACT) == CONTRACT
    assert check_contract_address(encode_contract_address(bytes(32), "txch")).startswith("txch1")
    typo = CONTRACT[:10] + ("q" if CONTRACT[10] != "q" else "p") + CONTRACT[11:]
    with pytest.raises(ValueError, match="checksum"):
        check_contract_address(typo)
    with pytest.raises(ValueError, match="xch1 or txch1"):
        check_contract_address("abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx")


def test_g1_key_forms() -> None:
    assert check_g1_hex("0x" + G1.upper()) == G1
    for bad, why in [(G1[:-2], "96 hex digits"), ("z" + G1[1:], "not hexadecimal"), ("0" + G1[1:], "compressed")]:
        with pytest.raises(ValueError, match=why):
            check_g1_hex(bad)


@pytest.mark.parametrize(
    ("plotting", "expected"),
    [
        ({"chia": {"k": 24}}, "plotter.yaml: plotting.chia.k: k=24 is outside 25..50"),
        ({"chia": {"k": 17, "test_plots": True}}, "plotter.yaml: plotting.chia.k: k=17 is outside 18..50"),
        ({"chia": {"k": 51}}, "plotting.chia.k: k=51 is outside 25..50"),
        ({"type": "madmax", "madmax": {"k": 28}}, "plotting.madmax.k: k=28 is outside 29..34"),
        ({"type": "bladebit", "bladebit": {"k": 33}}, "plotting.bladebit.k: k=33 is outside 28..32"),
        ({"type": "bladebit", "bladebit": {"compression": 8}}, "plotting.bladebit.compression"),
        ({"farmer_pk": G1[:-1]}, "plotting.farmer_pk: is 95 characters long"),
        ({"pool_pk": "0" + G1[1:]}, "plotting.pool_pk: is not a compressed G1 point"),
        ({"pool_contract_address": CONTRACT[:-1] + "x"}, "plotting.pool_contract_address: has a wrong bech32m"),
        ({"pool_contract_address": "bc1" + CONTRACT[4:]}, "plotting.pool_contract_address"),
        ({"pool_pk": G1, "pool_contract_address": CONTRACT}, "give pool_pk or pool_contract_address, not both"),
        ({"type": "gigahorse"}, "plotting.type"),
        ({"chia": {"command": "plots make"}}, "plotting.chia.command"),
    ],
)
def test_bad_plotting_is_named(plotting: dict[str, Any], expected: str) -> None:
    assert expected in _error(plotting)


def test_test_plots_allow_small_k_and_the_job_is_built() -> None:
    cfg = _load(
        {"farmer_pk": G1, "pool_contract_address": CONTRACT, "chia": {"k": 20, "test_plots": True, "n_buckets": 16}},
        tmp_overrides={"/mnt/tmp/01/": {"tmpdir_max_jobs": 1}},
    )
    sc = scheduler_config(cfg)
    assert sc is not None
    assert sc.rules["/mnt/tmp/01"].max_jobs == 1 and sc.rules["/mnt/tmp/00"].max_jobs == 3
    argv = sc.job.argv("/mnt/tmp/00", None, "/mnt/dst/00")
    assert argv[:6] == ["chia", "plots", "create", "-k", "20", "--override-k"]
    assert argv[argv.index("-f") + 1] == G1 and argv[argv.index("-c") + 1] == CONTRACT
    assert "-p" not in argv


def test_no_plotting_section_means_no_scheduler() -> None:
    cfg = parse_config(
        {"version": 1, "agent": {"name": "p"}, "logging": {"plots": "/l"}, "directories": {"tmp": ["/t"]}},
        PlotterConfig,
        "plotter.yaml",
    )
    assert scheduler_config(cfg) is None


def test_executable_must_exist_and_run(tmp_path: Path) -> None:
    cfg = _load({"chia": {"executable": str(tmp_path / "nope")}})
    assert cfg.plotting is not None
    with pytest.raises(ConfigError, match=r"plotter.yaml: plotting.chia.executable: .*nope is not a file"):
        check_executable(cfg.plotting, "plotter.yaml")
    with pytest.raises(ConfigError, match=r"plotting\.chia\.executable: 'no-such-plotter-here' not found on PATH"):
        check_executable(_load({"chia": {"executable": "no-such-plotter-here"}}).plotting, "plotter.yaml")  # type: ignore[arg-type]
    script = tmp_path / "chia"
    script.write_text("#!/bin/sh\nexit 0\n")
    plotting = _load({"chia": {"executable": str(script)}}).plotting
    assert plotting is not None
    with pytest.raises(ConfigError, match="is not executable"):
        check_executable(plotting, "plotter.yaml")
    os.chmod(script, 0o755)
    assert check_executable(plotting, "plotter.yaml") == str(script)


def test_the_examples_commented_plotting_block_loads_once_uncommented(tmp_path: Path) -> None:
    lines = PLOTTER.splitlines()
    start = lines.index("# plotting:")
    uncommented = [ln[2:] if (i >= start and ln.startswith("# ")) or ln == "#" else ln for i, ln in enumerate(lines)]
    text = "\n".join(uncommented).replace("<your farmer public key, 96 hex digits>", G1)
    text = text.replace("<xch1... of your plot NFT>", CONTRACT)
    cfg = parse_config(yaml.safe_load(text), PlotterConfig, "plotter.yaml")
    assert cfg.plotting is not None and cfg.plotting.chia.k == 32 and cfg.plotting.bladebit.mode == "diskplot"


def test_config_check_warns_when_the_plotter_is_not_here(tmp_path: Path) -> None:
    """`config check` may run away from the plotting machine: a missing executable is a warning there (the agent
    itself refuses to start), while a bad key is an error (exit 2)."""
    import contextlib
    import io

    from cli.__main__ import main

    def check(path: Path) -> tuple[int, str]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["config", "check", "plotter", str(path)])
        return rc, err.getvalue()

    base = {
        "version": 1,
        "agent": {"name": "plotter-01"},
        "logging": {"plots": str(tmp_path)},
        "directories": {"tmp": [str(tmp_path)]},
    }
    path = tmp_path / "plotter.yaml"
    path.write_text(yaml.safe_dump({**base, "plotting": {"chia": {"executable": "no-such-chia-here"}}}))
    rc, err = check(path)
    assert rc == 0, err
    assert "plotting.chia.executable: 'no-such-chia-here' not found on PATH" in err
    assert "on this machine the agent would not start" in err
    path.write_text(yaml.safe_dump({**base, "plotting": {"farmer_pk": "xyz"}}))
    rc, err = check(path)
    assert rc == 2 and "plotting.farmer_pk: is 3 characters long" in err
