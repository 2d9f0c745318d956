"""Reading the small files a config names (secrets, TLS files, config files) as what they are: regular files.

A FIFO named as a token file blocked the agent (and the CLI) in open() at start, where SIGTERM could not stop it;
/dev/zero ended in a MemoryError. Here a file is looked at before it is opened (a device is never opened: opening some
has effects), opened non-blocking, checked again on the open descriptor, and read up to a size cap.

Symlinks are followed: these paths are the operator's choice (certificates often live behind symlinks, as with
Let's Encrypt's live/ dir), and what the link points to must be a regular file all the same.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: Secrets, PEM files (a CA bundle is ~200 KiB) and configs are far smaller.
MAX_SMALL_FILE_BYTES = 1024 * 1024

_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def _check(st: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise OSError(errno.EINVAL, f"not a regular file: it is {kind}")
    if st.st_size > max_bytes:
        raise OSError(errno.EFBIG, f"larger than {max_bytes} bytes ({st.st_size}): not the file meant")


def read_small_file(path: Path, max_bytes: int = MAX_SMALL_FILE_BYTES) -> bytes:
    """The whole content of a regular file of at most ``max_bytes``; OSError (with a strerror that says what is
    wrong) for anything else. Never blocks on a FIFO or reads from a device."""
    _check(os.stat(path), max_bytes)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        _check(os.fstat(fd), max_bytes)  # what was opened, in case the path changed since
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 64 * 1024):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:  # grew while being read
                raise OSError(errno.EFBIG, f"larger than {max_bytes} bytes: not the file meant")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_small_text(path: Path, max_bytes: int = MAX_SMALL_FILE_BYTES) -> str:
    """read_small_file decoded as UTF-8 (UnicodeDecodeError when it is not)."""
    return read_small_file(path, max_bytes).decode("utf-8")
