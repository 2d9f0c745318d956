"""All plot logs in the configured log dir: followers for running jobs, parse-once results for the rest.

Costs per :meth:`LogLibrary.refresh`, whatever the number of old logs:

- one ``stat`` per active log (a follower reads only appended bytes, and only when the size changed);
- a directory listing only when the directory's mtime changed (a file was added, removed or renamed), checked at most
  every ``scan_interval_s``, plus a full listing every ``full_scan_interval_s`` in case a change fell within the same
  mtime tick as a listing;
- ``restat_batch`` old logs re-stat'ed round-robin: a log whose (size, mtime) changed is parsed again, others never.

An old log is parsed once; a finished job's log is handed over from its follower without being read again.

Every read is of a regular file as it is (``plotboss.safefile``): a symlink, FIFO or device in the log dir is never
followed, opened for reading or waited on, and an active job's log is read only when it is the file the job's fd points
to; anyone who can write in the log dir can only hide their own job's log, never show another file's content.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from plotboss.safefile import FileId, file_id, open_regular
from plotter_agent.logparse import LogFollower, LogInfo, parse_fd
from plotter_agent.progress import EtaModel

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    size: int
    mtime_ns: int
    info: LogInfo


class LogLibrary:
    """All logs in the configured plot log dir; scales to 2,000+ completed logs cheaply."""

    def __init__(
        self,
        log_dir: Path,
        clock: Callable[[], float] = time.time,
        *,
        scan_interval_s: float = 5.0,
        full_scan_interval_s: float = 60.0,
        restat_batch: int = 32,
        parse_budget_s: float | None = None,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.clock = clock
        self.scan_interval_s = scan_interval_s
        self.full_scan_interval_s = full_scan_interval_s
        self.restat_batch = restat_batch
        #: When set, a refresh stops parsing newly found logs after this many seconds and goes on at the next one.
        self.parse_budget_s = parse_budget_s
        #: Whole-file parses done so far (a counter for tests and metrics).
        self.parses = 0
        self._followers: dict[Path, LogFollower] = {}
        self._follower_names: dict[Path, str | None] = {}  # active path -> its name when it lies in log_dir
        self._entries: dict[str, _Entry] = {}
        self._pending: list[str] = []
        self._order: list[str] = []
        self._cursor = 0
        self._dir_mtime_ns: int | None = None
        self._last_scan = -float("inf")
        self._last_full_scan = -float("inf")
        self._generation = 0
        self._completed: tuple[int, list[LogInfo]] = (-1, [])
        self._model: tuple[int, EtaModel] = (-1, EtaModel())
        self._real_dir: str | None = None

    # -- active logs -------------------------------------------------------------------------------------------

    def follower(self, path: Path) -> LogFollower:
        """The follower of ``path`` (created on first use)."""
        path = Path(path)
        f = self._followers.get(path)
        if f is None:
            f = self._followers[path] = LogFollower(path, clock=self.clock)
            name = self._name_in_dir(path)
            self._follower_names[path] = name
            old = self._entries.pop(name, None) if name is not None else None
            if old is not None:
                self._changed(old.info)
        return f

    def _name_in_dir(self, path: Path) -> str | None:
        if self._real_dir is None:
            self._real_dir = os.path.realpath(self.log_dir)
        parent = os.path.realpath(path.parent)
        return path.name if parent == self._real_dir else None

    def _retire(self, path: Path, f: LogFollower) -> None:
        """A job's log is no longer active: keep what its follower parsed as the log's entry, without re-reading."""
        name = self._follower_names.pop(path, None)
        followed = f.file
        try:
            f.poll(followed)  # the last bytes of the file the job wrote, whatever is at the path now
            f.parser.flush()
            st = os.lstat(path)
        except OSError:
            return
        except Exception:
            log.exception("log %s: final poll failed", path)
            return
        finally:
            f.close()
        if name is not None and followed is not None and file_id(st) == followed and st.st_size == f.offset:
            self._entries[name] = _Entry(st.st_size, st.st_mtime_ns, f.info)
            self._order.append(name)
            self._changed(f.info)
        elif name is not None:  # not read to the end yet (or it changed meanwhile): parse it whole
            self._pending.append(name)

    # -- refresh -----------------------------------------------------------------------------------------------

    def refresh(self, active: Iterable[Path] = (), ids: Mapping[Path, FileId] | None = None) -> None:
        """Poll the active logs; find new and changed old ones (cheaply, see the module doc).

        ``ids``: the file each active log must be (the one its job's fd points to); a log without one is read as the
        regular file at its path.
        """
        active_paths = {Path(p) for p in active}
        for path in active_paths:
            try:
                self.follower(path).poll((ids or {}).get(path))
            except Exception:  # a bad log never takes the agent down
                log.exception("log %s: poll failed", path)
        for path in [p for p in self._followers if p not in active_paths]:
            self._retire(path, self._followers.pop(path))
        now = self.clock()
        if now - self._last_scan >= self.scan_interval_s:
            self._last_scan = now
            self._scan(full=now - self._last_full_scan >= self.full_scan_interval_s, now=now)
        self._parse_pending()
        self._restat_some()

    def _active_names(self) -> set[str]:
        return {n for n in self._follower_names.values() if n is not None}

    def _scan(self, *, full: bool, now: float) -> None:
        try:
            mtime_ns = os.stat(self.log_dir).st_mtime_ns
        except OSError as e:
            if self._dir_mtime_ns is not None or self._entries:
                log.warning("plot log dir %s: %s", self.log_dir, e)
            self._dir_mtime_ns = None
            return
        if not full and mtime_ns == self._dir_mtime_ns:
            return
        if full:
            self._last_full_scan = now
        try:
            with os.scandir(self.log_dir) as it:
                names = {e.name for e in it if not e.name.startswith(".") and e.is_file(follow_symlinks=False)}
        except OSError as e:
            log.warning("plot log dir %s: %s", self.log_dir, e)
            return
        self._dir_mtime_ns = mtime_ns
        gone = [n for n in self._entries if n not in names]
        for n in gone:
            self._changed(self._entries.pop(n).info)
        if gone:
            self._order = list(self._entries)
            self._cursor = 0
        active = self._active_names()
        queued = set(self._pending)
        self._pending.extend(sorted(n for n in names if n not in self._entries and n not in active and n not in queued))

    def _parse_pending(self) -> None:
        if not self._pending:
            return
        deadline = None if self.parse_budget_s is None else time.monotonic() + self.parse_budget_s
        active = self._active_names()
        done = 0
        for name in self._pending:
            done += 1
            if name not in self._entries and name not in active:
                self._parse(name)
            if deadline is not None and time.monotonic() >= deadline:
                break
        del self._pending[:done]

    def _parse(self, name: str) -> None:
        path = self.log_dir / name
        try:
            fd = open_regular(path)
        except OSError as e:  # gone, or no longer a regular file: no entry
            log.debug("log %s: not read: %s", path, e.strerror or e)
            gone = self._entries.pop(name, None)
            if gone is not None:
                self._changed(gone.info)
            return
        try:
            st = os.fstat(fd)
            info = parse_fd(fd)
        except OSError as e:
            log.warning("cannot read log %s: %s", path, e.strerror or e)
            info = LogInfo()
        except Exception:  # parse_fd does not raise on bad input; this guards against bugs
            log.exception("log %s: parse failed", path)
            info = LogInfo()
        finally:
            os.close(fd)
        self.parses += 1
        old = self._entries.get(name)
        self._entries[name] = _Entry(st.st_size, st.st_mtime_ns, info)
        if old is None:
            self._order.append(name)
            self._changed(info)
        else:
            self._changed(info, old.info)

    def _restat_some(self) -> None:
        if not self._order:
            return
        n = min(self.restat_batch, len(self._order))
        for _ in range(n):
            if self._cursor >= len(self._order):
                self._cursor = 0
            name = self._order[self._cursor]
            self._cursor += 1
            entry = self._entries.get(name)
            if entry is None:
                continue
            try:
                st = os.lstat(self.log_dir / name)
            except OSError:
                self._changed(self._entries.pop(name).info)
                continue
            if not stat.S_ISREG(st.st_mode):  # replaced by a symlink, FIFO...: no longer a log
                self._changed(self._entries.pop(name).info)
                continue
            if (st.st_size, st.st_mtime_ns) != (entry.size, entry.mtime_ns):
                self._parse(name)
        if len(self._order) > 2 * max(len(self._entries), 1):
            self._order = list(self._entries)
            self._cursor = 0

    def _changed(self, *infos: LogInfo) -> None:
        """Note that entries with these infos were added, removed or replaced; only completed ones matter."""
        if any(i.completed for i in infos):
            self._generation += 1

    # -- views ---------------------------------------------------------------------------------------------------

    def completed(self) -> list[LogInfo]:
        """Infos of the old logs whose plot completed."""
        gen, infos = self._completed
        if gen != self._generation:
            infos = [e.info for e in self._entries.values() if e.info.completed]
            self._completed = (self._generation, infos)
        return list(infos)

    def old_infos(self) -> list[LogInfo]:
        """Infos of the old logs (no running job writes them), complete or not."""
        return [e.info for e in self._entries.values()]

    def infos(self) -> list[LogInfo]:
        """Infos of every known log: old ones (complete or not) and those of active jobs."""
        return [e.info for e in self._entries.values()] + [f.info for f in self._followers.values()]

    def eta_model(self) -> EtaModel:
        """Cached; rebuilt only when the completed set changes."""
        gen, model = self._model
        if gen != self._generation:
            model = EtaModel.learn(self.completed())
            self._model = (self._generation, model)
        return model
