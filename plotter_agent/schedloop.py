"""The scheduler loop: every ``scheduling.polling_time_s`` take the view's snapshot, decide, act.

At most one start per pass. A job just started counts in the next decision at once, before the view has seen it
(never two starts from one stale snapshot): it is added to the snapshot as a job in an unknown phase (= just
started) until a snapshot shows the real process, or the process is gone.

Pause, resume and drain are kept in a state file (atomic) so a restart keeps them. ``reload`` swaps the scheduler
config in one step (SIGHUP); an invalid new config never gets here (the caller keeps the old one).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from plotter_agent.jobs import Job, ProcState
from plotter_agent.launcher import Launch, new_log_path
from plotter_agent.schedconfig import SchedulerConfig
from plotter_agent.schedstate import SchedState, load_state, save_state
from plotter_agent.scheduler import Decision, Start, Wait, decide, live_jobs
from plotter_agent.view import Snapshot

log = logging.getLogger(__name__)

Clock = Callable[[], float]

#: How long a started job the view does not show counts on its own (the view shows it within a poll or two).
PENDING_MAX_S = 120.0
#: After a started job ended before the view saw it run (a plotter refusing its options exits at once), no start for
#: HOLD_BASE_S, doubling with each such failure in a row up to HOLD_MAX_S, rather than a start every pass.
HOLD_BASE_S = 30.0
HOLD_MAX_S = 600.0


def pid_alive(pid: int) -> bool:
    """True while a process of that pid exists and has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b") ", 1)[1][:1] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


@dataclass(frozen=True)
class LastStart:
    time: float
    pid: int
    tmp: str
    dst: str
    logfile: str


@dataclass(frozen=True)
class SchedulerStatus:
    state: SchedState
    decision: Decision | None
    decision_time: float | None
    last_start: LastStart | None
    running_jobs: int
    config_load_time: float
    #: why the last config reload was refused ('' when it was not)
    reload_error: str = ""
    launch_error: str = ""


def _pending_job(pid: int, start: Start, config: SchedulerConfig, now: float, logfile: str) -> Job:
    spec = config.job.spec
    return Job(
        pid=pid,
        pids=(pid,),
        create_time=now,
        cmdline=start.argv,
        plotter=config.job.plotter,
        k=spec.k,
        tmp_dir=start.tmp,
        tmp2_dir=start.tmp2,
        dst_dir=start.dst,
        threads=spec.threads,
        buckets=spec.buckets,
        buffer_mib=spec.buffer_mib,
        state=ProcState.RUNNING,
        wall_s=0.0,
        user_s=0.0,
        sys_s=0.0,
        iowait_s=0.0,
        rss_bytes=0,
        phase=None,
        phase_unknown_reason="just started",
        logfile=logfile,
        plot_count=spec.count,
    )


