"""Watching an archiver run, and the checks every archiver test ends with.

``Watch`` samples the bed all through the run (a thread): every plot must be whole somewhere (in its dst dir or on a
drive) at every moment, every file under a final ``*.plot`` name in a dst dir or on a drive must be whole (the size
of the plot of that name; a partial file under a final name is the fault DESIGN invariant 5 forbids), and no two
rsync pushes of one plot may run at once (a duplicate send). It looks at the top level of each dir, as a harvester
does: rsync's partial dir (``<drive>/.plotboss-partial/``) holds a killed push's partial under its plot's name by
design (hidden, resumed from, removed by the farmer when the reservation ends: ``settled`` checks it is empty). It
also records every push's pid, so a test can tell an adopted push (the same pid before and after an agent restart)
from a new one.

``settled`` is the end of every test: each plot archived exactly once, byte-identical (sha256) on a farmer drive,
gone from the dst dirs (deleted after the farmer's Complete), no reservation left, no rsync temp or partial-dir file
left, and nothing the watch saw go wrong.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from plotter_agent.archive.records import rsync_processes
from plotter_agent.archive.recovery import find_transfers
from testbed.archive_bed import Farm, Plotter


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Truth:
    """What each plot was before the run: name -> (size, sha256)."""

    plots: Mapping[str, tuple[int, str]]

    @classmethod
    def of(cls, paths: Iterable[Path]) -> Truth:
        return cls({p.name: (p.stat().st_size, sha256(p)) for p in paths})


def pushes(transfers_dir: Path) -> dict[int, str]:
    """pid -> plot name of the plotter's rsync pushes running now (recognised as the agent does, by their log file)."""
    return {pid: t.plot_name for pid, t in find_transfers(rsync_processes(), str(transfers_dir))}


