"""The scheduler's decision, pure: ``decide(snapshot, config, now) -> Start | Wait``. No I/O, no clock of its own.

plotman's rules with plotman's names, over every plot job on the machine (started by us, by hand or by another tool):

- ``global_max_jobs``: no start while that many jobs run;
- ``global_stagger_m``: no start until that long after the youngest job started;
- per tmp dir ``tmpdir_max_jobs``, and the stagger phase: no start in a dir while ``tmpdir_stagger_phase_limit`` of
  its jobs are before phase ``tmpdir_stagger_phase_major:minor``; ``tmp_overrides`` per dir.

Beyond plotman: a tmp dir must have room for one more job's peak temp usage after what its jobs will still write,
and a dst dir must have room for the plots already inbound, this one and ``dst_min_free_bytes`` (plotman#613). A job
whose phase is unknown counts as just started. Among the tmp dirs the rules allow, the least recently used wins
(empty first, then the one whose youngest job started longest ago); among dst dirs, the fewest inbound jobs, then
the most free space.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from plotboss.plots import peak_tmp_bytes, plot_size
from plotter_agent.cmdline import parse_options
from plotter_agent.dirs import DirView
from plotter_agent.jobs import Job, ProcState
from plotter_agent.logparse import Plotter
from plotter_agent.plotters.base import PHASE_DONE
from plotter_agent.schedconfig import SchedulerConfig
from plotter_agent.view import Snapshot

#: the phase a job whose phase is unknown is taken to be in: just started
UNKNOWN_PHASE = (0, 0)


@dataclass(frozen=True)
class TmpDecision:
    tmp_dir: str
    eligible: bool
    reason: str
    running_jobs: int


@dataclass(frozen=True)
class Start:
    tmp: str
    tmp2: str | None
    dst: str
    argv: tuple[str, ...]
    tmp_dirs: tuple[TmpDecision, ...] = ()

    @property
    def reason(self) -> str:
        return f"start in {self.tmp} -> {self.dst}"


@dataclass(frozen=True)
class Wait:
    reasons: tuple[str, ...]
    tmp_dirs: tuple[TmpDecision, ...] = ()

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


Decision = Start | Wait


def size_text(n: float) -> str:
    """Bytes as people read them: ``101.4 GiB``, ``60.2 MiB``."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def time_left_text(seconds: float) -> str:
    if seconds >= 60:
        return f"{math.ceil(seconds / 60)} min left"
    return f"{math.ceil(seconds)} s left"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


#: a job's mode (``Job.mode``: its log's word, else its command line's) -> the peak_tmp_bytes mode
_BLADEBIT_TMP_MODE = {"ram": "ramplot", "disk": "diskplot", "cuda": "cudaplot"}


@functools.lru_cache(maxsize=1024)
def _cmdline_flags(cmdline: tuple[str, ...]) -> tuple[int, bool, bool]:
    """(compression level, nobitfield, alternate) a command line sets. Cached: one decision asks it of every job
    for every dir, and a job's command line never changes."""
    parsed = parse_options(cmdline)
    values = parsed.values if parsed is not None else {}
    try:
        compression = max(0, min(9, int(values.get("compression", "0"))))
    except ValueError:
        compression = 0
    return compression, bool(values.get("nobitfield")), bool(values.get("alternate"))


def _mode_of(job: Job) -> tuple[str, int]:
    """(peak_tmp_bytes mode, compression level) of a running job: its mode as the view knows it, and the flags of
    its command line."""
    compression, nobitfield, alternate = _cmdline_flags(tuple(job.cmdline))
    if job.plotter is Plotter.CHIA:
        return ("nobitfield" if nobitfield else ""), 0
    if job.plotter is Plotter.BLADEBIT:
        mode = _BLADEBIT_TMP_MODE.get(job.mode or "ram", "ramplot")
        if mode == "diskplot" and alternate:
            mode = "diskplot-alternate"
        return mode, compression
    return "", 0


def _plots_left(job: Job) -> int:
    """Plots the job will still write to its dst: the current one and those after it (1 for an endless job)."""
    if job.plot_count <= 0:
        return 1
    return max(1, job.plot_count - job.plot_index + 1)


