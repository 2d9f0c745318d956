"""`plotboss-cli config init|check` and fleet-file errors, through the real console script."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cli.targets import ClientOptions, resolve_targets
from plotboss.errors import ConfigError

CLI = str(Path(sys.executable).parent / "plotboss-cli")
KINDS = ["plotter", "farmer", "fleet"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    run = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in run.stderr, run.stderr
    return run


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`config init KIND` output of every kind, written to files."""
    root = tmp_path_factory.mktemp("examples")
    out = {}
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(lambda kind: _cli("config", "init", kind), KINDS))
    for kind, run in zip(KINDS, runs, strict=True):
        assert run.returncode == 0, run.stderr
        assert run.stdout.startswith(f"# {kind}.yaml")
        assert "version: 1" in run.stdout
        out[kind] = root / f"{kind}.yaml"
        out[kind].write_text(run.stdout)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_config_init_output_passes_config_check(examples: dict[str, Path], kind: str, tmp_path: Path) -> None:
    path = examples[kind]
    if kind == "plotter":  # its dirs must exist on the machine (logging.plots), so make the ones it names, here
        text = path.read_text()
        assert _cli("config", "check", kind, str(path)).returncode == 2  # /var/lib/plotboss/logs/plots is not here
        text = text.replace("/var/lib/plotboss/", f"{tmp_path}/var/").replace("/mnt/", f"{tmp_path}/mnt/")
        for d in ("var/logs/plots", "var/logs/transfers", "mnt/tmp/00", "mnt/tmp/01", "mnt/tmp2", "mnt/dst/00"):
            (tmp_path / d).mkdir(parents=True)
        path = tmp_path / "plotter.yaml"
        path.write_text(text)
    run = _cli("config", "check", kind, str(path))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"{path}: ok"


def test_an_example_of_one_kind_is_not_valid_as_another(examples: dict[str, Path]) -> None:
    run = _cli("config", "check", "fleet", str(examples["farmer"]))
    assert run.returncode == 2
    assert f"{examples['farmer']}: agent: unknown key" in run.stderr


def _fleet_cases(root: Path) -> list[tuple[Path, str]]:
    def write(name: str, text: str) -> Path:
        p = root / name / "fleet.yaml"
        p.parent.mkdir(parents=True)
        p.write_text(text)
        return p

    member = "{name: p1, address: '127.0.0.1:8470'}"
    cases = [
        (
            write("wrong-type", "version: 1\nplotters: [{name: p1, address: 8470}]\n"),
            "plotters[0].address: expected a string",
        ),
        (write("unknown-key", f"version: 1\nplotters: [{member}]\nfarmerz: []\n"), "farmerz: unknown key"),
        (
            write("member-key", "version: 1\nfarmers: [{name: f, address: 'a:1', tokn: x}]\n"),
            "farmers[0].tokn: unknown key",
        ),
        (write("no-version", f"plotters: [{member}]\n"), "version: required"),
        (write("version-2", f"version: 2\nplotters: [{member}]\n"), "version: unsupported version 2"),
        (write("not-yaml", "version: 1\nplotters: [{name: p1\n"), "not valid YAML at line"),
        (write("not-mapping", "plotter-01 127.0.0.1:8470\n"), "expected a YAML mapping at the top level, got str"),
    ]
    missing = root / "missing" / "fleet.yaml"
    cases.append((missing, "no such file"))
    return cases


