"""The files of one plot on one drive, and the time box for disk touches: what landed (Complete's check), which
final-name files carry a plot id (Reserve's look at the drive it grants), what a removal takes.

Every function here joins nothing but a bare plot name (``parse_plot_name``) to a drive's path, never follows a
symlink, never descends into a sub-dir but the archiver's partial dir (``drive/PARTIAL_DIR``, opened O_NOFOLLOW), whose
file ``NAME`` is a temp file of plot NAME like rsync's ``.NAME.XXXXXX``.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from farmer_agent.drives import RSYNC_TEMP_RE, open_partial_dir
from plotboss.errors import FailedPrecondition
from plotboss.plots import PARTIAL_DIR, is_plot_name, parse_plot_name

#: How far a landed plot's allocated blocks (st_blocks * 512) may fall short of its size and still count as written
#: (a file system may keep a last partial block in its metadata); a sparse file falls short by nearly all of it.
SPARSE_SLACK_BYTES = 64 * 1024
#: A final-name file whose inode changed (ctime) more than this before its reservation began was not written under it
#: (the kernel stamps ctime from a coarse clock, a little behind ``time.time()``).
CTIME_SLACK_S = 1.0


def landed_size(drive: str, plot_name: str) -> int | None:
    """Size of the plot landed as ``drive/plot_name``, None when nothing is there; FailedPrecondition naming the file
    when what is there is not a plot written onto this drive: a landed plot is a regular file (never a symlink,
    never followed), has one link (a hard link would be a file elsewhere, which may change or go), and has blocks
    allocated for its size (a sparse file of the right size holds no plot; ``SPARSE_SLACK_BYTES`` of slack); where
    the block count falls short, the file is sparse only if the file system also shows a hole (SEEK_HOLE) before
    its end (ZFS counts blocks only once writes are synced)."""
    parse_plot_name(plot_name)  # never join anything but a bare plot name
    path = os.path.join(drive, plot_name)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        raise FailedPrecondition(f"{path}: {what}; a landed plot is a regular file written onto this drive")
    if st.st_nlink != 1:
        raise FailedPrecondition(
            f"{path}: has {st.st_nlink} links (a hard link to a file elsewhere); a landed plot is a file of its own"
        )
    on_disk = st.st_blocks * 512
    if on_disk < st.st_size - SPARSE_SLACK_BYTES:
        # Some file systems (ZFS) count a file's blocks only once its writes are synced, a few seconds after they
        # landed: ask the file system where the first hole is before calling the file sparse.
        hole = _first_hole(path, st)
        if hole < st.st_size - SPARSE_SLACK_BYTES:
            raise FailedPrecondition(
                f"{path}: sparse ({on_disk} of its {st.st_size} bytes allocated, a hole at byte {hole}); a landed "
                "plot has all its bytes written"
            )
    return st.st_size


def _first_hole(path: str, st: os.stat_result) -> int:
    """Offset of the first hole in the file ``st`` describes (its size when it has none); 0 when that cannot be told
    (the file was replaced meanwhile, or the file system cannot say)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            return 0
        return os.lseek(fd, 0, os.SEEK_HOLE)
    except OSError:
        return 0
    finally:
        os.close(fd)


def find_plot_id(drive: str, plot_id: str) -> list[str]:
    """Names of the entries of ``drive`` (of any type) under a final plot name with ``plot_id``: Reserve's own look at
    the drive it grants, for plots landed since its last probe."""
    found = []
    with os.scandir(drive) as it:
        for e in it:
            if plot_id in e.name and is_plot_name(e.name) and parse_plot_name(e.name).plot_id == plot_id:
                found.append(e.name)
    return sorted(found)


@dataclass(frozen=True)
class Cleanup:
    """What ``remove_partials`` did."""

    #: the removed paths, sorted
    removed: list[str]
    #: the file under the final name was the plot, whole (a regular file of exactly the size asked for): kept
    kept: bool = False
    #: the file under the final name was there before the reservation began (not written under it): left alone
    foreign: bool = False


def remove_partials(drive: str, plot_name: str, whole_size: int, since: float) -> Cleanup:
    """Remove this plot's temp files (rsync's ``.NAME.XXXXXX``, the partial-dir file ``PARTIAL_DIR/NAME``) and its file
    under the final name from ``drive`` only,
    except a final file that is a regular file of exactly ``whole_size`` bytes (the plot landed whole, and is kept),
    and a final file not written since ``since`` (wall-clock time the reservation began; its inode's ctime, which
    every write and rename stamps, is older, with ``CTIME_SLACK_S`` of slack): a file that was there before the
    reservation is not this reservation's to remove.

    Never descends into sub-dirs, never removes a directory, never touches another plot's files.
    """
    return _remove_plot_files(drive, plot_name, whole_size, since)


def remove_temps(drive: str, plot_name: str) -> list[str]:
    """Remove this plot's temp files (``.NAME.XXXXXX``, ``PARTIAL_DIR/NAME``) from ``drive`` only, never its final
    file (an archived plot). Same care as ``remove_partials``."""
    return _remove_plot_files(drive, plot_name, None, 0.0).removed


def _remove_plot_files(drive: str, plot_name: str, whole_size: int | None, since: float) -> Cleanup:
    """``whole_size`` None: the temp files only."""
    parse_plot_name(plot_name)
    removed: list[str] = []
    kept = foreign = False
    with os.scandir(drive) as it:
        for entry in it:
            m = RSYNC_TEMP_RE.match(entry.name)
            is_final = whole_size is not None and entry.name == plot_name
            if not is_final and (m is None or m["name"] != plot_name):
                continue
            if entry.is_dir(follow_symlinks=False):
                continue
            if is_final:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISREG(st.st_mode) and st.st_size == whole_size:
                    kept = True
                    continue
                if st.st_ctime < since - CTIME_SLACK_S:
                    foreign = True
                    continue
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed.append(entry.path)
    if _remove_partial_dir_file(drive, plot_name):
        removed.append(os.path.join(drive, PARTIAL_DIR, plot_name))
    return Cleanup(sorted(removed), kept, foreign)


def _remove_partial_dir_file(drive: str, plot_name: str) -> bool:
    """Unlink ``drive/PARTIAL_DIR/plot_name`` unless it is a dir (the partial dir is never followed if a symlink,
    an unlink never follows one); True when it was there."""
    fd = open_partial_dir(drive)
    if fd is None:
        return False
    try:
        try:
            st = os.stat(plot_name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            return False
        try:
            os.unlink(plot_name, dir_fd=fd)
        except FileNotFoundError:
            return False
        return True
    finally:
        os.close(fd)


T = TypeVar("T")


class TimedOut(FailedPrecondition):
    """A time-boxed disk touch has not answered in time (it goes on in its thread)."""


def time_boxed(fn: Callable[[], T], timeout_s: float, what: str) -> T:
    """Run ``fn`` in a daemon thread; TimedOut when it has not answered within ``timeout_s`` (``fn`` then goes on
    in its thread: whatever must happen when it really ends belongs in ``fn``)."""
    box: list[T] = []
    err: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as e:
            err.append(e)
        finally:
            done.set()

    threading.Thread(target=run, name=f"io {what}", daemon=True).start()
    if not done.wait(timeout_s):
        raise TimedOut(f"{what}: the drive did not answer within {timeout_s:g} s")
    if err:
        raise err[0]
    return box[0]