def _done_plotting(job: Job) -> bool:
    return job.phase is not None and job.phase >= PHASE_DONE


def _tmp_still_to_write(job: Job, k_default: int, separate_tmp2: bool) -> tuple[int, int]:
    """Bytes (in tmp, in tmp2) the job will still write at most: its peak less what its temp files hold now."""
    if _done_plotting(job):
        return 0, 0
    mode, _c = _mode_of(job)
    k = job.k or k_default
    tmp_peak, tmp2_peak = peak_tmp_bytes(job.plotter.value, mode, k, separate_tmp2=separate_tmp2)
    return max(0, tmp_peak - job.tmp_bytes), tmp2_peak


def _in_its_dst(job: Job, dirs: dict[str, DirView]) -> bool:
    """True when the job's current plot is already a finished plot in its dst dir (renamed there, the process not yet
    gone): its bytes are in the dir's used space, so it is no longer inbound."""
    view = dirs.get(job.dst_dir) if job.dst_dir is not None else None
    if view is None or not job.plot_id:
        return False
    return any(p.name.endswith(f"-{job.plot_id}.plot") for p in view.plots)


def _inbound_bytes(job: Job, k_default: int, dirs: dict[str, DirView]) -> int:
    _mode, compression = _mode_of(job)
    left = _plots_left(job) - (1 if _in_its_dst(job, dirs) else 0)
    return plot_size(job.k or k_default, compression) * max(0, left)


def started_at(job: Job) -> float:
    """When the job started, for the stagger: the later of its process's start and its log's first line. A process
    start time from the process table is computed from the boot time, which Linux gives in whole seconds, so it can be
    up to a second early against the wall clock (and drifts with clock adjustments); the log's time is the wall
    clock's, taken a moment after the process started."""
    return max(job.create_time, job.start_time or 0.0)


def live_jobs(jobs: Sequence[Job]) -> list[Job]:
    """The jobs that count: every plot job whose process is alive (a zombie has exited)."""
    return [j for j in jobs if j.state is not ProcState.ZOMBIE]


def decide(snapshot: Snapshot, config: SchedulerConfig, now: float) -> Decision:
    jobs = live_jobs(snapshot.jobs)
    dirs = {d.path: d for d in snapshot.dirs}
    new = config.job
    k = new.spec.k
    separate_tmp2 = config.tmp2 is not None
    need_tmp, need_tmp2 = peak_tmp_bytes(new.plotter.value, new.mode, k, separate_tmp2=separate_tmp2)
    reasons: list[str] = []

    if len(jobs) >= config.global_max_jobs:
        reasons.append(f"global_max_jobs ({config.global_max_jobs}) reached")
    if jobs and config.global_stagger_s > 0:
        youngest = max(started_at(j) for j in jobs)
        left = config.global_stagger_s - (now - youngest)
        if left > 0:
            reasons.append(f"global stagger: {time_left_text(left)}")

    tmp_decisions = [_tmp_decision(d, dirs.get(d), jobs, config, need_tmp) for d in config.tmp]
    if config.tmp2 is not None and need_tmp2 > 0:
        tmp2_reason = _tmp2_reason(config.tmp2, dirs.get(config.tmp2), jobs, k, need_tmp2)
        if tmp2_reason:
            reasons.append(tmp2_reason)
    if not any(t.eligible for t in tmp_decisions):
        reasons.extend(t.reason for t in tmp_decisions)
    dst_choice, dst_reason = _choose_dst(config, dirs, jobs, new.compression)
    if dst_choice is None:
        reasons.append(dst_reason)
    if reasons:
        return Wait(tuple(reasons), tuple(tmp_decisions))
    assert dst_choice is not None
    tmp = _least_recently_used([t.tmp_dir for t in tmp_decisions if t.eligible], jobs)
    argv = new.argv(tmp, config.tmp2, dst_choice)
    return Start(tmp, config.tmp2, dst_choice, tuple(argv), tuple(tmp_decisions))


