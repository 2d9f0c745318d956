"""Opening files that another user can name or swap: as what they are, never blocking.

Agents usually run as root, and some files they read live where other users can write (a plot job's log, in a log dir
the job's user can write). Such a file is opened with ``O_NOFOLLOW`` (a symlink put in its place is refused, not
followed to a file the user could not read), ``O_NONBLOCK`` (a FIFO put in its place cannot block the open) and
checked after the open: a regular file only, and, when the caller knows which file it must be (the one a job's fd
points to), that very file (same device and inode), so that a swapped parent directory or a hard link leads nowhere.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import NamedTuple

_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY


class FileId(NamedTuple):
    """Which file: the device and inode a path or an fd leads to."""

    dev: int
    ino: int


def file_id(st: os.stat_result) -> FileId:
    return FileId(st.st_dev, st.st_ino)


class NotRegularFile(OSError):
    """The path leads to something other than a regular file (a FIFO, a device, a directory, a symlink)."""


class NotThatFile(OSError):
    """The path leads to a regular file, but not to the one expected (it was replaced)."""


def kind_of(mode: int) -> str:
    """A word for what a file mode is, for messages."""
    for test, word in (
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return word
    return "not a regular file"


def open_regular(path: str | os.PathLike[str], expect: FileId | None = None) -> int:
    """An fd (the caller closes it) for reading the regular file at ``path``, without following a symlink there and
    without blocking; with ``expect``, only when it is that file.

    Raises FileNotFoundError and the like as ``os.open`` does; :class:`NotRegularFile` for a symlink (ELOOP from
    ``O_NOFOLLOW``), FIFO, device or directory; :class:`NotThatFile` when it is not ``expect``.
    """
    try:
        fd = os.open(path, _FLAGS)
    except OSError as e:
        if e.errno == errno.ELOOP:  # O_NOFOLLOW: the last component is a symlink
            raise NotRegularFile(e.errno, "a symlink, not a regular file", str(path)) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(0, f"{kind_of(st.st_mode)}, not a regular file", str(path))
        if expect is not None and file_id(st) != expect:
            raise NotThatFile(0, "not the file expected (it was replaced)", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


def regular_id(path: str | os.PathLike[str]) -> FileId | None:
    """The identity of the regular file ``path`` leads to (following links: ``/proc/PID/fd/N`` is one), or None when
    it is something else or cannot be stat'ed. A stat never opens, so it never blocks on a FIFO."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return file_id(st) if stat.S_ISREG(st.st_mode) else None
