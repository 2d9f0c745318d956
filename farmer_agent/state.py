"""The reservations state file: written atomically (temp file, fsync, rename, fsync of the dir) after every change,
read back at start so that a restart (even after SIGKILL) keeps every reservation and its id.

Default location when ``reservations.state_file`` is unset: next to the config,
``<config dir>/.<config stem>.state.json``.

Writes are group-committed: a caller returns once a state at least as new as its change is on disk, and callers
arriving while a write is under way share the next one.

One farmer per state file: the agent holds an exclusive lock (flock) on ``<state file>.lock`` for its whole life, and
writes its pid, name and listen address into it; a second agent on the same state file (two farmers would each hand
out every drive, and overwrite each other's state) stops at start with exit 2, naming the holder. The kernel lets go
of the lock when the holder exits, however it ends (SIGKILL too).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from farmer_agent.reservation import ID_RE, Reservation, check_request
from plotboss.atomic import write_atomic
from plotboss.errors import ConfigError, InvalidArgument
from plotboss.plots import is_plot_name

log = logging.getLogger(__name__)

FORMAT = 1

#: the times a protobuf Timestamp holds (0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z), as epoch seconds
MIN_TIME = -62135596800
MAX_TIME = 253402300799


def default_state_path(config_path: Path) -> Path:
    return config_path.parent / f".{config_path.stem}.state.json"


def encode(reservations: list[Reservation]) -> bytes:
    rows = [
        {
            "id": r.id,
            "plot_name": r.plot_name,
            "size_bytes": r.size_bytes,
            "requester": r.requester,
            "drive": r.drive,
            "create_time": r.create_time,
            "expire_time": r.expire_time,
        }
        for r in reservations
    ]
    return json.dumps({"format": FORMAT, "reservations": rows}, separators=(",", ":")).encode()


def _int(row: dict[str, Any], key: str) -> int:
    v = row[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{key}: expected an integer, got {_show(v)}")
    return v


def _time(row: dict[str, Any], key: str) -> float:
    v = row[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{key}: expected a finite number of seconds, got {_show(v)}")
    if not MIN_TIME <= v <= MAX_TIME:
        raise ValueError(f"{key}: {_show(float(v))} is outside years 1..9999")
    return float(v)


def _str(row: dict[str, Any], key: str) -> str:
    v = row[key]
    if not isinstance(v, str):
        raise ValueError(f"{key}: expected a string, got {_show(v)}")
    return v


def _show(v: object) -> str:
    return repr(v)[:40]


def _row(row: Any, where: str) -> Reservation:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected an object")
    try:
        r = Reservation(
            id=_str(row, "id"),
            plot_name=_str(row, "plot_name"),
            size_bytes=_int(row, "size_bytes"),
            requester=_str(row, "requester"),
            drive=_str(row, "drive"),
            create_time=_time(row, "create_time"),
            expire_time=_time(row, "expire_time"),
        )
    except KeyError as e:
        raise ValueError(f"{where}: missing {e.args[0]}") from None
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    if not ID_RE.match(r.id):
        raise ValueError(f"{where}: bad id {r.id[:40]!r}")
    if not is_plot_name(r.plot_name):
        raise ValueError(f"{where}: plot_name {r.plot_name[:100]!r} is not a plot name")
    try:
        check_request(r.plot_name, r.size_bytes, r.requester)  # what Reserve accepts, nothing more
    except InvalidArgument as e:
        raise ValueError(f"{where}: {e}") from None
    if not _is_drive_path(r.drive):
        raise ValueError(f"{where}: drive: expected an absolute path, got {_show(r.drive)}")
    return r


def _is_drive_path(path: str) -> bool:
    """An absolute path a reply can carry (protobuf strings are UTF-8: no lone surrogates) and the OS can take."""
    try:
        path.encode()
    except UnicodeEncodeError:
        return False
    return os.path.isabs(path) and "\x00" not in path


def decode(data: bytes, label: str) -> list[Reservation]:
    """Parse a state file; ConfigError naming the file on anything unexpected (sizes must be integers and times
    finite numbers; a number too large for a float or JSON nested too deep is refused, not a traceback).

    Each row must also be what Reserve could have made, so that every later reply can carry it (an out-of-range
    value would fail ListReservations and ListDrives with INTERNAL until the next restart): the plot name, size and
    requester pass Reserve's own checks (``reservation.check_request``), times lie within years 1..9999 (what a protobuf
    Timestamp holds), the drive is an absolute path."""
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"expected an object with format {FORMAT}")
        rows = doc.get("reservations")
        if not isinstance(rows, list):
            raise ValueError("reservations: expected a list")
        return [_row(row, f"reservations[{i}]") for i, row in enumerate(rows)]
    except RecursionError:
        reason = "JSON nested too deep"
    except (ValueError, UnicodeDecodeError, OverflowError) as e:
        reason = str(e)
    raise ConfigError(
        f"{label}: not a plotboss farmer state file ({reason}); move it away to start afresh (reservations in flight "
        "are then rebuilt from the rsync temp files on the drives)"
    )


def load(path: Path) -> list[Reservation]:
    """The reservations saved in ``path``; none when it does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the state file: {e.strerror or e}") from None
    return decode(data, str(path))


