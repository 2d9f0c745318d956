"""Archive drives: which ones (paths and globs), what each holds, and a time-boxed background prober.

A drive must be a mount point unless ``drives.allow_non_mount``: an unmounted drive is an empty dir on the root file
system, and filling it fills ``/``. Such a drive (and a path that does not exist) is reported ``missing`` and the
ledger never reserves on it.

Each probe (list the dir, then statvfs) runs in its own thread and is given ``probe_timeout_s``; a drive whose probe
has not answered is reported ``error`` and never stalls ListDrives, which answers from the last snapshot. While a
probe of a drive is still hanging, no second one is started for it (threads never pile up on a hung drive).

The listing is taken *before* statvfs, so the bytes a transfer has written (seen in the listing) are never more than
what the free space already accounts for; the ledger relies on that to count reserved space down as a temp file grows.

More than one file for one plot on a drive (the temp file of a transfer that died plus the new one's, or a stale
temp file next to the final file): ``written`` credits the *smallest*. Which file is the live transfer's cannot be
told from a listing, and every one of them is already counted in ``free``; crediting the smallest makes the ledger
count at least what the live transfer still has to write (it may hold a few bytes too many until the stale file is
removed), where crediting the largest would let it promise the same bytes twice.

A killed push leaves its partial file in the archiver's partial dir: ``<drive>/.plotboss-partial/NAME``
(``plotboss.plots.PARTIAL_DIR``, rsync ``--partial-dir``). It is a temp file of plot NAME like ``.NAME.XXXXXX`` (listed
in ``temp_files`` as ``.plotboss-partial/NAME``, credited to ``written`` by the same smallest rule: a resumed push
moves it into place as its basis, so it is never counted on top of the new temp file). Only a regular file directly in
that dir, the dir itself a real dir (opened O_NOFOLLOW: a symlink there is never followed, the farmer runs as root).

Sizes are counted in the drive's allocation blocks (statvfs ``f_frsize``, ``DriveInfo.block_size``): a file of
``n`` bytes takes ``allocated(n, block_size)`` of the free space, so a reservation is counted rounded up to whole
blocks (four plots of 4 KiB + 1 byte take 32 KiB, not 16).

Each snapshot carries two times: ``probe_time`` (wall clock, shown to clients) and ``probe_mono`` (monotonic, taken
before the probe started), by which the ledger orders probes and completions; a wall-clock step never reorders them.
"""

from __future__ import annotations

import enum
import errno
import functools
import glob
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from plotboss.plots import PARTIAL_DIR, is_plot_name, parse_plot_name

log = logging.getLogger(__name__)

#: rsync's temp file for NAME while it receives it: ``.NAME.XXXXXX`` (six random letters/digits) in the same dir.
RSYNC_TEMP_RE = re.compile(r"^\.(?P<name>plot-k[0-9]{2}-.+\.plot)\.[A-Za-z0-9]{6}\Z")


def temp_plot(temp: str) -> str | None:
    """The plot a ``DriveInfo.temp_files`` entry is a temp file of (``.NAME.XXXXXX``, or ``PARTIAL_DIR/NAME``)."""
    head, sep, tail = temp.partition("/")
    if sep:
        return tail if head == PARTIAL_DIR and is_plot_name(tail) else None
    m = RSYNC_TEMP_RE.match(temp)
    return None if m is None else m["name"]


def open_partial_dir(drive: str) -> int | None:
    """An fd of ``drive/PARTIAL_DIR`` opened without following a symlink (the caller closes it); None when there is
    no such dir, or it is a symlink or not a dir (nothing of a push is kept there then)."""
    try:
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        return os.open(os.path.join(drive, PARTIAL_DIR), flags)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:  # a symlink: never followed
            return None
        raise


def partial_dir_files(drive: str) -> list[tuple[str, int]]:
    """(plot name, size) of each regular file under a plot name in ``drive/PARTIAL_DIR`` (see the module doc)."""
    fd = open_partial_dir(drive)
    if fd is None:
        return []
    try:
        out = []
        with os.scandir(fd) as it:
            for entry in it:
                if not is_plot_name(entry.name):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    out.append((entry.name, st.st_size))
        return out
    finally:
        os.close(fd)


class DriveState(enum.Enum):
    OK = "ok"
    FULL = "full"
    MISSING = "missing"
    READ_ONLY = "read-only"
    ERROR = "error"


