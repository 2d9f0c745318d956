"""Incremental parsing of plotter logs (chia/chiapos, madMAx, bladebit).

:class:`LogParser` is fed bytes in any chunking and keeps a partial last line until its newline comes, so feeding a
log one byte at a time or whole ends in the same :class:`LogInfo`. The plotter is recognised from the log itself
(the first line that only one format prints); after that only that format's handlers run. A log follows its job's
current plot: in a multi-plot job (``chia plots create -n 2``, madMAx ``-n``, bladebit ``-n``), the line with which
the plotter starts another plot, once the current one reached PHASE_DONE, starts a fresh :class:`LogInfo` with
``plot_index`` one higher. Within a plot the phase never goes back; ``(plot_index, phase)`` never goes back at all.
A line about an earlier plot that comes late (madMAx finishes copying plot 1 while plot 2 runs) is ignored.

:class:`LogFollower` reads one file incrementally: each poll reads only the bytes added since the last one.

Nothing here raises on bad input: undecodable bytes are replaced, NUL bytes and ANSI codes dropped, over-long lines
skipped.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from plotboss.safefile import FileId, file_id, open_regular
from plotter_agent.plotters import bladebit, chia, madmax, timings
from plotter_agent.plotters.base import (
    PHASE_DONE,
    HandlerSet,
    LogInfo,
    Plotter,
    block_filter,
    clean_line,
    line_filter,
)

__all__ = ["PHASE_DONE", "LogFollower", "LogInfo", "LogParser", "Plotter", "parse_fd", "parse_file"]

log = logging.getLogger(__name__)

#: A line longer than this is skipped whole (no real plotter line comes near it); bounds the memory a bad log can take.
MAX_LINE_BYTES = 64 * 1024
#: At most this many bytes are read from a log per poll; the rest comes in later polls.
MAX_READ_BYTES = 16 * 1024 * 1024

_FORMATS: tuple[tuple[Plotter, HandlerSet], ...] = (
    (Plotter.MADMAX, madmax.handlers),
    (Plotter.BLADEBIT, bladebit.handlers),
    (Plotter.CHIA, chia.handlers),
)
_IDENTIFY = (
    (madmax.identify, madmax.handlers),
    (bladebit.identify, bladebit.handlers),
    (chia.identify, chia.handlers),
)
for _plotter, _handlers in _FORMATS:  # the lines that time the work (the log's clock) get past the byte filter too
    _handlers.also_read(timings.PREFIXES.get(_plotter, ()))
#: Lines worth decoding before the format is known: those that identify a format, and chia's header lines.
_PRE_PREFIXES = (*madmax.IDENTIFY_PREFIXES, *bladebit.IDENTIFY_PREFIXES, *chia.IDENTIFY_PREFIXES)
_PRE_FILTER = line_filter(_PRE_PREFIXES)
_PRE_BLOCK_FILTER = block_filter(_PRE_PREFIXES)


class LogParser:
    """Feed it a log's bytes as they come; :attr:`info` holds what the log says so far."""

    def __init__(self) -> None:
        self._info = LogInfo()
        self._handlers: HandlerSet | None = None
        self._partial = bytearray()
        self._skipping = False  # inside an over-long line: drop bytes until its newline
        self._header_start: float | None = None
        #: Bytes fed so far (including a partial last line).
        self.bytes_fed = 0

    @property
    def info(self) -> LogInfo:
        return self._info

    def feed(self, data: bytes) -> None:
        """Take more bytes of the log; complete lines are parsed now, a partial last line when its newline comes."""
        if not data:
            return
        self.bytes_fed += len(data)
        last_nl = data.rfind(b"\n")
        if last_nl < 0:
            self._keep(data)
            return
        first_nl = data.find(b"\n")
        # The pending partial line ends at the first newline.
        self._keep(data[:first_nl])
        if not self._skipping:
            self._line_bytes(bytes(self._partial))
        self._partial.clear()
        self._skipping = False
        if last_nl > first_nl:
            self._block(data, first_nl, last_nl)
        self._keep(data[last_nl + 1 :])

    def flush(self) -> None:
        """The log ended: parse a last line that has no newline."""
        if self._partial and not self._skipping:
            self._line_bytes(bytes(self._partial))
        self._partial.clear()
        self._skipping = False

    def _keep(self, piece: bytes) -> None:
        if self._skipping or not piece:
            return
        if len(self._partial) + len(piece) > MAX_LINE_BYTES:
            self._partial.clear()
            self._skipping = True
            return
        self._partial += piece

    def _block(self, data: bytes, start: int, end: int) -> None:
        """The complete lines between the newlines at ``start`` and ``end`` of ``data``. Most cannot match any handler
        (chiapos's thousands of ``Bucket`` lines) and are skipped by a bytes prefilter without being decoded: one
        regex search through the block when it holds no carriage return (the usual case), else line by line."""
        if data.find(b"\r", start, end) >= 0:
            self._lines(data[start + 1 : end])
            return
        pos = start
        while pos < end:
            pattern = self._block_filter()
            for m in pattern.finditer(data, pos, end):
                if m.end() - m.start() - 1 <= MAX_LINE_BYTES:
                    self._line_bytes(m.group()[1:])
                if self._block_filter() is not pattern:  # identifying the format changes the filter
                    pos = m.end()
                    break
            else:
                return

    def _lines(self, block: bytes) -> None:
        match = self._filter().match
        for raw in block.split(b"\n"):
            if (match(raw) is not None or b"\r" in raw) and len(raw) <= MAX_LINE_BYTES:
                self._line_bytes(raw)
                match = self._filter().match  # identifying the format changes the filter

    def _block_filter(self) -> re.Pattern[bytes]:
        return self._handlers.block_filter if self._handlers is not None else _PRE_BLOCK_FILTER

    def _filter(self) -> re.Pattern[bytes]:
        return self._handlers.byte_filter if self._handlers is not None else _PRE_FILTER

    def _line_bytes(self, raw: bytes) -> None:
        if not raw or (self._filter().match(raw) is None and b"\r" not in raw):
            return
        text = raw.decode("utf-8", errors="replace")
        for part in text.split("\r") if "\r" in text else (text,):
            line = clean_line(part)
            if line:
                try:
                    self._line(line)
                except Exception:  # a handler bug must not take the agent down; the line is skipped
                    log.exception("skipping a log line the parser choked on: %.200r", line)

    def _line(self, line: str) -> None:
        info = self._info
        handlers = self._handlers
        if handlers is not None and info.phase >= PHASE_DONE and handlers.starts_next_plot(line):
            info = self._info = info.next_plot()
        if info.completed:
            return
        if handlers is None:
            if info.start_time is None:
                info.start_time = chia.header_start_time(line)
            for identify, candidate in _IDENTIFY:
                if identify(line):
                    handlers = self._handlers = candidate
                    info.plotter = candidate.plotter
                    if candidate is not chia.handlers:
                        info.start_time = None  # a chia header time belongs to a chia-launched chiapos job only
                    break
            else:
                return
        timings.note(handlers.plotter, line, info)
        handlers.apply(line, info)


