"""load_config: strict validation and error messages that name the file and the field (in process)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cli.examples import EXAMPLES
from cli.fleet import FleetConfig
from farmer_agent.config import FarmerConfig
from plotboss.config import StrictModel, load_config
from plotboss.errors import ConfigError
from plotter_agent.config import PlotterConfig

MODELS: dict[str, type[StrictModel]] = {"plotter": PlotterConfig, "farmer": FarmerConfig, "fleet": FleetConfig}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _error(path: Path, model: type[StrictModel]) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(path, model)
    return str(exc.value)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_examples_load(tmp_path: Path, kind: str) -> None:
    cfg = load_config(_write(tmp_path, f"{kind}.yaml", EXAMPLES[kind]), MODELS[kind])
    assert cfg.version == 1  # type: ignore[attr-defined]


def test_plotter_example_values_survive(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "plotter.yaml", EXAMPLES["plotter"]), PlotterConfig)
    assert cfg.agent.listen == "127.0.0.1:8470"
    assert cfg.scheduling.global_max_jobs == 8
    assert cfg.directories.tmp == [Path("/mnt/tmp/00"), Path("/mnt/tmp/01")]
    assert cfg.plotting is None  # commented out: an agent made from the example starts no jobs


@pytest.mark.parametrize(
    ("kind", "patch", "expected"),
    [
        ("plotter", ("scheduling", "global_max_jobs", "eight"), "scheduling.global_max_jobs: expected an integer"),
        ("plotter", ("scheduling", "global_max_jobs", "8"), "scheduling.global_max_jobs: expected an integer"),
        ("plotter", ("scheduling", "global_max_jobs", 8.5), "scheduling.global_max_jobs: expected an integer"),
        ("plotter", ("scheduling", "global_max_jobs", True), "scheduling.global_max_jobs: expected an integer"),
        ("plotter", ("agent", "poll_s", "fast"), "agent.poll_s: expected a number"),
        ("plotter", ("scheduling", "colour", "blue"), "scheduling.colour: unknown key"),
        ("plotter", ("directories", "tmp", "/mnt/tmp"), "directories.tmp: expected a list"),
        ("plotter", ("agent", "tls", {"cert": 3, "key": "/k"}), "agent.tls.cert: expected a path (a string)"),
        ("farmer", ("drives", "allow_non_mount", "yes"), "drives.allow_non_mount: expected true or false"),
        ("farmer", ("rsyncd", "port", "873"), "rsyncd.port: expected an integer"),
        ("farmer", ("drives", "speed", 1), "drives.speed: unknown key"),
        ("fleet", ("plotters", "x", None), "plotters: expected a list"),
    ],
)
def test_wrong_values_name_file_and_field(
    tmp_path: Path, kind: str, patch: tuple[str, str, object], expected: str
) -> None:
    data = yaml.safe_load(EXAMPLES[kind])
    section, key, value = patch
    if kind == "fleet":
        data[section] = key
    else:
        data[section][key] = value
    path = _write(tmp_path, f"{kind}.yaml", yaml.safe_dump(data))
    assert _error(path, MODELS[kind]) == f"{path}: {expected}"


def test_nested_list_fields_are_named_with_indexes(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLES["plotter"])
    data["agent"]["tokens"] = {"read": [{"file": "/a", "env": "B"}], "control": [{"fiel": "/c"}]}
    path = _write(tmp_path, "plotter.yaml", yaml.safe_dump(data))
    lines = _error(path, PlotterConfig).splitlines()
    assert f"{path}: agent.tokens.read[0]: give exactly one of file, env or value" in lines
    assert f"{path}: agent.tokens.control[0].fiel: unknown key" in lines


def test_top_level_unknown_key_and_missing_section(tmp_path: Path) -> None:
    path = _write(tmp_path, "farmer.yaml", EXAMPLES["farmer"].replace("rsyncd:", "rsyncdd:", 1))
    lines = _error(path, FarmerConfig).splitlines()
    assert f"{path}: rsyncdd: unknown key" in lines
    assert f"{path}: rsyncd: required" in lines


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_missing_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.yaml"
    assert _error(path, MODELS[kind]) == f"{path}: no such file"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nagent: {name: [\n", "not valid YAML at line"),
        ("version: 1\n\tagent: 1\n", "not valid YAML"),
        ("just some words\n", "expected a YAML mapping at the top level, got str"),
        ("- 1\n- 2\n", "expected a YAML mapping at the top level, got list"),
        ("", "expected a YAML mapping at the top level, got NoneType"),
        ("agent: {}\n", "version: required"),
        ("version: 2\n", "version: unsupported version 2"),
        ("version: '1'\n", "version: unsupported version '1'"),
        ("version: true\n", "version: unsupported version True"),
        ("version: 1.0\n", "version: unsupported version 1.0"),
    ],
)
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_not_yaml_or_wrong_version(tmp_path: Path, kind: str, text: str, expected: str) -> None:
    path = _write(tmp_path, f"{kind}.yaml", text)
    message = _error(path, MODELS[kind])
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "plotter.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    assert _error(path, PlotterConfig) == f"{path}: not a text file (not UTF-8)"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert _error(tmp_path, PlotterConfig).startswith(f"{tmp_path}: cannot read")


def test_fleet_member_rules(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "fleet.yaml",
        "version: 1\nplotters:\n  - {name: a, address: 'a:1', tls_cert: /c}\n  - {name: a, address: 'no-port'}\n",
    )
    lines = _error(path, FleetConfig).splitlines()
    assert f"{path}: plotters[0]: tls_cert and tls_key go together" in lines
    assert any(line.startswith(f"{path}: plotters[1].address: ") for line in lines)


def test_fleet_duplicate_names(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "fleet.yaml", "version: 1\nfarmers: [{name: f, address: 'a:1'}, {name: f, address: 'b:1'}]\n"
    )
    assert "farmers: duplicate name(s) f" in _error(path, FleetConfig)


def test_config_values_are_frozen(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "farmer.yaml", EXAMPLES["farmer"]), FarmerConfig)
    with pytest.raises(Exception, match="frozen"):
        cfg.drives.min_free_bytes = 5


def test_a_key_given_twice_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    """safe_load keeps the last of two keys: a second `tokens:` would drop the first one's tokens without a word."""
    text = (
        EXAMPLES["plotter"]
        .replace("agent:\n", "agent:\n  tokens:\n    control: [{value: " + "c" * 20 + "}]\n", 1)
        .replace("agent:\n", "agent:\n  tokens: {}\n", 1)
    )
    assert text.count("tokens:") >= 2
    err = _error(_write(tmp_path, "plotter.yaml", text), PlotterConfig)
    assert err.startswith(f"{tmp_path / 'plotter.yaml'}: not valid YAML at line ") and "duplicate key 'tokens'" in err


def test_paths_expand_home_and_refuse_nul(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    fleet = "version: 1\nplotters: [{name: plotter-01, address: '127.0.0.1:8470', token_file: ~/t.token}]\n"
    cfg = load_config(_write(tmp_path, "fleet.yaml", fleet), FleetConfig)
    assert cfg.plotters[0].token_file == tmp_path / "t.token"
    bad = fleet.replace("~/t.token", '"a\\0b"')
    assert "plotters[0].token_file: a path cannot contain a NUL byte" in _error(
        _write(tmp_path, "fleet2.yaml", bad), FleetConfig
    )
