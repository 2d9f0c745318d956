"""Stamping sample plot logs as new ones: a fresh plot id and start time (every ctime and ISO stamp and the plot name
shifted alike), under plotman's log file names, for log dirs with thousands of completed logs."""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "logs"

CTIME_RE = re.compile(
    rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d \d{4}"
)
ISO_RE = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}")
NAME_STAMP_RE = re.compile(rb"plot-k(\d+)-\d{4}-\d\d-\d\d-\d\d-\d\d-")
ID_RE = re.compile(rb"^ID: ([0-9a-f]{64})\s*$", re.MULTILINE)
MADMAX_NAME_RE = re.compile(rb"^Plot Name: plot-k\d+-(\d{4}-\d\d-\d\d-\d\d-\d\d)-([0-9a-f]{64})\s*$", re.MULTILINE)
CHIA_TMP_RE = re.compile(rb"^Starting plotting progress into temporary dirs: (.*) and (.*?)\s*$", re.MULTILINE)
MADMAX_TMP_RE = re.compile(rb"^Working Directory: +(.*?)/?\s*$", re.MULTILINE)
STANDIN_PREFIX = "2.7.5  chia.plotting.create_plots       : INFO     "


@dataclass(frozen=True)
class LogTemplate:
    """A sample log ready to be stamped with a new plot id and start time."""

    text: bytes
    old_id: bytes
    start: dt.datetime  # the time of the first ctime stamp ("Starting phase 1/4 ... <ctime>")
    tmp_dir: bytes | None = None  # the tmp dir as the log names it (replaced by _stamp's tmp_dir)


def _first_ctime(text: bytes) -> dt.datetime:
    m = CTIME_RE.search(text)
    if m is None:
        raise ValueError("sample log has no ctime stamp")
    return dt.datetime.strptime(m.group(0).decode(), "%a %b %d %H:%M:%S %Y")


def _standin_k22_template() -> LogTemplate:
    """chiapos's k=22 sample wrapped in the header and footer lines the chia stand-in prints, as a finished stand-in
    job's log looks (the same plotter and k as the running jobs, so the agent can learn ETAs from them)."""
    body = (SAMPLES / "chiapos-2.0.12-k22.plot.log").read_bytes()
    m = ID_RE.search(body)
    assert m is not None
    old_id = m.group(1)
    start = _first_ctime(body)
    iso = start.strftime("%Y-%m-%dT%H:%M:%S.000")
    pk = "a" * 96
    head = (
        f"{iso} {STANDIN_PREFIX}Creating 1 plots of size 22, pool public key:  {pk} farmer public key: {pk}\n"
        f"{iso} {STANDIN_PREFIX}Starting plot 1/1\n"
    ).encode()
    name = f"plot-k22-{start:%Y-%m-%d-%H-%M}-{old_id.decode()}.plot"
    body = body.replace(b"plot-k22-test", name[: -len(".plot")].encode())
    done = (start + dt.timedelta(seconds=11)).strftime("%Y-%m-%dT%H:%M:%S.000")  # the sample's total time is 10.9 s
    tail = (
        f"{done} {STANDIN_PREFIX}Summary:\n"
        f"{done} {STANDIN_PREFIX}Created a total of 1 new plots\n"
        f"{done} {STANDIN_PREFIX}{name}\n"
    ).encode()
    return LogTemplate(head + body + tail, old_id, start)


def _chia_k25_template() -> LogTemplate:
    text = (SAMPLES / "chia-2.7.5-k25.plot.log").read_bytes()
    m = ID_RE.search(text)
    assert m is not None
    return LogTemplate(text, m.group(1), _first_ctime(text))


def _stamp(t: LogTemplate, new_id: bytes, start: dt.datetime, tmp_dir: bytes | None = None) -> bytes:
    delta = start - t.start

    def ctime(m: re.Match[bytes]) -> bytes:
        return (dt.datetime.strptime(m.group(0).decode(), "%a %b %d %H:%M:%S %Y") + delta).ctime().encode()

    def iso(m: re.Match[bytes]) -> bytes:
        when = dt.datetime.strptime(m.group(0).decode(), "%Y-%m-%dT%H:%M:%S.%f") + delta
        return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3].encode()

    def name_stamp(m: re.Match[bytes]) -> bytes:
        return b"plot-k" + m.group(1) + start.strftime("-%Y-%m-%d-%H-%M-").encode()

    text = t.text.replace(t.old_id, new_id)
    if tmp_dir is not None and t.tmp_dir is not None:
        text = text.replace(t.tmp_dir, tmp_dir)
    text = CTIME_RE.sub(ctime, text)
    text = ISO_RE.sub(iso, text)
    return NAME_STAMP_RE.sub(name_stamp, text)


