"""Running real processes as an unprivileged local user (``nobody``), for the tests of what a local user can do.

The agents under test run as root (as plotters usually do); the attacker's processes run as uid/gid 65534 through
``setpriv``. Where that cannot be done (not root, no setpriv), the tests skip saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

NOBODY = 65534
SETPRIV = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def nobody_unavailable() -> str | None:
    """Why processes cannot be run as nobody here, or None when they can."""
    if os.geteuid() != 0:
        return f"running a process as another user needs root (these tests run as uid {os.geteuid()})"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    try:
        out = subprocess.run([*SETPRIV, "id", "-u"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return f"setpriv does not work here: {e}"
    if out.returncode != 0 or out.stdout.strip() != str(NOBODY):
        return f"setpriv could not switch to uid {NOBODY}: {out.stderr.strip()}"
    return None


def require_nobody() -> None:
    reason = nobody_unavailable()
    if reason is not None:
        pytest.skip(reason)


def as_nobody(cmd: Sequence[str]) -> list[str]:
    """``cmd`` run as nobody (no supplementary groups)."""
    return [*SETPRIV, *cmd]


def run_as_nobody(*cmd: str, timeout: float = 30, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(as_nobody(cmd), capture_output=True, text=True, timeout=timeout, check=False, **kw)  # type: ignore[call-overload, no-any-return]


@contextmanager
def shared_dir() -> Iterator[Path]:
    """A fresh root-owned dir under /tmp that nobody may enter (pytest's tmp_path is private to root); removed after."""
    root = Path(tempfile.mkdtemp(prefix="plotboss-localuser-", dir="/tmp"))
    try:
        os.chmod(root, 0o755)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def nobody_dir(path: Path) -> Path:
    """Make ``path`` a dir owned by nobody (it can create, remove and swap files in it)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, NOBODY, NOBODY)
    os.chmod(path, 0o755)
    return path
