"""The reservations state file: written atomically (temp file, fsync, rename, fsync of the dir) after every change,
read back at start so that a restart (even after SIGKILL) keeps every reservation and its id.

Default location when ``reservations.state_file`` is unset: next to the config,
``<config dir>/.<config stem>.state.json``.

Writes are group-committed: a caller returns once a state at least as new as its change is on disk, and callers
arriving while a write is under way share the next one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from farmer_agent.ledger import ID_RE, Reservation, check_request
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
    requester pass Reserve's own checks (``ledger.check_request``), times lie within years 1..9999 (what a protobuf
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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


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

    def save(self, at_least: int) -> None:
        """Return once a state of version ``at_least`` or newer is on disk."""
        with self._lock:
            if self._written >= at_least:
                return
            version, rows = self._export()
            self._write(self.path, encode(rows))
            self._written = version

    def save_now(self) -> None:
        with self._lock:
            version, rows = self._export()
            self._write(self.path, encode(rows))
            self._written = version