@dataclass(frozen=True)
class DriveInfo:
    """One drive as the last probe saw it. ``written`` maps a plot name to the bytes already on this drive for it
    (its rsync temp file, its partial-dir file or its final file; the smallest when there are several, see the module
    doc): a transfer in progress. ``temp_files``: ``.NAME.XXXXXX`` and ``PARTIAL_DIR/NAME`` (``temp_plot``)."""

    path: str
    state: DriveState
    error: str = ""
    total_bytes: int = 0
    free_bytes: int = 0
    plot_count: int = 0
    plot_bytes: int = 0
    largest_plot_bytes: int = 0
    plots: frozenset[str] = frozenset()
    #: size of each file under a final plot name (``plots``)
    plot_sizes: Mapping[str, int] = field(default_factory=dict)
    written: Mapping[str, int] = field(default_factory=dict)
    temp_files: tuple[str, ...] = ()
    #: Wall-clock time the probe started (before listing and statvfs); 0 when never probed. Shown to clients only.
    probe_time: float = 0.0
    #: Monotonic-clock time at or before the probe started, stamped by the prober: what the ledger orders probes and
    #: completions by (a wall-clock step, e.g. by NTP, must not make every fresh probe look older than the last one).
    probe_mono: float = 0.0
    #: the drive's allocation block (statvfs f_frsize): what every size is rounded up to (1: count bytes)
    block_size: int = 1

    @functools.cached_property
    def plot_ids(self) -> Mapping[str, tuple[str, ...]]:
        """The names of the files in ``plots`` by plot id (one id under several names is one plot held twice)."""
        out: dict[str, list[str]] = {}
        for name in sorted(self.plots):
            out.setdefault(parse_plot_name(name).plot_id, []).append(name)
        return {k: tuple(v) for k, v in out.items()}

    def allocated(self, n: int) -> int:
        """What ``n`` bytes of a file take of this drive's free space: whole blocks."""
        return allocated(n, self.block_size)

    @property
    def usable(self) -> bool:
        """True when reservations may be placed here (space permitting)."""
        return self.state in (DriveState.OK, DriveState.FULL)

    @property
    def listed(self) -> bool:
        """True when the probe really listed the drive (its plots, temp files and free space are what it saw); a
        probe that failed, hung or found the drive missing lists nothing, which says nothing about its files."""
        return self.state in (DriveState.OK, DriveState.FULL, DriveState.READ_ONLY)


def allocated(n: int, block_size: int) -> int:
    """``n`` bytes rounded up to whole blocks of ``block_size`` (never less than ``n``; 0 stays 0)."""
    if n <= 0:
        return 0
    return -(-n // block_size) * block_size


@dataclass(frozen=True)
class DiskSpace:
    total_bytes: int
    free_bytes: int
    read_only: bool
    #: the allocation block (statvfs f_frsize); 1 when unknown
    block_size: int = 1


def statvfs_space(path: str) -> DiskSpace:
    """Production disk-space seam: bytes available to unprivileged users (f_bavail), so the root reserve is spared."""
    st = os.statvfs(path)
    return DiskSpace(
        total_bytes=st.f_blocks * st.f_frsize,
        free_bytes=st.f_bavail * st.f_frsize,
        read_only=bool(st.f_flag & os.ST_RDONLY),
        block_size=max(1, st.f_frsize or st.f_bsize),
    )


SpaceFn = Callable[[str], DiskSpace]
ProbeFn = Callable[[str, float], DriveInfo]


def is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def expand_paths(patterns: Sequence[str]) -> list[str]:
    """Explicit paths as given (even when missing: they are reported so) plus the dirs each glob matches; absolute,
    normalised, de-duplicated, sorted."""
    out: set[str] = set()
    for pat in patterns:
        pat = os.path.abspath(os.path.expanduser(pat))
        if is_glob(pat):
            # a trailing separator makes glob keep directories only (from d_type: no stat of each mount)
            out.update(os.path.normpath(m) for m in glob.glob(os.path.join(pat, "")))
        else:
            out.add(os.path.normpath(pat))
    return sorted(out)


def probe_drive(
    path: str, now: float, *, allow_non_mount: bool, space: SpaceFn = statvfs_space, ismount: Callable[[str], bool]
) -> DriveInfo:
    """Look at one drive: mount check, listing (plots, rsync temp files), then free space. Never raises."""
    try:
        if not os.path.isdir(path):
            return DriveInfo(path, DriveState.MISSING, "no such directory", probe_time=now)
        if not allow_non_mount and not ismount(path):
            return DriveInfo(
                path, DriveState.MISSING, "not a mount point (drives.allow_non_mount is false)", probe_time=now
            )
        plots: dict[str, int] = {}
        plot_bytes = largest = 0
        written: dict[str, int] = {}
        temps: list[str] = []
        with os.scandir(path) as it:
            for entry in it:
                name = entry.name
                m = RSYNC_TEMP_RE.match(name)
                if m is None and not is_plot_name(name):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                if m is not None:
                    temps.append(name)
                    key = m["name"]
                else:
                    key = name
                    plots[name] = st.st_size
                    plot_bytes += st.st_size
                    largest = max(largest, st.st_size)
                # the smallest of a plot's files: see "More than one file for one plot" in the module doc
                written[key] = min(written.get(key, st.st_size), st.st_size)
            for name, size in partial_dir_files(path):
                temps.append(f"{PARTIAL_DIR}/{name}")
                written[name] = min(written.get(name, size), size)
        sp = space(path)
    except OSError as e:
        return DriveInfo(path, DriveState.ERROR, f"probe failed: {e.strerror or e}", probe_time=now)
    state = DriveState.READ_ONLY if sp.read_only else DriveState.OK
    return DriveInfo(
        path=path,
        state=state,
        error="read-only file system" if sp.read_only else "",
        total_bytes=sp.total_bytes,
        free_bytes=sp.free_bytes,
        plot_count=len(plots),
        plot_bytes=plot_bytes,
        largest_plot_bytes=largest,
        plots=frozenset(plots),
        plot_sizes=plots,
        written=written,
        temp_files=tuple(sorted(temps)),
        probe_time=now,
        block_size=max(1, sp.block_size),
    )


def make_probe(allow_non_mount: bool, space: SpaceFn = statvfs_space) -> ProbeFn:
    def probe(path: str, now: float) -> DriveInfo:
        return probe_drive(path, now, allow_non_mount=allow_non_mount, space=space, ismount=os.path.ismount)

    return probe


class _Pending:
    """One probe running in its own thread."""

    def __init__(self, probe: ProbeFn, path: str, now: float, started: float) -> None:
        """``now``: wall-clock time given to the probe; ``started``: monotonic time stamped on its result."""
        self.path = path
        self.started = started
        self.result: DriveInfo | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(probe, now), name=f"probe {path}", daemon=True)
        self.thread.start()

    def _run(self, probe: ProbeFn, now: float) -> None:
        try:
            self.result = replace(probe(self.path, now), probe_mono=self.started)
        except Exception as e:  # a probe seam must not kill the prober
            log.exception("probe of %s failed", self.path)
            self.result = DriveInfo(
                self.path, DriveState.ERROR, f"probe failed: {e}", probe_time=now, probe_mono=self.started
            )
        finally:
            self.done.set()


