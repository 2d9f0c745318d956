"""Watching an archiving fleet (``testbed.archfleet``) while it runs, and checking it afterwards.

``FleetWatch`` samples throughout, on two threads:

- the files (every ``interval_s``): each drive's free bytes from statvfs of its mount against the farmer's floor; the
  writers on each drive (plots with an rsync temp file ``.NAME.XXXXXX`` or a partial-dir file
  ``.plotboss-partial/NAME`` there); every final ``*.plot`` name on a drive against its source's size (a final name
  on a partial file); the plots in the plotters' dst dirs: a new one is opened at once and hashed (through the open
  file, so a deletion meanwhile cannot cut it short), and one that is gone is checked at once: no reservation of it
  may be in force on any farmer (its Complete came first) and a whole copy must be on a drive;
- the farmers (every ``rpc_every_s``): ListDrives' free bytes against the floor and its writers count per drive.

Every breach is recorded as a line in ``violations`` (the test asserts it stays empty); the lowest headroom and the
most writers seen per drive are kept so a test can show the drives really filled and the sampler really ran.

``final_checks`` looks at the end state: every source archived exactly once, byte-identical (sha256); nothing but
whole plots on the drives; no reservation left; and, from the agents' logs, each plot's Complete logged by its farmer
before the sampler saw its source gone, and its "archived ...; source deleted" logged by a plotter after that.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from plotboss.errors import PlotbossError
from plotboss.plots import PARTIAL_DIR, is_plot_name
from plotter_agent.farmer_client import FarmerClient
from testbed.archfleet import FarmerNode, Fleet

TEMP_RE = re.compile(r"^\.(?P<name>plot-k[0-9]{2}-.+\.plot)\.[A-Za-z0-9]{6}\Z")
_STAMP = r"^(?P<t>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "
#: agents' log lines (the logging format of plotboss/agent.py) for: an answered Complete (farmer_agent/farmer.py), a
#: granted Reserve (the same), a plot archived and its source deleted (plotter_agent/archive/finish.py)
COMPLETED_RE = re.compile(_STAMP + r"INFO farmer_agent\.farmer: completed (?P<name>plot-\S+\.plot) on ")
RESERVED_RE = re.compile(_STAMP + r"INFO farmer_agent\.farmer: reserved (?P<name>plot-\S+\.plot) ")
ARCHIVED_RE = re.compile(_STAMP + r"INFO plotter_agent\.archive\.finish: archived (?P<name>plot-\S+\.plot) .*; source ")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def look_at_drive(drive: Path) -> tuple[set[str], list[tuple[str, int]]]:
    """The plots being written on ``drive`` (an rsync temp file ``.NAME.XXXXXX`` in it, or a partial-dir file
    ``.plotboss-partial/NAME``), and its files under a final plot name with their sizes."""
    writers: set[str] = set()
    finals: list[tuple[str, int]] = []
    with os.scandir(drive) as it:
        for e in it:
            with contextlib.suppress(FileNotFoundError):
                if (m := TEMP_RE.match(e.name)) is not None:
                    writers.add(m["name"])
                elif is_plot_name(e.name):
                    finals.append((e.name, e.stat(follow_symlinks=False).st_size))
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        writers |= {n for n in os.listdir(drive / PARTIAL_DIR) if is_plot_name(n)}
    return writers, finals


def log_times(text: str, line_re: re.Pattern[str] = COMPLETED_RE) -> dict[str, float]:
    """The lines of an agent's log ``text`` that ``line_re`` matches: plot name -> when (epoch seconds, ms precision;
    the log's local time), the last one of each plot."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if (m := line_re.match(line)) is not None:
            out[m["name"]] = dt.datetime.strptime(m["t"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return out


@dataclass
class Source:
    path: Path
    size: int
    sha256: str
    seen_time: float
    gone_time: float | None = None


@dataclass
class DriveSeen:
    farmer: FarmerNode
    path: Path
    min_headroom: int | None = None
    max_writers: int = 0
    listed_min_headroom: int | None = None
    listed_max_writers: int = 0
    samples: int = 0
    listed_samples: int = 0


@dataclass
class FleetWatch:
    fleet: Fleet
    interval_s: float = 0.05
    rpc_every_s: float = 0.5
    sources: dict[str, Source] = field(default_factory=dict)
    drives: dict[Path, DriveSeen] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for f in self.fleet.farmers:
            for d in f.drives:
                self.drives[d] = DriveSeen(f, d)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(self._sample_files, self.interval_s), daemon=True),
            threading.Thread(target=self._run, args=(self._sample_farmers, self.rpc_every_s), daemon=True),
        ]
        self._clients: dict[str, FarmerClient] = {}

    # --- life -------------------------------------------------------------------------------------------------------

    def add_source(self, path: Path, sha256: str | None = None) -> None:
        """A plot in a dst dir, hashed now (or with its known digest), before the fleet runs."""
        size = path.stat().st_size
        with self._lock:
            self.sources[path.name] = Source(path, size, sha256 or sha256_file(path), time.time())

    def start(self) -> FleetWatch:
        for f in self.fleet.farmers:
            self._clients[f.name] = FarmerClient(f.address, token=f.token, timeout_s=5.0)
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)
        for c in self._clients.values():
            c.close()

    def __enter__(self) -> FleetWatch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, sample: object, every: float) -> None:
        assert callable(sample)
        while not self._stop.is_set():
            try:
                sample()
            except Exception as e:  # a sampler that dies silently would pass every check
                self.errors.append(f"{type(e).__name__}: {e}")
            self._stop.wait(every)

    def violate(self, what: str) -> None:
        with self._lock:
            if len(self.violations) < 200:
                self.violations.append(f"{time.strftime('%H:%M:%S')} {what}")

    # --- the files --------------------------------------------------------------------------------------------------

    def _sample_files(self) -> None:
        for seen in self.drives.values():
            self._sample_drive(seen)
        self._sample_sources()

    def _sample_drive(self, seen: DriveSeen) -> None:
        st = os.statvfs(seen.path)
        headroom = st.f_bavail * st.f_frsize - seen.farmer.floor_bytes
        if seen.min_headroom is None or headroom < seen.min_headroom:
            seen.min_headroom = headroom
        if headroom < 0:
            self.violate(f"{seen.path}: free space {-headroom} bytes below the floor (statvfs)")
        writers, finals = look_at_drive(seen.path)
        seen.max_writers = max(seen.max_writers, len(writers))
        seen.samples += 1
        if len(writers) > seen.farmer.max_writers:
            self.violate(f"{seen.path}: {len(writers)} writers at once: {sorted(writers)}")
        for name, size in finals:
            src = self.sources.get(name)
            if src is None:
                self.violate(f"{seen.path}/{name}: a plot under a final name whose source was never seen")
            elif size != src.size:
                self.violate(f"{seen.path}/{name}: {size} bytes under its final name, the source has {src.size}")

    def _sample_sources(self) -> None:
        present: dict[str, Path] = {}
        for p in self.fleet.plotters:
            for d in p.dst:
                with contextlib.suppress(FileNotFoundError):
                    for name in os.listdir(d):
                        if is_plot_name(name):
                            present[name] = d / name
        for name, path in present.items():
            if name not in self.sources:
                self._hash_new(path)
        for name, src in list(self.sources.items()):
            if src.gone_time is None and name not in present:
                src.gone_time = time.time()
                self._check_gone(name, src)

    def _hash_new(self, path: Path) -> None:
        try:
            f = open(path, "rb")  # noqa: SIM115  (read through the open file even if it is deleted meanwhile)
        except FileNotFoundError:
            self.violate(f"{path}: gone before it could be hashed (deleted within one sample of appearing)")
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            h = hashlib.sha256()
            while chunk := f.read(1 << 20):
                h.update(chunk)
        with self._lock:
            self.sources[path.name] = Source(path, size, h.hexdigest(), time.time())

    def _check_gone(self, name: str, src: Source) -> None:
        for f in self.fleet.farmers:
            try:
                held = [r for r in self._clients[f.name].list_reservations() if r.plot_name == name]
            except PlotbossError as e:
                self.errors.append(f"{f.name}: ListReservations: {e}")
                continue
            if held:
                self.violate(f"{src.path}: source deleted while {f.name} still holds reservation {held[0].id}")
        whole = [d / name for d in self.drives if (d / name).is_file() and (d / name).stat().st_size == src.size]
        if not whole:
            self.violate(f"{src.path}: source deleted while no whole copy is on any drive")

    # --- the farmers ------------------------------------------------------------------------------------------------

    def _sample_farmers(self) -> None:
        for f in self.fleet.farmers:
            try:
                listed = self._clients[f.name].list_drives()
            except PlotbossError as e:
                self.errors.append(f"{f.name}: ListDrives: {e}")
                continue
            for d in listed.drives:
                seen = self.drives.get(Path(d.path))
                if seen is None:
                    continue
                headroom = d.free_bytes - f.floor_bytes
                if seen.listed_min_headroom is None or headroom < seen.listed_min_headroom:
                    seen.listed_min_headroom = headroom
                seen.listed_max_writers = max(seen.listed_max_writers, d.writers)
                seen.listed_samples += 1
                if headroom < 0:
                    self.violate(f"{d.path}: ListDrives shows {d.free_bytes} free, below the floor {f.floor_bytes}")
                if d.writers > f.max_writers:
                    self.violate(f"{d.path}: ListDrives shows {d.writers} writers")


