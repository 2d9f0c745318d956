"""The archiver's record on disk, and its OS touchpoints: the transfer logs (which outcomes are handled), the rsync
processes in the process table, the pause state file, and deleting a source.

**The transfers dir is the record.** Every push writes ``<plot>.<reservation id>.rsync.log`` there (rsync's own
``--log-file``, see ``rsync_runner``). A log under that name whose rsync is no longer running holds an outcome not yet
acted on; once the archiver has acted on it (Complete and delete, or Release) it renames the log to
``<name>.<pid>.done`` or ``<name>.<pid>.failed`` (``mark_log``), so a restarted agent never acts on it twice. A push
retried on the same reservation (resume) writes a fresh log under the same name. The renamed logs stay as history
for ``archiving.transfer_log_retention_days`` (``remove_old_logs``); a log not marked handled is never removed.

**The pause survives a restart** in ``<config dir>/.<config name>.archiver.json`` (``archiving.state_file``), written
atomically as the scheduler's is.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from plotboss.statefile import load_word, save_word, state_path
from plotter_agent.rsync_runner import LOG_SUFFIX

_HANDLED_RE = re.compile(r"^plot-.+\.plot\.[0-9a-f]{32}" + re.escape(LOG_SUFFIX) + r"\.(?:[0-9]+|x)\.(?:done|failed)\Z")
_LOG_RE = re.compile(r"^(?P<plot>plot-.+\.plot)\.(?P<rid>[0-9a-f]{32})" + re.escape(LOG_SUFFIX) + r"\Z")
#: at most this much of a log's end is read (one run's closing lines are a few hundred bytes)
LOG_READ_BYTES = 256 * 1024

log = logging.getLogger(__name__)

ProcList = list[tuple[int, tuple[str, ...]]]


# --- process table ----------------------------------------------------------------------------------------------------


def rsync_processes(proc: str = "/proc", uid: int | None = None) -> ProcList:
    """(pid, argv) of every process of ours (run by the agent's user, or ``uid``) whose command is rsync (``comm``
    first: a cheap filter). Another user's rsync is never taken for one of our pushes, whatever its command line
    says. A zombie has no command line and is not listed: it has ended."""
    me = os.geteuid() if uid is None else uid
    out: ProcList = []
    try:
        names = os.listdir(proc)
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            if os.stat(f"{proc}/{name}").st_uid != me:
                continue
            with open(f"{proc}/{name}/comm", "rb") as f:
                if f.read(64).strip() != b"rsync":
                    continue
            with open(f"{proc}/{name}/cmdline", "rb") as f:
                raw = f.read(1 << 16)
        except OSError:
            continue
        argv = tuple(a.decode("utf-8", "replace") for a in raw.split(b"\0")[:-1])
        if argv:
            out.append((int(name), argv))
    return out


# --- transfer logs ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogName:
    path: str
    plot_name: str
    reservation_id: str


def pending_logs(log_dir: str) -> Iterator[LogName]:
    """The logs in ``log_dir`` not yet marked handled (regular files only, never followed)."""
    try:
        entries = list(os.scandir(log_dir))
    except OSError:
        return
    for e in entries:
        m = _LOG_RE.match(e.name)
        if m is None:
            continue
        try:
            if not e.is_file(follow_symlinks=False):
                continue
        except OSError:
            continue
        yield LogName(e.path, m["plot"], m["rid"])


def read_log(path: str) -> str:
    """The end of a transfer log ('' when it cannot be read: a symlink, not a regular file, gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return ""
        if st.st_size > LOG_READ_BYTES:
            os.lseek(fd, st.st_size - LOG_READ_BYTES, os.SEEK_SET)
        chunks = []
        while data := os.read(fd, 65536):
            chunks.append(data)
        return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def mark_log(path: str, pid: int | None, mark: str) -> str:
    """Rename a handled log to ``<path>.<pid>.<mark>`` (mark: done, failed); the new path ('' when it was gone)."""
    target = f"{path}.{pid if pid is not None else 'x'}.{mark}"
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return ""
    except OSError as e:
        # the outcome was acted on; left unmarked, a restarted agent acts on it again, which is harmless (Complete
        # then answers NOT_FOUND and ConfirmPlot decides; Release answers NOT_FOUND)
        log.error("cannot mark the transfer log %s handled: %s", path, e.strerror or e)
        return ""
    return target


def remove_old_logs(log_dir: str, older_than: float) -> int:
    """Remove the handled logs (``mark_log``'s names only, regular files, never followed) last written before
    ``older_than`` (epoch seconds); how many were removed. A log not marked handled is never touched."""
    removed = 0
    try:
        entries = list(os.scandir(log_dir))
    except OSError:
        return 0
    for e in entries:
        if _HANDLED_RE.match(e.name) is None:
            continue
        try:
            st = e.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or st.st_mtime >= older_than:
                continue
            os.unlink(e.path)
        except OSError:
            continue
        removed += 1
    return removed


# --- the source -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceId:
    dev: int
    ino: int
    size: int
    #: with the inode: a file put under the name anew may get the inode number just freed
    mtime_ns: int = 0


def source_id(path: str) -> SourceId | None:
    """The plot file's identity now (None: gone, or not a regular file)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return SourceId(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def delete_source(path: str, confirmed_size: int, expect: SourceId | None) -> str:
    """Delete the source of a plot the farmer confirmed, only when it is still that file: a regular file of exactly
    ``confirmed_size`` bytes and, when ``expect`` is given, the same inode, not modified since. '' when deleted (or
    already gone), else why it was kept."""
    now = source_id(path)
    if now is None:
        return "" if not os.path.lexists(path) else f"{path}: not a regular file any more; kept"
    if now.size != confirmed_size:
        return f"{path}: {now.size} bytes, the farmer confirmed {confirmed_size}; kept"
    if expect is not None and (now.dev, now.ino, now.mtime_ns) != (expect.dev, expect.ino, expect.mtime_ns):
        return f"{path}: replaced by another file since the transfer began; kept"
    try:
        os.unlink(path)
    except FileNotFoundError:
        return ""
    except OSError as e:
        return f"{path}: cannot delete: {e.strerror or e}"
    return ""


# --- pause state ------------------------------------------------------------------------------------------------------


def default_state_path(config_path: Path) -> Path:
    """``<config dir>/.<config name>.archiver.json``."""
    return state_path(config_path, "archiver")


def load_paused(path: Path) -> bool:
    """Whether the saved state is paused (False without a file; see ``plotboss.statefile``)."""
    return load_word(path, "archiver", ("running", "paused"), "running") == "paused"


def save_paused(path: Path, paused: bool, now: float) -> None:
    save_word(path, "paused" if paused else "running", now)


def stderr_detail(returncode: int | None, signal: int | None, tail: Sequence[str], lines: int = 3) -> str:
    """'rsync exit 11: <lines>' for the record of a failed push: the cause first. rsync ends a failure with one
    generic ``rsync error: ... (code N)`` line per side (sender, receiver, generator) after the message that says what
    went wrong (``rsync: [receiver] write failed on ...: No space left on device (28)``); the last lines alone would
    show only the generic ones. So: the messages (``rsync: ...``, the daemon's ``@ERROR: ...``; the latest
    ``lines - 1``), then the first generic line; a tail with neither gives its last lines."""
    kept = [t for t in tail if t.strip()]
    said = [t for t in kept if t.startswith(("rsync: ", "@ERROR"))][-(lines - 1) :] if lines > 1 else []
    generic = [t for t in kept if t.startswith("rsync error: ")][:1]
    chosen = [t for t in kept if t in said or t in generic][:lines] or kept[-lines:]
    head = f"rsync killed by signal {signal}" if signal is not None else f"rsync exit {returncode}"
    return head + (": " + " | ".join(chosen) if chosen else "")