class DriveProber:
    """Keeps a snapshot of every drive, refreshed every ``poll_s`` by a background thread (or by ``refresh()``)."""

    def __init__(
        self,
        patterns: Sequence[str],
        *,
        probe: ProbeFn,
        poll_s: float,
        timeout_s: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` (wall) stamps ``probe_time``; ``monotonic`` times the probes and stamps ``probe_mono`` (give the
        ledger the same one)."""
        self._patterns = list(patterns)
        self._probe = probe
        self._poll_s = poll_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._monotonic = monotonic
        self._pending: dict[str, _Pending] = {}
        self._snapshot: tuple[DriveInfo, ...] = ()
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> tuple[DriveInfo, ...]:
        with self._lock:
            return self._snapshot

    def refresh(self) -> tuple[DriveInfo, ...]:
        """Probe every drive (in parallel, each time-boxed) and publish the new snapshot."""
        with self._refresh_lock:
            paths = expand_paths(self._patterns)
            now = self._clock()
            start = self._monotonic()
            hung: dict[str, DriveInfo] = {}
            round_: list[_Pending] = []
            for p in paths:
                old = self._pending.get(p)
                if old is not None and not old.done.is_set():
                    waited = start - old.started
                    hung[p] = DriveInfo(
                        p,
                        DriveState.ERROR,
                        f"probe hung for {waited:.0f} s (drive not answering)",
                        probe_time=now,
                        probe_mono=start,
                    )
                    continue
                pend = _Pending(self._probe, p, now, start)
                self._pending[p] = pend
                round_.append(pend)
            deadline = start + self._timeout_s
            for pend in round_:
                pend.done.wait(max(0.0, deadline - self._monotonic()))
            out: list[DriveInfo] = []
            for p in paths:
                if p in hung:
                    out.append(hung[p])
                    continue
                pend = self._pending[p]
                if pend.done.is_set() and pend.result is not None:
                    out.append(pend.result)
                    del self._pending[p]
                else:
                    out.append(
                        DriveInfo(
                            p,
                            DriveState.ERROR,
                            f"probe timed out after {self._timeout_s:g} s",
                            probe_time=now,
                            probe_mono=start,
                        )
                    )
            # forget finished probes of drives that went away
            for p in [p for p, pend in self._pending.items() if p not in paths and pend.done.is_set()]:
                del self._pending[p]
            snap = tuple(out)
            with self._lock:
                self._snapshot = snap
            return snap

    def start(self, initial: bool = True) -> None:
        """Start the background refresh (after a first, synchronous one unless ``initial`` is false)."""
        if initial:
            self.refresh()
        self._thread = threading.Thread(target=self._loop, name="drive-prober", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.refresh()
            except Exception:
                log.exception("drive refresh failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._timeout_s + 1)
