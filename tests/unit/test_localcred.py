"""The local credential of an agent without tokens: a 0600 file only its user can read, found by the CLI for loopback
addresses only, trusted only when no one else could have written or read it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plotboss.auth import TokenSet
from plotboss.localcred import ENV, LocalCredential, credential_path, local_token, read_credential, runtime_dir


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "run"
    monkeypatch.setenv(ENV, str(d))
    return d


def test_runtime_dir_is_worked_out_the_same_way_by_agent_and_cli() -> None:
    assert runtime_dir({ENV: "/x/y"}, euid=0) == Path("/x/y")
    assert runtime_dir({}, euid=0) == Path("/run/plotboss")
    assert runtime_dir({"XDG_RUNTIME_DIR": "/run/user/1000"}, euid=1000) == Path("/run/user/1000/plotboss")


def test_publish_makes_a_private_dir_and_a_0600_file_and_withdraw_removes_it(base: Path) -> None:
    cred = LocalCredential()
    path = cred.publish(8470)
    assert path == credential_path(8470) == base / "agent-8470.token"
    assert os.stat(base).st_mode & 0o777 == 0o700
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert [p.name for p in base.iterdir()] == ["agent-8470.token"]  # no temporary file left behind
    assert local_token("127.0.0.1:8470") == cred.token == local_token("localhost:8470") == local_token("[::1]:8470")
    cred.withdraw()
    assert not path.exists() and local_token("127.0.0.1:8470") is None


def test_a_credential_is_never_sent_off_the_machine(base: Path) -> None:
    LocalCredential().publish(8470)
    assert local_token("plotter-01:8470") is None
    assert local_token("192.0.2.7:8470") is None
    assert local_token("not an address") is None


def test_withdraw_leaves_another_agents_credential_alone(base: Path) -> None:
    first, second = LocalCredential(), LocalCredential()
    first.publish(8470)
    second.publish(8470)  # a later agent on the same port
    first.withdraw()
    assert local_token("127.0.0.1:8470") == second.token


def test_a_file_others_could_read_or_a_symlink_is_no_credential(base: Path, tmp_path: Path) -> None:
    cred = LocalCredential()
    path = cred.publish(8470)
    path.chmod(0o644)
    assert read_credential(path) is None
    path.chmod(0o600)
    assert read_credential(path) == cred.token
    elsewhere = tmp_path / "elsewhere.token"
    elsewhere.write_text(cred.token)
    elsewhere.chmod(0o600)
    path.unlink()
    path.symlink_to(elsewhere)
    assert read_credential(path) is None


def test_a_dir_others_can_write_is_refused(base: Path) -> None:
    base.mkdir(mode=0o700)
    base.chmod(0o777)
    with pytest.raises(OSError, match="writable by it alone"):
        LocalCredential().publish(8470)


def test_the_local_credential_does_not_count_as_configured_tokens() -> None:
    tokens = TokenSet(local=("local-" + "a" * 20,))
    assert not tokens.enabled
    assert tokens.is_local("local-" + "a" * 20)
    assert not tokens.is_local("local-" + "b" * 20) and not tokens.is_local("") and not tokens.is_local(None)
    assert tokens.role_of("local-" + "a" * 20) is None