class Scheduler:
    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        config: SchedulerConfig | None,
        *,
        log_dir: Path,
        nice: int,
        state_path: Path,
        launch: Launch,
        polling_time_s: float,
        clock: Clock = time.time,
        reap: Callable[[], None] = lambda: None,
        alive: Callable[[int], bool] = pid_alive,
    ) -> None:
        self._snapshot = snapshot
        self.log_dir = log_dir
        self.state_path = state_path
        self.launch = launch
        self.clock = clock
        self._reap = reap
        self._alive = alive
        self._lock = threading.RLock()
        self._config = config
        self._nice = nice
        self._polling_time_s = polling_time_s
        self._state = load_state(state_path) if config is not None else SchedState.DISABLED
        self._pending: list[tuple[float, Job]] = []
        #: starts whose job ended before the view saw it, in a row; starts are held until _hold_until after one
        self._failures = 0
        self._hold_until = 0.0
        self._hold_why = ""
        self._status = SchedulerStatus(self._state, None, None, None, 0, clock())
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- control ---------------------------------------------------------------------------------------------------
    @property
    def status(self) -> SchedulerStatus:
        with self._lock:
            return self._status

    def _set_state(self, state: SchedState) -> SchedState:
        with self._lock:
            if self._state is SchedState.DISABLED:
                return self._state
            if state is not self._state:
                save_state(self.state_path, state, self.clock())
                log.info("scheduler %s -> %s", self._state.value, state.value)
                self._state = state
                self._status = replace(self._status, state=state)
            self._wake.set()
            return self._state

    def pause(self) -> SchedState:
        return self._set_state(SchedState.PAUSED)

    def resume(self) -> SchedState:
        return self._set_state(SchedState.RUNNING)

    def drain(self) -> SchedState:
        return self._set_state(SchedState.DRAINING)

    @property
    def enabled(self) -> bool:
        return self._config is not None

    def reload(self, config: SchedulerConfig | None, nice: int, polling_time_s: float) -> None:
        """Use a new (already validated) config from the next pass on."""
        with self._lock:
            if config is None:
                self._state = SchedState.DISABLED
            elif self._state is SchedState.DISABLED:
                self._state = load_state(self.state_path)
            self._config, self._nice, self._polling_time_s = config, nice, polling_time_s
            self._status = replace(self._status, state=self._state, config_load_time=self.clock(), reload_error="")
            self._wake.set()

    def reload_failed(self, why: str) -> None:
        with self._lock:
            self._status = replace(self._status, reload_error=why)

    # --- the loop ----------------------------------------------------------------------------------------------------
    def _with_pending(self, snap: Snapshot, now: float) -> Snapshot:
        """The snapshot with the jobs this agent started that it does not show yet. A pending job is dropped once a
        snapshot shows its pid, once its process is gone, or after PENDING_MAX_S (a wrapper that forks the real
        plotter under another pid: the view shows that one)."""
        seen = {j.pid for j in snap.jobs}
        keep = []
        for launched, job in self._pending:
            if job.pid in seen:
                self._failures = 0  # a start that ran: the plotter works
                continue
            if not self._alive(job.pid):
                self._failures += 1
                hold = min(HOLD_MAX_S, HOLD_BASE_S * 2 ** (self._failures - 1))
                self._hold_until = now + hold
                self._hold_why = (
                    f"job pid {job.pid} ended before it was seen running (see {job.logfile}); no start for {hold:.0f} s"
                )
                log.warning("%s", self._hold_why)
                continue
            if now - launched > PENDING_MAX_S:
                log.warning(
                    "job pid %d was never seen as a plot job in %.0f s; no longer counted", job.pid, now - launched
                )
                continue
            keep.append((launched, job))
        self._pending = keep
        extra = tuple(j for _t, j in keep)
        return replace(snap, jobs=snap.jobs + extra) if extra else snap

    def step(self) -> Decision | None:
        """One pass: snapshot, decide, act (at most one start). None while there is no config or no snapshot yet."""
        self._reap()
        with self._lock:
            config = self._config
            snap = self._snapshot()
            if config is None or snap.version == 0:
                return None
            now = self.clock()
            snap = self._with_pending(snap, now)
            decision = decide(snap, config, now)
            running = len(live_jobs(snap.jobs))
            if self._state is SchedState.DRAINING and running == 0:
                self._set_state(SchedState.PAUSED)
            launch_error = ""
            last = self._status.last_start
            if isinstance(decision, Start) and self._state is SchedState.RUNNING and now < self._hold_until:
                launch_error = self._hold_why  # a plotter that exits at once is not started again and again
            elif isinstance(decision, Start) and self._state is SchedState.RUNNING:
                try:
                    last = self._start(decision, config, now)
                    running += 1
                except OSError as e:
                    launch_error = f"cannot start {decision.argv[0]}: {e.strerror or e}"
                    log.error("%s", launch_error)
            self._status = replace(
                self._status,
                state=self._state,
                decision=decision,
                decision_time=now,
                last_start=last,
                running_jobs=running,
                launch_error=launch_error,
            )
            return decision

    def _start(self, start: Start, config: SchedulerConfig, now: float) -> LastStart:
        for _attempt in range(3):
            path = new_log_path(self.log_dir, now)
            try:
                pid = self.launch(start.argv, path, self._nice)
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(f"no fresh log name in {self.log_dir}")
        log.info("started job pid %d in %s -> %s, log %s: %s", pid, start.tmp, start.dst, path, " ".join(start.argv))
        self._pending.append((now, _pending_job(pid, start, config, now, str(path))))
        return LastStart(now, pid, start.tmp, start.dst, str(path))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # one bad pass must not end scheduling; the next pass tries again
                log.exception("scheduler pass failed")
            self._wake.wait(self._polling_time_s)
            self._wake.clear()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop scheduling; started jobs run on (they are detached)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def wait_reasons(decision: Decision | None) -> tuple[str, ...]:
    if isinstance(decision, Wait):
        return decision.reasons
    return ()
