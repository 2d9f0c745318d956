"""A simulated plotter: plot jobs that advance through their phase steps, the tmp and dst dirs they use, and the real
scheduler (``plotter_agent.scheduler.decide``) choosing when and where to start the next one.

The scheduler sees what the agent's view would show: a ``Snapshot`` of ``Job`` and ``DirView`` values built from the
simulated jobs and dirs. It is asked at the agent's poll ticks, but only when something it looks at may have changed
(a job started or ended or crossed a phase its rules compare with, a plot left a dst dir, a stagger ran out): the
answer cannot change otherwise. A job's events fall only on those phase boundaries (the tmp stagger phase, the
archiver's inbound-penalty phases) and its end; its phase at any moment is computed from its drawn step times.

A job's temp files grow linearly to the plotter's peak (``plotboss.plots.peak_tmp_bytes``) by 45 % of its time and
shrink to nothing at its end (what the report's peak tmp use per dir is made of; the scheduler's room check does not
depend on the shape: it counts every job's peak). A finished job leaves its plot in its dst dir (and ends there, as
the final copy/rename is the job's last step).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from plotboss.plots import peak_tmp_bytes, plot_size
from plotter_agent.dirs import DirView, PlotFile
from plotter_agent.jobs import Job, ProcState
from plotter_agent.schedconfig import SchedulerConfig
from plotter_agent.scheduler import Start, decide, started_at
from plotter_agent.view import Snapshot
from sim.jobmodel import PhaseModel, Step, step_at

if TYPE_CHECKING:
    from sim.archiver import SimArchiver
    from sim.engine import Event
    from sim.fleet import Fleet

#: wait reasons, by the words the scheduler's reasons start with
WAIT_KINDS = ("max_jobs", "stagger", "tmp_phase", "tmp_jobs", "tmp_space", "tmp2_space", "dst_space", "other")


def wait_kind(reason: str) -> str:
    if reason.startswith("global_max_jobs"):
        return "max_jobs"
    if reason.startswith("global stagger"):
        return "stagger"
    if reason.startswith("dst"):
        return "dst_space"
    if reason.startswith("tmp2"):
        return "tmp2_space"
    if reason.startswith("tmp "):
        if "tmpdir_max_jobs" in reason:
            return "tmp_jobs"
        if " before " in reason:
            return "tmp_phase"
        if "no room" in reason:
            return "tmp_space"
    return "other"


class SimJob:
    __slots__ = ("argv", "dst", "ends", "name", "pid", "plot_id", "start", "steps", "tmp", "tmp2", "total")

    def __init__(
        self,
        pid: int,
        plot_id: str,
        name: str,
        start: Start,
        t0: float,
        steps: tuple[Step, ...],
        ends: tuple[float, ...],
    ) -> None:
        self.pid, self.plot_id, self.name = pid, plot_id, name
        self.tmp, self.tmp2, self.dst = start.tmp, start.tmp2, start.dst
        self.argv = start.argv
        self.start, self.steps, self.ends = t0, steps, ends
        self.total = ends[-1]

    def tmp_fraction(self, now: float) -> float:
        x = (now - self.start) / self.total if self.total > 0 else 1.0
        return max(0.0, x / 0.45) if x < 0.45 else max(0.0, (1.0 - x) / 0.55)


@dataclass
class PlotterStats:
    started: int = 0
    finished: int = 0
    decisions: int = 0
    #: seconds the scheduler waited, by kind (one wait may have several kinds)
    wait_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(WAIT_KINDS, 0.0))
    #: seconds dst space was the only thing keeping a job from starting
    dst_only_s: float = 0.0
    #: peak bytes of temp files per tmp dir (sampled at every event of this plotter)
    peak_tmp: dict[str, int] = field(default_factory=dict)
    #: dst dirs found fuller than their size (a scheduler bug: must stay 0)
    dst_overfills: int = 0
    #: a finished plot's wait in its dst dir until it was deleted after its Complete, longest
    longest_dst_wait_s: float = 0.0
    job_seconds: list[float] = field(default_factory=list)


class SimPlotter:
    def __init__(
        self,
        fleet: Fleet,
        index: int,
        name: str,
        sched: SchedulerConfig,
        model: PhaseModel,
        dir_bytes: dict[str, int],
        *,
        poll_s: float,
        jitter: float,
        link_bps: float,
        seed: int,
    ) -> None:
        self.fleet = fleet
        self.index = index
        self.name = name
        self.sched = sched
        self.model = model
        self.poll_s = poll_s
        self.jitter = jitter
        self.link_bps = link_bps
        self.rng = random.Random(seed)
        self.total = dict(dir_bytes)
        self.k = sched.job.spec.k
        self.plot_bytes = plot_size(self.k, sched.job.compression)
        sep = sched.tmp2 is not None
        self.peak_tmp, self.peak_tmp2 = peak_tmp_bytes(
            sched.job.plotter.value, sched.job.mode, self.k, separate_tmp2=sep
        )
        self.jobs: dict[int, SimJob] = {}
        self.dst_plots: dict[str, dict[str, PlotFile]] = {d: {} for d in sched.dst}
        self.dst_used: dict[str, int] = dict.fromkeys(sched.dst, 0)
        self.stats = PlotterStats()
        self._next_pid = 1000
        self._decide_ev: Event | None = None
        self._decide_at = math.inf
        self._waiting: tuple[str, ...] = ()
        self._dst_only = False
        self._since = fleet.engine.now
        self._offset = self.rng.random() * poll_s
        # the phases the scheduler's rules compare with (the archiver reads phases when it chooses, and a phase
        # change alone never gives it something new to send: no event for those)
        self._thresholds = sorted({r.phase for r in sched.rules.values()})
        self.archiver: SimArchiver | None = None
        self.version = 0
        #: the Job value last shown for each job (rebuilt when its phase changes)
        self._jobs_seen: dict[int, Job] = {}

    # --- what the agent's view shows -----------------------------------------------------------------------------

    def _job(self, j: SimJob, now: float) -> Job:
        elapsed = now - j.start
        phase = step_at(j.steps, j.ends, elapsed)
        cached = self._jobs_seen.get(j.pid)
        if cached is not None and cached.phase == phase:
            return cached
        cfg = self.sched
        self._jobs_seen[j.pid] = job = Job(
            pid=j.pid,
            pids=(j.pid,),
            create_time=j.start,
            cmdline=j.argv,
            plotter=cfg.job.plotter,
            k=self.k,
            tmp_dir=j.tmp,
            tmp2_dir=j.tmp2 or j.tmp,
            dst_dir=j.dst,
            threads=None,
            buckets=None,
            buffer_mib=None,
            state=ProcState.RUNNING,
            wall_s=elapsed,
            user_s=0.0,
            sys_s=0.0,
            iowait_s=0.0,
            rss_bytes=0,
            plot_id=j.plot_id,
            plot_name=j.name,
            phase=phase,
            start_time=j.start + self.model.startup_s,
        )
        return job

    def tmp_used(self, path: str, now: float) -> int:
        return sum(int(self.peak_tmp * j.tmp_fraction(now)) for j in self.jobs.values() if j.tmp == path)

    def snapshot(self, now: float) -> Snapshot:
        jobs = tuple(self._job(j, now) for j in self.jobs.values())
        views: list[DirView] = []
        # temp usage folded out: a tmp dir shows its whole size free and each job 0 bytes of temp files; the room
        # check (free less what the jobs will still write, peak less what they hold) gives the same answer
        for path in self.sched.tmp:
            views.append(DirView(path, "tmp", self.total[path], self.total[path], (), (), ()))
        if self.sched.tmp2 is not None:
            p2 = self.sched.tmp2
            views.append(DirView(p2, "tmp2", self.total[p2], self.total[p2], (), (), ()))
        for path in self.sched.dst:
            free = self.total[path] - self.dst_used[path]
            views.append(DirView(path, "dst", self.total[path], free, (), tuple(self.dst_plots[path].values()), ()))
        self.version += 1
        return Snapshot(now, self.version, jobs, tuple(views))

    def dst_views(self) -> tuple[DirView, ...]:
        return tuple(
            DirView(
                p, "dst", self.total[p], self.total[p] - self.dst_used[p], (), tuple(self.dst_plots[p].values()), ()
            )
            for p in self.sched.dst
        )

    # --- the scheduler -------------------------------------------------------------------------------------------

    def poke(self, at: float | None = None) -> None:
        """Ask the scheduler at the first poll tick at or after ``at`` (default now)."""
        now = self.fleet.engine.now
        t = max(now, at if at is not None else now)
        tick = math.ceil((t - self._offset) / self.poll_s) * self.poll_s + self._offset
        if tick < t:
            tick += self.poll_s
        if tick < self._decide_at:
            self.fleet.engine.cancel(self._decide_ev)
            self._decide_at = tick
            self._decide_ev = self.fleet.engine.at(tick, self._decide)

    def _account(self, now: float) -> None:
        dt = now - self._since
        if dt > 0:
            for kind in self._waiting:
                self.stats.wait_s[kind] += dt
            if self._dst_only:
                self.stats.dst_only_s += dt
        self._since = now

    def _decide(self) -> None:
        self._decide_ev, self._decide_at = None, math.inf
        now = self.fleet.engine.now
        self._account(now)
        snap = self.snapshot(now)
        d = decide(snap, self.sched, now)
        self.stats.decisions += 1
        if isinstance(d, Start):
            self._waiting, self._dst_only = (), False
            self._start(d, now)
            self.poke(now + self.poll_s)
            return
        kinds = tuple(dict.fromkeys(wait_kind(r) for r in d.reasons))
        self._waiting = kinds
        self._dst_only = kinds == ("dst_space",)
        if snap.jobs and self.sched.global_stagger_s > 0:
            ready = max(started_at(j) for j in snap.jobs) + self.sched.global_stagger_s
            if ready > now:
                self.poke(ready)

    def _start(self, d: Start, now: float) -> None:
        pid = self._next_pid
        self._next_pid += 1
        plot_id = f"{self.index:08x}{pid:056x}"
        date = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d-%H-%M")
        name = f"plot-k{self.k}-{date}-{plot_id}.plot"
        steps, ends = self.model.draw(self.rng, self.jitter)
        job = SimJob(pid, plot_id, name, d, now, steps, ends)
        self.jobs[pid] = job
        self.stats.started += 1
        self.fleet.plots_started += 1
        eng = self.fleet.engine
        for th in self._thresholds:
            i = next((n for n, st in enumerate(steps) if st >= th), None)
            if i is not None and i > 0:
                eng.at(now + ends[i - 1], self._phase_event)
        eng.at(now + job.total, self._finish, pid)
        self._sample_tmp(now)

    def _sample_tmp(self, now: float) -> None:
        for path in self.sched.tmp:
            used = self.tmp_used(path, now)
            if used > self.stats.peak_tmp.get(path, 0):
                self.stats.peak_tmp[path] = used

    def _phase_event(self) -> None:
        self._sample_tmp(self.fleet.engine.now)
        self.poke()

    def _finish(self, pid: int) -> None:
        now = self.fleet.engine.now
        job = self.jobs.pop(pid)
        self._jobs_seen.pop(pid, None)
        self.stats.finished += 1
        self.stats.job_seconds.append(now - job.start)
        path = f"{job.dst}/{job.name}"
        self.dst_plots[job.dst][job.name] = PlotFile(path, job.name, self.plot_bytes, now)
        self.dst_used[job.dst] += self.plot_bytes
        if self.dst_used[job.dst] > self.total[job.dst]:
            self.stats.dst_overfills += 1
        self.fleet.plot_made(self, job.name)
        self.poke()
        if self.archiver is not None:
            self.archiver.plot_ready()

    def remove_plot(self, name: str) -> PlotFile | None:
        """Delete a finished plot from its dst dir (the archiver, after its Complete)."""
        for d, plots in self.dst_plots.items():
            p = plots.pop(name, None)
            if p is not None:
                self.dst_used[d] -= p.size_bytes
                wait = self.fleet.engine.now - p.mtime
                self.stats.longest_dst_wait_s = max(self.stats.longest_dst_wait_s, wait)
                if "dst_space" in self._waiting:
                    self.poke()
                return p
        return None

    def waiting_plots(self) -> int:
        return sum(len(p) for p in self.dst_plots.values())

    def finish_accounting(self) -> None:
        self._account(self.fleet.engine.now)


def plots_in(plotter: SimPlotter) -> Sequence[str]:
    return [n for plots in plotter.dst_plots.values() for n in plots]