class StateWriter:
    """Saves the ledger's reservations after changes, group-committing concurrent callers."""

    def __init__(
        self,
        path: Path,
        export: Callable[[], tuple[int, list[Reservation]]],
        write: Callable[[Path, bytes], None] = write_atomic,
    ) -> None:
        self.path = path
        self._export = export
        self._write = write
        self._lock = threading.Lock()
        self._written = -1

    def save(self, at_least: int, undo: Sequence[Callable[[], object]] = ()) -> None:
        """Return once a state of version ``at_least`` or newer is on disk. When the write fails, ``undo`` (the
        caller's change, see ``reservation.Undo``) is run, in reverse, before the writer lock is let go (so that no
        later write can carry the change the caller is told did not happen), and the OSError raised."""
        with self._lock:
            if self._written >= at_least:
                return
            version, rows = self._export()
            try:
                self._write(self.path, encode(rows))
            except OSError:
                for fn in reversed(undo):
                    fn()
                raise
            self._written = version

    def save_now(self) -> None:
        with self._lock:
            version, rows = self._export()
            self._write(self.path, encode(rows))
            self._written = version


def lock_path(state_path: Path) -> Path:
    return state_path.with_name(f"{state_path.name}.lock")


def _address(host: str, port: int) -> str:
    """HOST:PORT as the CLI takes it: an IPv4-mapped IPv6 address (a dual-stack socket) as IPv4, IPv6 in brackets."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"{host}:{port}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is None:
            return f"[{ip}]:{port}"
        ip = ip.ipv4_mapped
    return f"{ip}:{port}"


def _describe_holder(data: bytes) -> str:
    """The lock holder as its lock file tells (pid, name, listen address) and, when the process can be looked at,
    the addresses it really listens on."""
    try:
        doc = json.loads(data)
        pid = int(doc["pid"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return "a process that has not written its pid yet"
    parts = [f"pid {pid}"]
    name = doc.get("agent")
    if isinstance(name, str) and name.isprintable():
        parts.append(f"agent {name[:80]}")
    listening: list[str] = []
    with contextlib.suppress(psutil.Error, OSError):
        conns = psutil.Process(pid).net_connections(kind="tcp")
        listening = sorted({_address(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN})
    if listening:
        parts.append("listening on " + ", ".join(listening))
    elif isinstance(doc.get("listen"), str) and doc["listen"].isprintable():
        parts.append(f"configured to listen on {doc['listen'][:80]}")
    return ", ".join(parts)


class StateLock:
    """The exclusive lock on a state file's lock file (see the module doc), held until ``release``."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, state_path: Path, agent: str, listen: str, label: str) -> StateLock:
        """Take the lock of ``state_path`` or raise ConfigError (``label``: the config setting) naming the holder."""
        path = lock_path(state_path)
        try:
            # read-only: an agent holding a file open for writing would keep its file system from a read-only remount
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise ConfigError(f"{label}: cannot open the lock file {path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            try:
                holder = _describe_holder(os.pread(fd, 4096, 0)) if isinstance(e, BlockingIOError) else ""
            except OSError:
                holder = "a process that could not be told"
            finally:
                os.close(fd)
            if not holder:
                raise ConfigError(f"{label}: cannot lock {path}: {e.strerror or e}") from None
            raise ConfigError(
                f"{label}: {state_path} is in use by another farmer agent ({holder}; lock {path}); two farmers on one "
                "state file would hand out every drive twice: stop that one, or give this one its own "
                "reservations.state_file"
            ) from None
        try:  # through a descriptor of its own: closing it keeps the flock, which belongs to ``fd``'s open file
            wfd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.write(wfd, json.dumps({"pid": os.getpid(), "agent": agent, "listen": listen}).encode() + b"\n")
            finally:
                os.close(wfd)
        except OSError as e:  # the lock holds all the same; only the holder's description is missing
            log.warning("cannot write %s: %s", path, e.strerror or e)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor lets go of the flock
            self._fd = None