def plotman_log_name(when: dt.datetime) -> str:
    """plotman's log file name for a job started at ``when``: 2026-11-25T17_07_25.123456+00_00.plot.log."""
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds").replace(":", "_") + ".plot.log"


def write_completed_logs(log_dir: Path, count: int) -> int:
    """``count`` finished logs, alternating stand-in k=22 and chia 2.7.5 k=25, one every 20 minutes back from an hour
    ago, each with its own plot id; file mtimes set to the end of the run. Returns the bytes written."""
    templates = [_standin_k22_template(), _chia_k25_template()]
    newest = dt.datetime.now().replace(microsecond=0) - dt.timedelta(hours=1)
    total = 0
    for i in range(count):
        t = templates[i % 2]
        start = newest - dt.timedelta(minutes=20 * i)
        text = _stamp(t, secrets.token_hex(32).encode(), start)
        path = log_dir / plotman_log_name(start.replace(microsecond=i % 1_000_000).astimezone())
        path.write_bytes(text)
        end = start.timestamp() + (12 if i % 2 == 0 else 105)
        os.utime(path, (end, end))
        total += len(text)
    return total


#: The completed single-plot logs among the real samples (tests/data/logs, copies of /work/shared/samples/logs) that
#: both plotboss and plotman 0.5.3 read: chia 2.7.5 (k25, two configs), chiapos 2.0.12 (k18, k22 twice), the chia k32
#: log and the madMAx k33 log of plotman's own tests. (bladebit's logs give no phase times plotman reads.)
ANALYZE_SAMPLES = (
    "chia-2.7.5-k25.plot.log",
    "chia-2.7.5-k25-minimal-config.plot.log",
    "chiapos-2.0.12-k18.plot.log",
    "chiapos-2.0.12-k22.plot.log",
    "chiapos-2.0.12-k22-final-on-other-fs.plot.log",
    "plotman-chianetwork.plot.log",
    "plotman-madmax.plot.log",
)


def sample_template(path: Path) -> LogTemplate:
    """Any completed single-plot sample (chia, chiapos or madMAx) as a template: its plot id (chia's `ID:` line or
    madMAx's plot name), its start (first ctime stamp, else the plot name's minute) and its tmp dir."""
    text = path.read_bytes()
    m = ID_RE.search(text)
    mm = MADMAX_NAME_RE.search(text)
    if m is not None:
        old_id = m.group(1)
    elif mm is not None:
        old_id = mm.group(2)
    else:
        raise ValueError(f"{path}: no plot id")
    if CTIME_RE.search(text) is not None:
        start = _first_ctime(text)
    elif mm is not None:
        start = dt.datetime.strptime(mm.group(1).decode(), "%Y-%m-%d-%H-%M")
    else:
        raise ValueError(f"{path}: no start time")
    tmp = CHIA_TMP_RE.search(text) or MADMAX_TMP_RE.search(text)
    return LogTemplate(text, old_id, start, tmp.group(1) if tmp is not None else None)


def write_sample_logs(log_dir: Path, count: int, tmp_dirs: int = 8) -> int:
    """``count`` finished logs cycling through ANALYZE_SAMPLES, each with its own plot id, a start one every 7 minutes
    back from a day ago and a tmp dir out of ``/mnt/tmp/00`` .. ``/mnt/tmp/{tmp_dirs - 1}``, under plotman's file names
    with mtimes at their start. Returns the bytes written."""
    templates = [sample_template(SAMPLES / name) for name in ANALYZE_SAMPLES]
    newest = dt.datetime.now().replace(microsecond=0) - dt.timedelta(days=1)
    total = 0
    for i in range(count):
        start = newest - dt.timedelta(minutes=7 * i)
        tmp = f"/mnt/tmp/{(i // len(templates)) % tmp_dirs:02d}".encode()
        text = _stamp(templates[i % len(templates)], secrets.token_hex(32).encode(), start, tmp)
        path = log_dir / plotman_log_name(start.replace(microsecond=i % 1_000_000).astimezone())
        path.write_bytes(text)
        os.utime(path, (start.timestamp(), start.timestamp()))
        total += len(text)
    return total