def test_config_check_fleet_errors_exit_2(tmp_path: Path) -> None:
    cases = _fleet_cases(tmp_path)
    with ThreadPoolExecutor(max_workers=4) as pool:  # independent interpreter starts: overlap them
        runs = list(pool.map(lambda case: _cli("config", "check", "fleet", str(case[0])), cases))
    failures = []
    for (path, expected), run in zip(cases, runs, strict=True):
        if run.returncode != 2 or f"plotboss-cli: {path}: {expected}" not in run.stderr:
            failures.append(f"{path.parent.name}: exit {run.returncode}, stderr {run.stderr!r}, expected {expected!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("kind", ["plotter", "farmer"])
def test_config_check_agent_errors_exit_2(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.yaml"
    path.write_text("version: 1\nagent: {name: a, poll_s: soon}\n")
    run = _cli("config", "check", kind, str(path))
    assert run.returncode == 2
    assert f"{path}: agent.poll_s: expected a number" in run.stderr


def test_config_usage_errors_exit_2(tmp_path: Path) -> None:
    run = _cli("config", "init", "harvester")
    assert run.returncode == 2
    assert "harvester" in run.stderr
    run = _cli("config", "check", "fleet")
    assert run.returncode == 2


def test_fleet_file_errors_reach_the_commands_that_use_it(tmp_path: Path) -> None:
    """Every fleet-using command resolves its targets through resolve_targets: the same errors, file and field."""
    for path, expected in _fleet_cases(tmp_path):
        opts = ClientOptions(
            fleet=path, plotters=(), farmers=(), token_file=None, tls_ca=None, tls_cert=None, tls_key=None
        )
        with pytest.raises(ConfigError) as exc:
            resolve_targets(opts, "plotter")
        assert f"{path}: {expected}" in str(exc.value)


def test_fleet_member_token_file_problems_name_the_member(tmp_path: Path) -> None:
    empty = tmp_path / "empty.token"
    empty.write_text("")
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "version: 1\nfarmers:\n"
        "  - {name: f0, address: 'a:1'}\n"
        f"  - {{name: f1, address: 'b:1', token_file: {empty}}}\n"
    )
    opts = ClientOptions(fleet=path, plotters=(), farmers=(), token_file=None, tls_ca=None, tls_cert=None, tls_key=None)
    with pytest.raises(ConfigError, match=rf"^{path}: farmers\[1\]\.token_file: file {empty} is empty$"):
        resolve_targets(opts, "farmer")
    with pytest.raises(ConfigError, match=rf"^{path}: plotters: the fleet file lists no plotters$"):
        resolve_targets(opts, "plotter")


def test_config_check_runs_the_start_checks(tmp_path: Path) -> None:
    """`config check` says ok only for what the agent would start with: token files read, TLS files read, and the
    listen address's need for --insecure said as a warning."""
    ok_token = tmp_path / "control.token"
    ok_token.write_text("c" * 32 + "\n")
    base = (
        "version: 1\nagent: {name: plotter-01, listen: '%s', tokens: {control: [{file: %s}]}}\n"
        f"logging: {{plots: {tmp_path}}}\ndirectories: {{tmp: [{tmp_path}], dst: [{tmp_path}]}}\n"
    )
    missing = tmp_path / "missing.yaml"
    missing.write_text(base % ("127.0.0.1:8470", tmp_path / "nope.token"))
    run = _cli("config", "check", "plotter", str(missing))
    assert run.returncode == 2 and f"{missing}: agent.tokens.control[0]: cannot read file" in run.stderr
    binary = tmp_path / "binary.token"
    binary.write_bytes(b"\xff\xfe" + b"0" * 30)
    bad = tmp_path / "binary.yaml"
    bad.write_text(base % ("127.0.0.1:8470", binary))
    run = _cli("config", "check", "plotter", str(bad))
    assert run.returncode == 2 and "is not UTF-8 text" in run.stderr
    public = tmp_path / "public.yaml"
    public.write_text(base % ("0.0.0.0:8470", ok_token))
    run = _cli("config", "check", "plotter", str(public))
    assert run.returncode == 0 and run.stdout.strip() == f"{public}: ok"
    assert "warning:" in run.stderr and "refusing to listen on 0.0.0.0:8470 without TLS" in run.stderr
    assert "only with --insecure" in run.stderr
    dup = tmp_path / "dup.yaml"
    dup.write_text(
        "version: 1\nagent:\n  name: plotter-01\n  listen: '127.0.0.1:8470'\n"
        f"  tokens:\n    control: [{{file: {ok_token}}}]\n  tokens: {{}}\n"
        f"logging: {{plots: {tmp_path}}}\ndirectories: {{tmp: [{tmp_path}], dst: [{tmp_path}]}}\n"
    )
    run = _cli("config", "check", "plotter", str(dup))
    assert run.returncode == 2 and "duplicate key 'tokens'" in run.stderr


def test_fleet_paths_are_relative_to_the_fleet_file_and_tls_files_are_checked(tmp_path: Path) -> None:
    home = tmp_path / "fleet"
    home.mkdir()
    (home / "p.token").write_text("p" * 32)
    fleet = home / "fleet.yaml"
    fleet.write_text("version: 1\nplotters: [{name: plotter-01, address: '127.0.0.1:8470', token_file: p.token}]\n")
    opts = ClientOptions(
        fleet=fleet, plotters=(), farmers=(), token_file=None, tls_ca=None, tls_cert=None, tls_key=None
    )
    (target,) = resolve_targets(opts, "plotter")  # found next to the fleet file, whatever the working dir
    assert target.token == "p" * 32
    fleet.write_text("version: 1\nplotters: [{name: plotter-01, address: '127.0.0.1:8470', tls_ca: ca.pem}]\n")
    run = _cli("--fleet", str(fleet), "status")
    assert run.returncode == 2
    assert f"{fleet}: plotters[0].tls_ca: cannot read {home / 'ca.pem'}" in run.stderr


def test_cli_tls_and_token_options_are_checked_before_any_call(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("x")
    run = _cli("--plotter", "127.0.0.1:1", "--tls-cert", str(cert), "--tls-key", str(cert), "status")
    assert run.returncode == 2 and "--tls-cert/--tls-key need --tls-ca" in run.stderr  # not plaintext
    run = _cli("--plotter", "127.0.0.1:1", "--tls-ca", str(tmp_path / "nope.pem"), "status")
    assert run.returncode == 2 and f"--tls-ca: cannot read {tmp_path / 'nope.pem'}" in run.stderr
    token = tmp_path / "t"
    token.write_text("\u00e9" * 20)
    run = _cli("--plotter", "127.0.0.1:1", "--token-file", str(token), "status")
    assert run.returncode == 2 and "--token-file: a token must be printable ASCII" in run.stderr
