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
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from farmer_agent.ledger import ID_RE, Reservation
from plotboss.errors import ConfigError

log = logging.getLogger(__name__)

FORMAT = 1


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


def _row(row: Any, where: str) -> Reservation:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected an object")
    try:
        r = Reservation(
            id=str(row["id"]),
            plot_name=str(row["plot_name"]),
            size_bytes=int(row["size_bytes"]),
            requester=str(row["requester"]),
            drive=str(row["drive"]),
            create_time=float(row["create_time"]),
            expire_time=float(row["expire_time"]),
        )
    except KeyError as e:
        raise ValueError(f"{where}: missing {e.args[0]}") from None
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None
    if not ID_RE.match(r.id):
        raise ValueError(f"{where}: bad id {r.id!r}")
    return r


def decode(data: bytes, label: str) -> list[Reservation]:
    """Parse a state file; ConfigError naming the file on anything unexpected."""
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"expected an object with format {FORMAT}")
        rows = doc.get("reservations")
        if not isinstance(rows, list):
            raise ValueError("reservations: expected a list")
        return [_row(row, f"reservations[{i}]") for i, row in enumerate(rows)]
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"{label}: not a plotboss farmer state file ({e}); move it away to start afresh (reservations in flight "
            "are then rebuilt from the rsync temp files on the drives)"
        ) from None


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