def _tmp_decision(
    path: str, view: DirView | None, jobs: Sequence[Job], config: SchedulerConfig, need: int
) -> TmpDecision:
    rules = config.rules[path]
    here = [j for j in jobs if j.tmp_dir == path]
    n = len(here)

    def wait(why: str) -> TmpDecision:
        return TmpDecision(path, False, f"tmp {path}: {why}", n)

    if view is None or view.error:
        return wait(f"cannot be read ({view.error if view is not None else 'not scanned yet'})")
    if n >= rules.max_jobs:
        return wait(f"{_plural(n, 'job')} (tmpdir_max_jobs {rules.max_jobs})")
    before = sum(1 for j in here if (j.phase if j.phase is not None else UNKNOWN_PHASE) < rules.phase)
    if before >= rules.phase_limit:
        major, minor = rules.phase
        return wait(f"{_plural(before, 'job')} before {major}:{minor} (limit {rules.phase_limit})")
    # the jobs writing to this dir's filesystem (this dir, and other configured dirs on it) share its free space
    sharing = [j for j in jobs if config.same_fs(j.tmp_dir, path)]
    pending = sum(_tmp_still_to_write(j, config.job.spec.k, config.tmp2 is not None)[0] for j in sharing)
    room = view.free_bytes - pending
    if room < need:
        whose = f"its {_plural(n, 'job')}" if len(sharing) == n else f"{_plural(len(sharing), 'job')} on its filesystem"
        extra = f" after {size_text(pending)} {whose} will still write" if pending else ""
        return wait(f"no room for another job (needs {size_text(need)}, {size_text(max(room, 0))} free{extra})")
    return TmpDecision(path, True, f"tmp {path}: ready ({_plural(n, 'job')})", n)


def _tmp2_reason(path: str, view: DirView | None, jobs: Sequence[Job], k: int, need: int) -> str:
    if view is None or view.error:
        return f"tmp2 {path}: cannot be read ({view.error if view is not None else 'not scanned yet'})"
    pending = sum(_tmp_still_to_write(j, k, True)[1] for j in jobs if j.tmp2_dir == path)
    room = view.free_bytes - pending
    if room < need:
        return f"tmp2 {path}: no room for another job (needs {size_text(need)}, {size_text(max(room, 0))} free)"
    return ""


def _choose_dst(
    config: SchedulerConfig, dirs: dict[str, DirView], jobs: Sequence[Job], compression: int
) -> tuple[str | None, str]:
    k = config.job.spec.k
    size = plot_size(k, compression)
    need = size + config.dst_min_free_bytes
    candidates: list[tuple[int, int, str]] = []
    best_room: int | None = None
    unreadable: list[str] = []
    if not config.dst:
        return None, "dst: no dst dirs configured (directories.dst)"
    for path in config.dst:
        view = dirs.get(path)
        if view is None or view.error:
            unreadable.append(path)
            continue
        # every live job writing here is inbound until its plot is a finished plot in the dir (from then on the plot
        # is in the dir's used space; counting it as inbound too would call the dir full until the process is gone).
        # A final copy in progress is still counted twice, on the safe side.
        inbound = [j for j in jobs if j.dst_dir == path]
        sharing = [j for j in jobs if config.same_fs(j.dst_dir, path)]  # dst dirs on one filesystem share its space
        room = view.free_bytes - sum(_inbound_bytes(j, k, dirs) for j in sharing)
        best_room = room if best_room is None else max(best_room, room)
        if room >= need:
            candidates.append((len(inbound), -room, path))
    if candidates:
        return min(candidates)[2], ""
    comp = f" C{compression}" if compression else ""
    if best_room is None:
        return None, f"dst: no dir can be read ({', '.join(unreadable)})"
    most = size_text(max(best_room, 0))
    return None, f"dst: no dir can take another k{k}{comp} plot (needs {size_text(need)}, most free {most})"


def _least_recently_used(paths: Sequence[str], jobs: Sequence[Job]) -> str:
    """Empty dirs first (in config order), then the one whose youngest job started longest ago."""

    def key(item: tuple[int, str]) -> tuple[int, float, int]:
        i, p = item
        starts = [started_at(j) for j in jobs if j.tmp_dir == p]
        return (1, max(starts), i) if starts else (0, 0.0, i)

    return min(enumerate(paths), key=key)[1]