def completed_times(farmer: FarmerNode) -> dict[str, float]:
    """When the farmer logged each answered Complete (epoch seconds, ms precision; local time as logged)."""
    try:
        return log_times(farmer.log.read_text(errors="replace"), COMPLETED_RE)
    except FileNotFoundError:
        return {}


def final_checks(watch: FleetWatch) -> list[str]:
    """What is wrong with the fleet's end state (see the module doc); [] when nothing."""
    problems: list[str] = []
    fleet = watch.fleet
    on_drives: dict[str, list[Path]] = {}
    for d in watch.drives:
        for e in os.scandir(d):
            if is_plot_name(e.name) and e.is_file(follow_symlinks=False):
                on_drives.setdefault(e.name, []).append(d / e.name)
            elif e.name != PARTIAL_DIR:
                problems.append(f"{d / e.name}: left on the drive (not a final plot)")
        with contextlib.suppress(FileNotFoundError):
            problems += [f"{d / PARTIAL_DIR / n}: partial file left" for n in os.listdir(d / PARTIAL_DIR)]
    completed: dict[str, float] = {}
    for f in fleet.farmers:
        completed.update(completed_times(f))
        with FarmerClient(f.address, token=f.token, timeout_s=5.0) as client:
            left = client.list_reservations()
        problems += [f"{f.name}: reservation {r.id} of {r.plot_name} left" for r in left]
    archived: dict[str, float] = {}
    for p in fleet.plotters:
        with contextlib.suppress(FileNotFoundError):
            archived.update(log_times(p.log.read_text(errors="replace"), ARCHIVED_RE))
    for name, src in sorted(watch.sources.items()):
        copies = on_drives.pop(name, [])
        if src.path.exists():
            problems.append(f"{src.path}: not archived (still in its dst dir)")
        if len(copies) != 1:
            problems.append(f"{name}: {len(copies)} copies on the drives: {copies}")
        for c in copies:
            if sha256_file(c) != src.sha256:
                problems.append(f"{c}: differs from its source (sha256)")
        if copies and name not in completed:
            problems.append(f"{name}: on a drive but no farmer logged its Complete")
        elif copies and src.gone_time is not None and completed[name] > src.gone_time + 0.001:
            problems.append(
                f"{name}: source gone at {src.gone_time:.3f}, Complete logged later at {completed[name]:.3f}"
            )
        if copies and name not in archived:
            problems.append(f"{name}: on a drive but no plotter logged it archived (source deleted)")
        elif copies and name in completed and archived[name] < completed[name]:
            at, done = archived[name], completed[name]
            problems.append(f"{name}: logged archived at {at:.3f}, before its Complete at {done:.3f}")
    problems += [f"{paths}: a plot no source was seen for" for paths in on_drives.values()]
    return problems