class LogFollower:
    """Incremental reader of one log file: each :meth:`poll` parses only the bytes added since the last one.

    The file is opened once, as what it is (:func:`plotboss.safefile.open_regular`: a regular file, no symlink followed,
    never blocking) and read through that fd from then on, so swapping the path afterwards leads nowhere. Call
    :meth:`close` when done.
    """

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.parser = LogParser()
        self.offset = 0
        #: when the log last grew, on ``clock``: its mtime when first read, then the clock's time of each poll that
        #: found new bytes (stall detection compares it with the same clock's now)
        self.last_growth = 0.0
        self._clock = clock
        self._fd: int | None = None
        self._file: FileId | None = None
        #: How many times parsing started over (file truncated or replaced).
        self.restarts = 0
        #: Why the log could not be opened at the last try ("" when it could, or has not been tried).
        self.problem = ""

    @property
    def info(self) -> LogInfo:
        return self.parser.info

    @property
    def file(self) -> FileId | None:
        """The file being read (None before it could be opened)."""
        return self._file

    def poll(self, expect: FileId | None = None) -> bool:
        """Read what was added since the last poll; True if the info changed. A missing file is not an error.

        With ``expect`` (the file a job's fd points to), only that file is read: a file at the path that is not it is
        never read, and a different ``expect`` (the job writes another file now) starts over. Without it, another
        file at the path (replaced) starts over.
        """
        if self._fd is not None and self._replaced(expect):
            self._restart()
        first = self._fd is None
        if first and not self._open(expect):
            return False
        assert self._fd is not None
        try:
            st = os.fstat(self._fd)
            if st.st_size < self.offset:  # truncated: parse its new content from the start
                self._restart(keep_file=True)
                first = True
            if st.st_size == self.offset and not first:
                return False
            before = self.parser.info.copy()
            data = os.pread(self._fd, MAX_READ_BYTES, self.offset)
        except OSError as e:
            log.debug("cannot read %s: %s", self.path, e)
            return False
        if data:
            self.offset += len(data)
            self.parser.feed(data)
            self.last_growth = st.st_mtime if first else self._clock()
        elif first:
            self.last_growth = st.st_mtime
        return self.parser.info != before

    def _replaced(self, expect: FileId | None) -> bool:
        if expect is not None:
            return expect != self._file
        try:
            st = os.lstat(self.path)
        except OSError:
            return False  # removed: what was read stays, and the open fd may still grow
        return file_id(st) != self._file

    def _open(self, expect: FileId | None) -> bool:
        try:
            fd = open_regular(self.path, expect)
        except FileNotFoundError:
            self.problem = ""
            return False
        except OSError as e:
            problem = e.strerror or str(e)
            if problem != self.problem:
                log.info("log %s: not read: %s", self.path, problem)
            self.problem = problem
            return False
        self.problem = ""
        self._fd = fd
        self._file = file_id(os.fstat(fd))
        return True

    def _restart(self, keep_file: bool = False) -> None:
        log.info("log %s was truncated or replaced; parsing it again from the start", self.path)
        self.parser = LogParser()
        self.offset = 0
        self.restarts += 1
        if not keep_file:
            self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._file = None


def parse_fd(fd: int) -> LogInfo:
    """Parse a whole log from an open fd (from its start, at most ``4 * MAX_READ_BYTES``)."""
    parser = LogParser()
    pos = 0
    while chunk := os.pread(fd, 1 << 20, pos):
        pos += len(chunk)
        parser.feed(chunk)
        if parser.bytes_fed >= MAX_READ_BYTES * 4:
            break
    parser.flush()
    return parser.info


def parse_file(path: Path) -> LogInfo:
    """Parse a whole log (e.g. of a finished job), a regular file only (a symlink is not followed). An unreadable
    file gives an empty LogInfo, never an error."""
    try:
        fd = open_regular(path)
    except OSError as e:
        log.warning("cannot read log %s: %s", path, e.strerror or e)
        return LogInfo()
    try:
        return parse_fd(fd)
    except OSError as e:
        log.warning("cannot read log %s: %s", path, e.strerror or e)
        return LogInfo()
    finally:
        os.close(fd)
