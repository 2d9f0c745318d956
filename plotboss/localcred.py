"""The local control credential of an agent that has no tokens configured.

As Chia's own daemon does (a per-install credential only its user can read), an agent without ``agent.tokens`` makes a
fresh random control token at every start and writes it to a file only its user can read, one per port:
``RUNTIME_DIR/agent-PORT.token`` (mode 0600, created atomically, removed at a clean stop). ``plotboss-cli`` on the same
machine, when it calls a loopback address without a token of its own, reads that file and sends it, if its user can
read it: root's CLI controls root's agent by itself, while any other local user gets read access only.

``RUNTIME_DIR`` is ``$PLOTBOSS_RUNTIME_DIR`` when set, else ``/run/plotboss`` for root, else
``$XDG_RUNTIME_DIR/plotboss``, else ``~/.plotboss/run``: agent and CLI work it out the same way.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from plotboss.safefile import open_regular

log = logging.getLogger(__name__)

ENV = "PLOTBOSS_RUNTIME_DIR"
_MAX_BYTES = 4096


def runtime_dir(env: Mapping[str, str] | None = None, euid: int | None = None) -> Path:
    """Where local credentials live for this user (see the module doc)."""
    env = os.environ if env is None else env
    if env.get(ENV):
        return Path(env[ENV])
    if (os.geteuid() if euid is None else euid) == 0:
        return Path("/run/plotboss")
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "plotboss"
    return Path.home() / ".plotboss" / "run"


def credential_path(port: int, base: Path | None = None) -> Path:
    return (runtime_dir() if base is None else base) / f"agent-{port}.token"


def _usable_token(text: str) -> bool:
    return 16 <= len(text) <= 1024 and all("!" <= c <= "~" for c in text)


class LocalCredential:
    """A fresh local control token, and the file that hands it to local clients of this agent's user."""

    def __init__(self, base: Path | None = None) -> None:
        self.token = secrets.token_hex(32)
        self.base = runtime_dir() if base is None else base
        self.path: Path | None = None

    def _check_dir(self) -> None:
        self.base.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(self.base)
        if not stat.S_ISDIR(st.st_mode):
            raise OSError(f"{self.base} is not a directory")
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            raise OSError(f"{self.base} must belong to uid {os.geteuid()} and be writable by it alone")

    def publish(self, port: int) -> Path:
        """Write the token for ``port``: a 0600 file created under a temporary name, then renamed into place (no one
        ever sees a partial or wider-open file). OSError (with the reason) when it cannot be done."""
        self._check_dir()
        path = credential_path(port, self.base)
        tmp = self.base / f".agent-{port}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, (self.token + "\n").encode())
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, path)
        self.path = path
        return path

    def withdraw(self) -> None:
        """Remove the file, if it still holds this token (another agent may have taken the port since)."""
        if self.path is None:
            return
        if read_credential(self.path) == self.token:
            try:
                self.path.unlink()
            except OSError as e:
                log.warning("cannot remove the local credential %s: %s", self.path, e.strerror or e)
        self.path = None

    def matches(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode(), self.token.encode())


def read_credential(path: Path) -> str | None:
    """The token in ``path`` when it is a regular file of this user's (or root's) that no one else may read or write,
    else None (a file anyone else could have written or read is no credential)."""
    try:
        fd = open_regular(path)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid not in (os.geteuid(), 0) or st.st_mode & 0o077 or st.st_size > _MAX_BYTES:
            return None
        text = os.read(fd, _MAX_BYTES).decode("ascii", errors="replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)
    return text if _usable_token(text) else None


def local_token(address: str) -> str | None:
    """The local credential of the agent at ``address`` (HOST:PORT), when the address is a loopback one and this user
    can read the credential; else None. A credential is never sent off this machine."""
    from plotboss.errors import ConfigError
    from plotboss.transport import is_loopback_host, split_host_port

    try:
        host, port = split_host_port(address)
    except ConfigError:
        return None
    if not is_loopback_host(host):
        return None
    return read_credential(credential_path(port))
