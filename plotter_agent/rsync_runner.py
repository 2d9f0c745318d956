"""One rsync push of a plot into a farmer's rsync daemon module: the command line, the launch (through a seam), the
progress (from ``--info=progress2``), and the outcome (exit status, signal, last stderr lines).

Choices, and why:

- **Temp names, never ``--inplace``**: rsync writes ``.NAME.XXXXXX`` in the target dir and renames it to ``NAME``
  only when the file is whole, so a final ``*.plot`` name on the farmer is always a whole plot (DESIGN invariant 5).
- **Resume with ``--partial-dir=.plotboss-partial``**, not ``--partial``: ``--partial`` keeps an interrupted file
  under its *final* name, which breaks invariant 5. With a partial dir the daemon moves the interrupted temp file to
  ``<drive>/.plotboss-partial/NAME``; a retry to the same drive uses it as the basis (only the missing part crosses
  the wire) and rsync deletes it once the plot is whole. A retry elsewhere does not see it; the farmer has to remove
  it when the reservation ends (the farmer's Release does not know this dir yet: see the report / README).
- **Password through ``RSYNC_PASSWORD`` in the child's environment**, never on the command line (which every local
  user can read in /proc); the user goes into the URL (``rsync://user@host:port/module/...``).
- **Recognisable command line**: every transfer has ``--log-file=<log_dir>/<plot name>.<reservation id>.rsync.log``.
  It is useful in itself (rsync's own log of the transfer, next to the plot logs), harmless, and names the plot and
  the reservation, so a restarted agent finds its transfers in the process table with :func:`parse_argv` (it looks
  only at rsync processes whose log file is in its own transfers dir) and can Complete or Release them.
- ``--timeout``/``--contimeout`` so a dead peer ends the transfer (rc 30 / 35) instead of hanging it.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Protocol

from plotboss.errors import FailedPrecondition, InvalidArgument
from plotboss.plots import PARTIAL_DIR as PARTIAL_DIR  # re-exported: shared with the farmer
from plotboss.plots import parse_plot_name

log = logging.getLogger(__name__)

LOG_SUFFIX = ".rsync.log"
STDERR_LINES = 20
_LOG_NAME_RE = re.compile(r"^(?P<plot>plot-.+\.plot)\.(?P<rid>[0-9a-f]{32})" + re.escape(LOG_SUFFIX) + r"\Z")


@dataclass(frozen=True)
class TransferSpec:
    #: absolute path of the plot to send
    source: str
    #: the reservation's rsync URL of the target dir (``rsync://host:port/module/sub/``)
    url: str
    reservation_id: str
    #: where rsync's own log of the transfer goes (logging.transfers)
    log_dir: str
    user: str = ""
    password: str | None = None
    bwlimit_kbps: int = 0
    #: rsync --timeout: I/O silence that ends the transfer (rc 30)
    io_timeout_s: int = 60
    #: rsync --contimeout: connecting to the daemon (rc 35)
    connect_timeout_s: int = 20
    #: keep an interrupted transfer in the partial dir, and use it when retrying to the same drive
    resume: bool = True

    def __post_init__(self) -> None:
        if not os.path.isabs(self.source):
            raise InvalidArgument(f"transfer source {self.source!r}: must be an absolute path")
        parse_plot_name(os.path.basename(self.source))
        if not self.url.startswith("rsync://") or not self.url.endswith("/"):
            raise InvalidArgument(f"transfer url {self.url!r}: expected rsync://HOST:PORT/MODULE/DIR/")
        if not re.fullmatch(r"[0-9a-f]{32}", self.reservation_id):
            raise InvalidArgument(f"reservation id {self.reservation_id!r}: expected 32 lower-case hex digits")
        if self.user and not re.fullmatch(r"[A-Za-z0-9._-]+", self.user):
            raise InvalidArgument(f"rsync user {self.user!r}: letters, digits, '.', '_' and '-' only")
        if self.bwlimit_kbps < 0:
            raise InvalidArgument(f"bwlimit_kbps {self.bwlimit_kbps}: must be >= 0")

    @property
    def plot_name(self) -> str:
        return os.path.basename(self.source)

    @property
    def log_file(self) -> str:
        return os.path.join(self.log_dir, f"{self.plot_name}.{self.reservation_id}{LOG_SUFFIX}")

    @property
    def target_url(self) -> str:
        if not self.user:
            return self.url
        return "rsync://" + self.user + "@" + self.url.removeprefix("rsync://")


def build_argv(spec: TransferSpec, rsync: str = "rsync") -> list[str]:
    argv = [rsync, "--info=progress2", f"--timeout={spec.io_timeout_s}", f"--contimeout={spec.connect_timeout_s}"]
    if spec.resume:
        argv.append(f"--partial-dir={PARTIAL_DIR}")
    if spec.bwlimit_kbps > 0:
        argv.append(f"--bwlimit={spec.bwlimit_kbps}")
    argv += [f"--log-file={spec.log_file}", spec.source, spec.target_url]
    return argv


def build_env(spec: TransferSpec, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: ``base`` (default: ours) without any inherited RSYNC_PASSWORD, plus the spec's."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k != "RSYNC_PASSWORD"}
    if spec.password is not None:
        env["RSYNC_PASSWORD"] = spec.password
    return env


@dataclass(frozen=True)
class RecoveredTransfer:
    """A transfer found in the process table: what its command line says."""

    plot_name: str
    reservation_id: str
    source: str
    url: str
    log_file: str


def parse_argv(argv: Sequence[str], log_dir: str) -> RecoveredTransfer | None:
    """The transfer an rsync command line is, when it is one this agent starts (log file in ``log_dir``); else None."""
    if not argv or os.path.basename(argv[0]) != "rsync" or len(argv) < 3:
        return None
    logs = [a.removeprefix("--log-file=") for a in argv if a.startswith("--log-file=")]
    if len(logs) != 1 or os.path.dirname(os.path.normpath(logs[0])) != os.path.normpath(log_dir):
        return None
    m = _LOG_NAME_RE.match(os.path.basename(logs[0]))
    source, url = argv[-2], argv[-1]
    if m is None or os.path.basename(source) != m["plot"] or not url.startswith("rsync://"):
        return None
    return RecoveredTransfer(m["plot"], m["rid"], source, url, logs[0])


# --- progress ---------------------------------------------------------------------------------------------------------
# A real --info=progress2 line (rsync 3.2, pieces separated by \r):
#       3,309,568  41%    2.94MB/s    0:00:01
#       8,000,000 100%    2.97MB/s    0:00:02 (xfr#1, to-chk=0/1)
_PROGRESS_RE = re.compile(
    r"^\s*(?P<bytes>[0-9,]+)\s+(?P<pct>[0-9]+)%\s+(?P<rate>[0-9.]+)(?P<unit>[kMGTP]?B)/s\s+"
    r"(?P<time>(?:[0-9]+:)?[0-9]+:[0-9]{2}:[0-9]{2}|\?\?:\?\?:\?\?)(?P<rest>.*)$"
)
_UNIT = {"B": 1, "kB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40, "PB": 2**50}


@dataclass(frozen=True)
class Progress:
    bytes: int
    percent: int
    rate_bps: float
    #: seconds left while running; None on the final line (whose time is the elapsed time) or when rsync shows ??
    eta_s: float | None
    #: the final line of a file (``xfr#``)
    done: bool


def parse_progress(line: str) -> Progress | None:
    m = _PROGRESS_RE.match(line)
    if m is None:
        return None
    done = "xfr#" in m["rest"]
    eta: float | None = None
    if not m["time"].startswith("?") and not done:
        parts = [int(p) for p in m["time"].split(":")]
        days = parts[0] if len(parts) == 4 else 0
        h, mi, s = parts[-3:]
        eta = float(days * 86400 + h * 3600 + mi * 60 + s)
    return Progress(int(m["bytes"].replace(",", "")), int(m["pct"]), float(m["rate"]) * _UNIT[m["unit"]], eta, done)


# --- launching --------------------------------------------------------------------------------------------------------


class ProcessHandle(Protocol):
    @property
    def pid(self) -> int: ...

    @property
    def stdout(self) -> IO[bytes] | None: ...

    @property
    def stderr(self) -> IO[bytes] | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...


Launcher = Callable[[Sequence[str], Mapping[str, str]], ProcessHandle]


def popen_launcher(argv: Sequence[str], env: Mapping[str, str]) -> ProcessHandle:
    """Start rsync in its own session (a signal to the agent's group does not reach it), pipes for its output."""
    return subprocess.Popen(
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


@dataclass(frozen=True)
class RsyncResult:
    #: rsync's exit status; None when a signal ended it
    returncode: int | None
    signal: int | None
    stderr_tail: tuple[str, ...]
    last_progress: Progress | None
    duration_s: float
    argv: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class RsyncTransfer:
    """One running push. ``start`` launches it; ``progress`` is the latest progress; ``wait`` gives the result."""

    def __init__(
        self,
        spec: TransferSpec,
        *,
        launcher: Launcher = popen_launcher,
        rsync: str = "rsync",
        clock: Callable[[], float] = time.monotonic,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.spec = spec
        self.argv = tuple(build_argv(spec, rsync))
        self._launcher = launcher
        self._clock = clock
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._proc: ProcessHandle | None = None
        self._readers: list[threading.Thread] = []
        self._started = 0.0
        self._result: RsyncResult | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def progress(self) -> Progress | None:
        with self._lock:
            return self._progress

    def start(self) -> RsyncTransfer:
        if self._proc is not None:
            raise RuntimeError("transfer already started")
        os.makedirs(self.spec.log_dir, exist_ok=True)
        self._started = self._clock()
        try:
            self._proc = self._launcher(self.argv, build_env(self.spec))
        except OSError as e:
            raise FailedPrecondition(f"cannot start {self.argv[0]}: {e.strerror or e}") from None
        for name, stream, fn in (
            ("out", self._proc.stdout, self._read_stdout),
            ("err", self._proc.stderr, self._read_stderr),
        ):
            if stream is not None:
                t = threading.Thread(target=fn, args=(stream,), name=f"rsync-{name}-{self._proc.pid}", daemon=True)
                t.start()
                self._readers.append(t)
        log.info("rsync %s -> %s (pid %d)", self.spec.source, self.spec.target_url, self._proc.pid)
        return self

    def _read_stdout(self, stream: IO[bytes]) -> None:
        buf = b""
        while chunk := stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536):
            buf += chunk
            *pieces, buf = re.split(rb"[\r\n]", buf)
            for piece in pieces:
                self._take_progress(piece)
        self._take_progress(buf)

    def _take_progress(self, piece: bytes) -> None:
        p = parse_progress(piece.decode("utf-8", "replace"))
        if p is None:
            return
        with self._lock:
            self._progress = p
        if self._on_progress is not None:
            self._on_progress(p)

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                with self._lock:
                    self._stderr.append(line[:500])

    def _finish(self, rc: int) -> RsyncResult:
        for t in self._readers:
            t.join(5.0)
        with self._lock:
            self._result = RsyncResult(
                returncode=rc if rc >= 0 else None,
                signal=-rc if rc < 0 else None,
                stderr_tail=tuple(self._stderr),
                last_progress=self._progress,
                duration_s=self._clock() - self._started,
                argv=self.argv,
            )
        return self._result

    def poll(self) -> RsyncResult | None:
        if self._proc is None:
            raise RuntimeError("transfer not started")
        if self._result is not None:
            return self._result
        rc = self._proc.poll()
        return None if rc is None else self._finish(rc)

    def wait(self, timeout: float | None = None) -> RsyncResult:
        """The result; ``subprocess.TimeoutExpired`` when it is still running after ``timeout``."""
        if self._proc is None:
            raise RuntimeError("transfer not started")
        if self._result is not None:
            return self._result
        return self._finish(self._proc.wait(timeout))

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal our rsync (only it: the pid we started, while it has not been reaped)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(sig)