@dataclass
class Watch:
    truth: Truth
    dirs: Callable[[], Sequence[Path]]
    transfers_dir: Path
    period_s: float = 0.1
    problems: list[str] = field(default_factory=list)
    #: every push seen: pid -> plot name
    seen: dict[int, str] = field(default_factory=dict)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Watch:
        self._thread = threading.Thread(target=self._run, name="archive-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.sample()

    def note(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def sample(self) -> None:
        whole: set[str] = set()
        for d in self.dirs():  # the dst dirs first: a plot deleted there after the scan was on a drive before
            with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(d) as it:
                for e in it:
                    if not e.name.endswith(".plot") or e.name.startswith("."):
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        size = e.stat(follow_symlinks=False).st_size
                        want = self.truth.plots.get(e.name)
                        if want is None:
                            self.note(f"unknown file under a final plot name: {e.path} ({size} bytes)")
                        elif size != want[0]:
                            self.note(f"partial file under a final plot name: {e.path} ({size} of {want[0]} bytes)")
                        else:
                            whole.add(e.name)
        for name in self.truth.plots.keys() - whole:
            self.note(f"lost: {name} is whole neither in a dst dir nor on a drive")
        running = pushes(self.transfers_dir)
        self.seen.update(running)
        by_plot: dict[str, list[int]] = {}
        for pid, plot in running.items():
            by_plot.setdefault(plot, []).append(pid)
        for plot, pids in by_plot.items():
            if len(pids) > 1:
                self.note(f"duplicate send: {len(pids)} pushes of {plot} at once (pids {sorted(pids)})")
        self.samples += 1

    def pids_of(self, plot: str) -> list[int]:
        return sorted(pid for pid, name in self.seen.items() if name == plot)


def runs_of(transfers_dir: Path, plot: str) -> list[tuple[int, int | None]]:
    """Every rsync run that ever pushed ``plot`` (from the log files the pushes write, whoever started them, also
    those the archiver marked ``.done``/``.failed``), oldest first: (pid, the bytes its summary line says it sent;
    None when it wrote none: it was killed, or runs still). A run that failed writes its summary too."""
    runs: dict[int, int | None] = {}
    logs = [p for p in transfers_dir.glob(f"{plot}.*") if ".rsync.log" in p.name]
    for log in sorted(logs, key=lambda p: (p.stat().st_mtime, p.name)):
        for line in log.read_text(errors="replace").splitlines():
            m = re.match(r"^\S+ \S+ \[(\d+)\] (.*)$", line)
            if m is None:
                continue
            pid = int(m[1])
            runs.setdefault(pid, None)
            sent = re.match(r"sent ([0-9,]+) bytes", m[2])
            if sent is not None:
                runs[pid] = int(sent[1].replace(",", ""))
    return list(runs.items())


def wait_until(what: str, cond: Callable[[], object], timeout_s: float, period_s: float = 0.1) -> object:
    """Poll ``cond`` until it is truthy; AssertionError naming ``what`` (and the last value) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(period_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what} (last: {last!r})")


def temp_of(drive: Path, plot: str) -> Path | None:
    """rsync's temp file of ``plot`` on ``drive`` (``.NAME.XXXXXX``), when one is there."""
    with contextlib.suppress(FileNotFoundError):
        for e in os.scandir(drive):
            if e.name.startswith(f".{plot}.") and e.is_file(follow_symlinks=False):
                return Path(e.path)
    return None


def wait_mid_push(farms: Sequence[Farm], plot: str, min_bytes: int, timeout_s: float = 60) -> Path:
    """Until a push of ``plot`` has written at least ``min_bytes`` into its temp file on some drive; the drive."""

    def look() -> Path | None:
        for f in farms:
            for d in f.drives:
                t = temp_of(d, plot)
                with contextlib.suppress(FileNotFoundError):
                    if t is not None and t.stat().st_size >= min_bytes:
                        return d
        return None

    found = wait_until(f"a push of {plot} to pass {min_bytes} bytes", look, timeout_s, 0.05)
    assert isinstance(found, Path)
    return found


def where_archived(truth: Truth, farms: Sequence[Farm]) -> dict[str, list[Path]]:
    """plot name -> the drive files under its final name."""
    out: dict[str, list[Path]] = {name: [] for name in truth.plots}
    for f in farms:
        for d in f.drives:
            for name in out:
                if (d / name).is_file():
                    out[name].append(d / name)
    return out


def all_archived(truth: Truth, farms: Sequence[Farm], plotter: Plotter) -> bool:
    landed = where_archived(truth, farms)
    return not plotter.plots_in_dst() and all(landed.values())


def leftovers(farms: Sequence[Farm], dst: Sequence[Path]) -> list[str]:
    """Files that must not outlive a reservation: rsync temp files and partial-dir files on the drives, anything
    hidden in the dst dirs."""
    out = [str(p) for f in farms for p in f.files() if p.name.startswith(".") or p.parent.name.startswith(".")]
    out += [str(p) for d in dst for p in d.iterdir() if p.name.startswith(".")]
    return out


def reserved(farms: Sequence[Farm]) -> list[str]:
    out = []
    for f in farms:
        rs = f.reservations()
        if isinstance(rs, str):
            out.append(f"{f.name}: {rs}")
        else:
            out += [f"{f.name}: {r.plot_name} on {r.drive_path} ({r.id})" for r in rs]
    return out


def settled(truth: Truth, farms: Sequence[Farm], plotter: Plotter, watch: Watch, timeout_s: float = 120) -> None:
    """The end of every archiver test: wait (``timeout_s``) until the archiver has archived every plot by itself, then
    wait out the lease for the farmers to let go of everything, then check all of it."""
    lease_s = max(f.lease_s for f in farms)
    try:
        done = lambda: all_archived(truth, farms, plotter)  # noqa: E731
        wait_until("every plot archived and gone from dst", done, timeout_s, 0.25)
        wait_until("no reservation left", lambda: not reserved(farms), lease_s + 10, 0.25)
        wait_until("no temp or partial-dir file left", lambda: not leftovers(farms, plotter.dst), lease_s + 10, 0.25)
    except AssertionError as e:
        raise AssertionError(
            f"{e}\nwatch: {watch.problems}\nreserved: {reserved(farms)}\nleftovers: {leftovers(farms, plotter.dst)}\n"
            f"where: {where_archived(truth, farms)}\ndst: {plotter.plots_in_dst()}\nstatus: {plotter.status()}\n"
            f"agent output:\n{plotter.output()}"
        ) from None
    watch.sample()
    watch.stop()
    for name, paths in where_archived(truth, farms).items():
        assert len(paths) == 1, f"{name}: archived {len(paths)} times: {paths}"
        size, digest = truth.plots[name]
        assert paths[0].stat().st_size == size and sha256(paths[0]) == digest, f"{paths[0]}: not byte-identical"
    assert not watch.problems, watch.problems
    assert watch.samples > 0
