"""gRPC servicer of the plotter agent: converts messages to domain values, calls the domain, maps errors (plotboss.rpc).

Read RPCs answer from the view's latest snapshot; the scheduler RPCs from the scheduler's last pass; the archiver RPCs
from the archiver's last pass (``ArchiverControl``; messages built in ``plotter_agent.archive_msgs``), or as a
disabled archiver when the agent has none.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from typing import BinaryIO, NamedTuple

import grpc

from plotboss import __version__
from plotboss.errors import FailedPrecondition, InvalidArgument
from plotboss.plots import MAX_K, MIN_K
from plotboss.rpc import from_timestamp, handle_errors, handle_stream_errors, to_duration, to_timestamp
from plotboss.safefile import FileId, NotThatFile, open_regular
from plotboss.v1 import common_pb2, plotter_pb2, plotter_pb2_grpc
from plotter_agent.analyze import DEFAULT_BY, GroupKey, GroupStats, PhaseStats, analyze
from plotter_agent.archive.status import ArchiverControl, ArchiveStatus
from plotter_agent.archive_msgs import ARCHIVER_STATE, archive_status_message, disabled_status_message
from plotter_agent.control import Controller
from plotter_agent.dirs import DirView, PlotFile
from plotter_agent.jobs import Job, ProcState, find_job
from plotter_agent.logparse import Plotter
from plotter_agent.schedloop import Scheduler, SchedulerStatus, wait_reasons
from plotter_agent.schedstate import SchedState
from plotter_agent.scheduler import Start
from plotter_agent.view import Snapshot, View

log = logging.getLogger(__name__)

PLOTTER_KIND = {
    Plotter.CHIA: plotter_pb2.PLOTTER_KIND_CHIA,
    Plotter.MADMAX: plotter_pb2.PLOTTER_KIND_MADMAX,
    Plotter.BLADEBIT: plotter_pb2.PLOTTER_KIND_BLADEBIT,
}
KIND_PLOTTER = {v: k for k, v in PLOTTER_KIND.items()}
JOB_STATE = {
    ProcState.RUNNING: plotter_pb2.JOB_STATE_RUNNING,
    ProcState.SLEEPING: plotter_pb2.JOB_STATE_SLEEPING,
    ProcState.DISK_WAIT: plotter_pb2.JOB_STATE_DISK_WAIT,
    ProcState.STOPPED: plotter_pb2.JOB_STATE_STOPPED,
    ProcState.ZOMBIE: plotter_pb2.JOB_STATE_ZOMBIE,
    ProcState.UNKNOWN: plotter_pb2.JOB_STATE_UNSPECIFIED,
}
GROUP_KEY: dict[GroupKey, plotter_pb2.LogGroupKey] = {
    "plotter": plotter_pb2.LOG_GROUP_KEY_PLOTTER,
    "mode": plotter_pb2.LOG_GROUP_KEY_MODE,
    "k": plotter_pb2.LOG_GROUP_KEY_K,
    "tmp": plotter_pb2.LOG_GROUP_KEY_TMP_DIR,
}
GROUP_KEY_OF: dict[int, GroupKey] = {v: k for k, v in GROUP_KEY.items()}
DIR_ROLE = {"tmp": plotter_pb2.DIR_ROLE_TMP, "tmp2": plotter_pb2.DIR_ROLE_TMP2, "dst": plotter_pb2.DIR_ROLE_DST}

#: How often a WatchJobs/TailLog stream wakes up to notice a cancelled client.
_WAKE_S = 1.0
_TAIL_CHUNK = 256 * 1024
#: The first TailLog answer carries at most the last MiB of the log (a log of one endless line stays cheap to tail).
TAIL_MAX_BYTES = 1024 * 1024
MAX_GRACE_S = 600
#: How long a read RPC right after start-up waits for the view's first snapshot.
FIRST_SNAPSHOT_WAIT_S = 10.0


def _phase_stats(p: PhaseStats) -> plotter_pb2.PhaseStats:
    return plotter_pb2.PhaseStats(
        major=p.major,
        mean=to_duration(p.mean_s),
        min=to_duration(p.min_s),
        max=to_duration(p.max_s),
        median=to_duration(p.median_s),
        count=p.count,
    )


def group_message(g: GroupStats) -> plotter_pb2.LogGroupStats:
    return plotter_pb2.LogGroupStats(
        plotter=PLOTTER_KIND.get(g.plotter, plotter_pb2.PLOTTER_KIND_UNSPECIFIED)
        if g.plotter
        else plotter_pb2.PLOTTER_KIND_UNSPECIFIED,
        k=g.k or 0,
        mode=g.mode or "",
        tmp_dir=g.tmp_dir or "",
        count=g.count,
        phases=[_phase_stats(p) for p in g.phases],
        total_mean=to_duration(g.total.mean_s),
        total=_phase_stats(g.total),
    )


def _phase(phase: tuple[int, int] | None) -> plotter_pb2.Phase:
    if phase is None:
        return plotter_pb2.Phase(known=False)
    return plotter_pb2.Phase(major=phase[0], minor=phase[1], known=True)


def _u32(value: int | None) -> int:
    """A number from a command line or a log for a uint32 field: 0 (unknown) when absent or out of range. Any user's
    process can carry `-b -1` or `-k 99999999999`; one such job must not break the reply for every job."""
    return value if value is not None and 0 <= value < 2**32 else 0


def job_message(j: Job) -> plotter_pb2.Job:
    msg = plotter_pb2.Job(
        plot_id=j.plot_id or "",
        k=_u32(j.k),
        plotter=PLOTTER_KIND[j.plotter],
        pid=j.pid,
        tmp_dir=j.tmp_dir or "",
        tmp2_dir=j.tmp2_dir or "",
        dst_dir=j.dst_dir or "",
        phase=_phase(j.phase),
        progress=j.progress,
        state=JOB_STATE[j.state],
        stalled=j.stalled,
        wall=to_duration(j.wall_s),
        user_cpu=to_duration(j.user_s),
        sys_cpu=to_duration(j.sys_s),
        iowait=to_duration(j.iowait_s),
        rss_bytes=j.rss_bytes,
        tmp_bytes=j.tmp_bytes,
        logfile=j.logfile or "",
        phase_unknown_reason=j.phase_unknown_reason,
        start_time=to_timestamp(j.start_time),
        phase_times=[plotter_pb2.PhaseTime(major=m, duration=to_duration(s)) for m, s in j.phase_times],
        threads=_u32(j.threads),
        buckets=_u32(j.buckets),
        buffer_mib=_u32(j.buffer_mib),
        plot_name=j.plot_name or "",
        cmdline=list(j.cmdline),
        plot_index=_u32(j.plot_index),
        plot_count=_u32(j.plot_count),
        mode=j.mode or "",
    )
    eta = to_duration(j.eta_s)
    if eta is not None:
        msg.eta.CopyFrom(eta)
    return msg


def plot_file_message(f: PlotFile) -> plotter_pb2.PlotFile:
    return plotter_pb2.PlotFile(
        name=f.name, size_bytes=f.size_bytes, modified_time=to_timestamp(f.mtime), reason=f.reason
    )


def dir_message(d: DirView, *, include_plots: bool = False) -> plotter_pb2.Dir:
    return plotter_pb2.Dir(
        path=d.path,
        role=DIR_ROLE[d.role],
        total_bytes=d.total_bytes,
        free_bytes=d.free_bytes,
        jobs=[plotter_pb2.DirJob(plot_id=j.plot_id or "", pid=j.pid, phase=_phase(j.phase)) for j in d.jobs],
        plot_count=d.plot_count,
        plot_bytes=d.plot_bytes,
        orphan_bytes=d.orphan_bytes,
        orphan_files=len(d.orphans),
        error=d.error,
        suspects=[plot_file_message(f) for f in d.suspects],
        plots=[plot_file_message(f) for f in d.plots] if include_plots else [],
    )


SCHEDULER_STATE = {
    SchedState.RUNNING: plotter_pb2.SCHEDULER_STATE_RUNNING,
    SchedState.PAUSED: plotter_pb2.SCHEDULER_STATE_PAUSED,
    SchedState.DRAINING: plotter_pb2.SCHEDULER_STATE_DRAINING,
    SchedState.DISABLED: plotter_pb2.SCHEDULER_STATE_DISABLED,
}


def scheduler_status_message(st: SchedulerStatus) -> plotter_pb2.GetSchedulerStatusResponse:
    dec = st.decision
    if st.state is SchedState.DISABLED:
        reason = "disabled: no plotting section in the config, the agent only watches"
    elif dec is None:
        reason = "no decision yet"
    else:
        reason = dec.reason
    msg = plotter_pb2.GetSchedulerStatusResponse(
        state=SCHEDULER_STATE[st.state],
        reason=reason,
        tmp_dirs=[
            plotter_pb2.TmpDirDecision(
                tmp_dir=t.tmp_dir, eligible=t.eligible, reason=t.reason, running_jobs=t.running_jobs
            )
            for t in (dec.tmp_dirs if dec is not None else ())
        ],
        running_jobs=st.running_jobs,
        decision_time=to_timestamp(st.decision_time),
        wait_reasons=list(wait_reasons(dec)),
        config_load_time=to_timestamp(st.config_load_time),
        reload_error=st.reload_error,
        launch_error=st.launch_error,
        would_start=isinstance(dec, Start),
    )
    if st.last_start is not None:
        ls = st.last_start
        msg.last_start_time.FromNanoseconds(int(ls.time * 1e9))
        msg.last_start_pid, msg.last_start_tmp_dir, msg.last_start_dst_dir = ls.pid, ls.tmp, ls.dst
        msg.last_start_logfile = ls.logfile
    return msg


class Tail(NamedTuple):
    data: bytes
    #: where the file ended when it was read, and which file it was: where (and in what) `logs -f` goes on
    end: int
    identity: tuple[int, int]


def tail_bytes(path: str, lines: int, max_bytes: int = TAIL_MAX_BYTES, expect: FileId | None = None) -> Tail:
    """The last ``lines`` lines of the regular file at ``path`` (see :func:`tail_file`); OSError when it cannot be
    read, is not a regular file (:func:`plotboss.safefile.open_regular`) or is not ``expect``."""
    with os.fdopen(open_regular(path, expect), "rb") as f:
        return tail_file(f, lines, max_bytes)


def tail_file(f: BinaryIO, lines: int, max_bytes: int = TAIL_MAX_BYTES) -> Tail:
    """The last ``lines`` lines of an open file, at most its last ``max_bytes``, with the offset where it ended.

    Reads backwards in 64 KiB steps and counts newlines in each new step only, so the cost is bounded by
    ``max_bytes`` however large the log and however few newlines it has."""
    st = os.fstat(f.fileno())
    end = f.seek(0, os.SEEK_END)
    pos = end
    chunks: list[bytes] = []
    newlines = size = 0
    while pos > 0 and newlines <= lines and size < max_bytes:
        step = min(64 * 1024, pos)
        pos -= step
        f.seek(pos)
        chunk = f.read(step)
        chunks.append(chunk)
        newlines += chunk.count(b"\n")
        size += len(chunk)
    data = b"".join(reversed(chunks))
    if newlines > lines:
        data = b"\n".join(data.split(b"\n")[-(lines + 1) :])
    return Tail(data[-max_bytes:], end, (st.st_dev, st.st_ino))


class PlotterServicer(plotter_pb2_grpc.PlotterServiceServicer):
    def __init__(
        self,
        agent_name: str,
        view: View,
        controller: Controller,
        scheduler: Scheduler,
        archiver: ArchiverControl | None = None,
    ) -> None:
        self.info = common_pb2.AgentInfo(name=agent_name, version=__version__, hostname=socket.gethostname())
        self.view = view
        self.controller = controller
        self.scheduler = scheduler
        #: None: no archiver in this agent (the archive RPCs answer as for a disabled one)
        self.archiver = archiver

    def _snapshot(self, context: grpc.ServicerContext) -> Snapshot:
        """The view's snapshot, waiting (within the call's deadline) for the first one after start-up."""
        remaining = context.time_remaining()
        budget = FIRST_SNAPSHOT_WAIT_S if remaining is None else min(FIRST_SNAPSHOT_WAIT_S, max(0.0, remaining - 0.5))
        return self.view.first(budget)

    def _jobs_response(self, snap: Snapshot) -> plotter_pb2.ListJobsResponse:
        return plotter_pb2.ListJobsResponse(
            agent=self.info,
            jobs=[job_message(j) for j in snap.jobs],
            snapshot_time=to_timestamp(snap.time),
            poll_cpu=to_duration(snap.poll_cpu_s),
        )

    @handle_errors
    def ListJobs(
        self, request: plotter_pb2.ListJobsRequest, context: grpc.ServicerContext
    ) -> plotter_pb2.ListJobsResponse:
        return self._jobs_response(self._snapshot(context))

    @handle_errors
    def GetJob(self, request: plotter_pb2.GetJobRequest, context: grpc.ServicerContext) -> plotter_pb2.GetJobResponse:
        return plotter_pb2.GetJobResponse(job=job_message(find_job(self._snapshot(context).jobs, request.job)))

    @handle_stream_errors
    def WatchJobs(
        self, request: plotter_pb2.WatchJobsRequest, context: grpc.ServicerContext
    ) -> Iterator[plotter_pb2.WatchJobsResponse]:
        snap = self._snapshot(context)
        while True:
            yield plotter_pb2.WatchJobsResponse(
                jobs=[job_message(j) for j in snap.jobs], snapshot_time=to_timestamp(snap.time)
            )
            while True:
                if not context.is_active() or self.view.closed:
                    return
                nxt = self.view.wait_newer(snap.version, _WAKE_S)
                if nxt is not None:
                    snap = nxt
                    break

    @handle_errors
    def KillJob(
        self, request: plotter_pb2.KillJobRequest, context: grpc.ServicerContext
    ) -> plotter_pb2.KillJobResponse:
        if request.grace_s > MAX_GRACE_S:
            raise InvalidArgument(f"grace_s={request.grace_s}: at most {MAX_GRACE_S} seconds")
        res = self.controller.kill(request.job, float(request.grace_s) or None)
        return plotter_pb2.KillJobResponse(
            job=job_message(res.job), removed_files=list(res.removed_files), removed_bytes=res.removed_bytes
        )

    @handle_errors
    def SuspendJob(
        self, request: plotter_pb2.SuspendJobRequest, context: grpc.ServicerContext
    ) -> plotter_pb2.SuspendJobResponse:
        return plotter_pb2.SuspendJobResponse(job=job_message(self.controller.suspend(request.job)))

    @handle_errors
    def ResumeJob(
        self, request: plotter_pb2.ResumeJobRequest, context: grpc.ServicerContext
    ) -> plotter_pb2.ResumeJobResponse:
        return plotter_pb2.ResumeJobResponse(job=job_message(self.controller.resume(request.job)))

    @handle_errors
    def ListDirs(
        self, request: plotter_pb2.ListDirsRequest, context: grpc.ServicerContext
    ) -> plotter_pb2.ListDirsResponse:
        return plotter_pb2.ListDirsResponse(
            agent=self.info,
            dirs=[dir_message(d, include_plots=request.include_plots) for d in self._snapshot(context).dirs],
        )

    @handle_errors
    def CleanOrphans(
        self, request: plotter_pb2.CleanOrphansRequest, context: grpc.ServicerContext
    ) -> plotter_pb2.CleanOrphansResponse:
        removed, total = self.controller.clean_orphans(request.expected_bytes or None)
        return plotter_pb2.CleanOrphansResponse(removed_files=removed, removed_bytes=total)

    @handle_errors
    def AnalyzeLogs(
        self, request: plotter_pb2.AnalyzeLogsRequest, context: grpc.ServicerContext
    ) -> plotter_pb2.AnalyzeLogsResponse:
        if request.k and not MIN_K <= request.k <= MAX_K:
            raise InvalidArgument(f"k={request.k} is outside {MIN_K}..{MAX_K}")
        plotter = KIND_PLOTTER.get(request.plotter)
        if request.plotter and plotter is None:
            raise InvalidArgument(f"unknown plotter kind {request.plotter}")
        by = tuple(dict.fromkeys(GROUP_KEY_OF.get(b) for b in request.by))
        if None in by:
            raise InvalidArgument(f"unknown group key(s) in by: {list(request.by)}")
        keys = tuple(k for k in by if k is not None) or DEFAULT_BY
        since = from_timestamp(request.since) if request.HasField("since") else None
        with self.view.library_lock:
            infos = self.view.library.old_infos()
        groups, incomplete = analyze(infos, k=request.k or None, plotter=plotter, since=since, by=keys)
        return plotter_pb2.AnalyzeLogsResponse(
            groups=[group_message(g) for g in groups],
            incomplete_logs=incomplete,
            by=[GROUP_KEY[k] for k in keys],
        )

    @handle_stream_errors
    def TailLog(
        self, request: plotter_pb2.TailLogRequest, context: grpc.ServicerContext
    ) -> Iterator[plotter_pb2.TailLogResponse]:
        job = find_job(self._snapshot(context).jobs, request.job)
        if not job.logfile:
            raise FailedPrecondition(f"job {job.name}: no log in the log dir ({job.phase_unknown_reason})")
        try:
            # the file the job's fd points to, as it is: a symlink, FIFO or other file put at the path is refused
            f = os.fdopen(open_regular(job.logfile, job.log_id), "rb")
        except NotThatFile:
            raise FailedPrecondition(
                f"job {job.name}: {job.logfile} is no longer the file the job writes (it was replaced); nothing read"
            ) from None
        except OSError as e:
            raise FailedPrecondition(f"cannot read {job.logfile}: {e.strerror or e}") from None
        with f:
            yield from self._tail(job, job.logfile, f, request, context)

    def _tail(
        self, job: Job, path: str, f: BinaryIO, request: plotter_pb2.TailLogRequest, context: grpc.ServicerContext
    ) -> Iterator[plotter_pb2.TailLogResponse]:
        """TailLog on the opened log: the stream reads only that file (the path is only checked, never reopened)."""
        data, offset, identity = tail_file(f, request.lines or 20)
        yield plotter_pb2.TailLogResponse(data=data, logfile=path)
        if not request.follow:
            return
        version = self.view.snapshot.version
        while context.is_active() and not self.view.closed:
            # decided before reading, so that what the job wrote before it ended is still sent
            gone = not any(j.pid == job.pid and j.create_time == job.create_time for j in self.view.snapshot.jobs)
            try:
                if os.fstat(f.fileno()).st_size < offset:  # truncated: follow the new content from its start
                    offset = 0
                f.seek(offset)
                while context.is_active() and (chunk := f.read(_TAIL_CHUNK)):
                    offset += len(chunk)
                    yield plotter_pb2.TailLogResponse(data=chunk)
                st = os.lstat(path)
            except FileNotFoundError:
                if gone:
                    return
                raise FailedPrecondition(
                    f"job {job.name}: its log {path} was removed while the job runs; nothing more to follow"
                ) from None
            except OSError as e:
                raise FailedPrecondition(f"cannot read {path}: {e.strerror or e}") from None
            if gone:
                return
            if (st.st_dev, st.st_ino) != identity:
                raise FailedPrecondition(
                    f"job {job.name}: its log {path} was replaced while the job runs; nothing more to follow"
                )
            nxt = self.view.wait_newer(version, _WAKE_S)
            if nxt is not None:
                version = nxt.version

    @handle_errors
    def GetSchedulerStatus(
        self, request: plotter_pb2.GetSchedulerStatusRequest, context: grpc.ServicerContext
    ) -> plotter_pb2.GetSchedulerStatusResponse:
        return scheduler_status_message(self.scheduler.status)

    def _control(self, change: Callable[[], SchedState]) -> int:
        if not self.scheduler.enabled:
            raise FailedPrecondition("the scheduler is disabled: the agent's config has no plotting section")
        return SCHEDULER_STATE[change()]

    @handle_errors
    def PauseScheduler(
        self, request: plotter_pb2.PauseSchedulerRequest, context: grpc.ServicerContext
    ) -> plotter_pb2.PauseSchedulerResponse:
        return plotter_pb2.PauseSchedulerResponse(state=self._control(self.scheduler.pause))  # type: ignore[arg-type]

    @handle_errors
    def ResumeScheduler(
        self, request: plotter_pb2.ResumeSchedulerRequest, context: grpc.ServicerContext
    ) -> plotter_pb2.ResumeSchedulerResponse:
        return plotter_pb2.ResumeSchedulerResponse(state=self._control(self.scheduler.resume))  # type: ignore[arg-type]

    @handle_errors
    def DrainScheduler(
        self, request: plotter_pb2.DrainSchedulerRequest, context: grpc.ServicerContext
    ) -> plotter_pb2.DrainSchedulerResponse:
        return plotter_pb2.DrainSchedulerResponse(state=self._control(self.scheduler.drain))  # type: ignore[arg-type]

    @handle_errors
    def GetArchiveStatus(
        self, request: plotter_pb2.GetArchiveStatusRequest, context: grpc.ServicerContext
    ) -> plotter_pb2.GetArchiveStatusResponse:
        if self.archiver is None:
            return disabled_status_message()
        return archive_status_message(self.archiver.status())

    def _archiver_control(self, change: Callable[[ArchiverControl], ArchiveStatus]) -> plotter_pb2.ArchiverState:
        if self.archiver is None or self.archiver.status().state == "disabled":
            raise FailedPrecondition("the archiver is disabled: the config names no farmers (archiving.farmers)")
        return ARCHIVER_STATE[change(self.archiver).state]

    @handle_errors
    def PauseArchiver(
        self, request: plotter_pb2.PauseArchiverRequest, context: grpc.ServicerContext
    ) -> plotter_pb2.PauseArchiverResponse:
        return plotter_pb2.PauseArchiverResponse(state=self._archiver_control(lambda a: a.pause()))

    @handle_errors
    def ResumeArchiver(
        self, request: plotter_pb2.ResumeArchiverRequest, context: grpc.ServicerContext
    ) -> plotter_pb2.ResumeArchiverResponse:
        return plotter_pb2.ResumeArchiverResponse(state=self._archiver_control(lambda a: a.resume()))
