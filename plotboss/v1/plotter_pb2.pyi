import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from plotboss.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PlotterKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLOTTER_KIND_UNSPECIFIED: _ClassVar[PlotterKind]
    PLOTTER_KIND_CHIA: _ClassVar[PlotterKind]
    PLOTTER_KIND_MADMAX: _ClassVar[PlotterKind]
    PLOTTER_KIND_BLADEBIT: _ClassVar[PlotterKind]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SLEEPING: _ClassVar[JobState]
    JOB_STATE_DISK_WAIT: _ClassVar[JobState]
    JOB_STATE_STOPPED: _ClassVar[JobState]
    JOB_STATE_ZOMBIE: _ClassVar[JobState]

class DirRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIR_ROLE_UNSPECIFIED: _ClassVar[DirRole]
    DIR_ROLE_TMP: _ClassVar[DirRole]
    DIR_ROLE_TMP2: _ClassVar[DirRole]
    DIR_ROLE_DST: _ClassVar[DirRole]

class SchedulerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCHEDULER_STATE_UNSPECIFIED: _ClassVar[SchedulerState]
    SCHEDULER_STATE_RUNNING: _ClassVar[SchedulerState]
    SCHEDULER_STATE_PAUSED: _ClassVar[SchedulerState]
    SCHEDULER_STATE_DRAINING: _ClassVar[SchedulerState]
    SCHEDULER_STATE_DISABLED: _ClassVar[SchedulerState]

class ArchiverState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARCHIVER_STATE_UNSPECIFIED: _ClassVar[ArchiverState]
    ARCHIVER_STATE_RUNNING: _ClassVar[ArchiverState]
    ARCHIVER_STATE_PAUSED: _ClassVar[ArchiverState]
    ARCHIVER_STATE_DISABLED: _ClassVar[ArchiverState]

class TransferOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSFER_OUTCOME_UNSPECIFIED: _ClassVar[TransferOutcome]
    TRANSFER_OUTCOME_IN_PROGRESS: _ClassVar[TransferOutcome]
    TRANSFER_OUTCOME_DONE: _ClassVar[TransferOutcome]
    TRANSFER_OUTCOME_FAILED: _ClassVar[TransferOutcome]

class LogGroupKey(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_GROUP_KEY_UNSPECIFIED: _ClassVar[LogGroupKey]
    LOG_GROUP_KEY_PLOTTER: _ClassVar[LogGroupKey]
    LOG_GROUP_KEY_MODE: _ClassVar[LogGroupKey]
    LOG_GROUP_KEY_K: _ClassVar[LogGroupKey]
    LOG_GROUP_KEY_TMP_DIR: _ClassVar[LogGroupKey]
PLOTTER_KIND_UNSPECIFIED: PlotterKind
PLOTTER_KIND_CHIA: PlotterKind
PLOTTER_KIND_MADMAX: PlotterKind
PLOTTER_KIND_BLADEBIT: PlotterKind
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SLEEPING: JobState
JOB_STATE_DISK_WAIT: JobState
JOB_STATE_STOPPED: JobState
JOB_STATE_ZOMBIE: JobState
DIR_ROLE_UNSPECIFIED: DirRole
DIR_ROLE_TMP: DirRole
DIR_ROLE_TMP2: DirRole
DIR_ROLE_DST: DirRole
SCHEDULER_STATE_UNSPECIFIED: SchedulerState
SCHEDULER_STATE_RUNNING: SchedulerState
SCHEDULER_STATE_PAUSED: SchedulerState
SCHEDULER_STATE_DRAINING: SchedulerState
SCHEDULER_STATE_DISABLED: SchedulerState
ARCHIVER_STATE_UNSPECIFIED: ArchiverState
ARCHIVER_STATE_RUNNING: ArchiverState
ARCHIVER_STATE_PAUSED: ArchiverState
ARCHIVER_STATE_DISABLED: ArchiverState
TRANSFER_OUTCOME_UNSPECIFIED: TransferOutcome
TRANSFER_OUTCOME_IN_PROGRESS: TransferOutcome
TRANSFER_OUTCOME_DONE: TransferOutcome
TRANSFER_OUTCOME_FAILED: TransferOutcome
LOG_GROUP_KEY_UNSPECIFIED: LogGroupKey
LOG_GROUP_KEY_PLOTTER: LogGroupKey
LOG_GROUP_KEY_MODE: LogGroupKey
LOG_GROUP_KEY_K: LogGroupKey
LOG_GROUP_KEY_TMP_DIR: LogGroupKey

class Phase(_message.Message):
    __slots__ = ("major", "minor", "known")
    MAJOR_FIELD_NUMBER: _ClassVar[int]
    MINOR_FIELD_NUMBER: _ClassVar[int]
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    major: int
    minor: int
    known: bool
    def __init__(self, major: _Optional[int] = ..., minor: _Optional[int] = ..., known: _Optional[bool] = ...) -> None: ...

class PhaseTime(_message.Message):
    __slots__ = ("major", "duration")
    MAJOR_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    major: int
    duration: _duration_pb2.Duration
    def __init__(self, major: _Optional[int] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("plot_id", "k", "plotter", "pid", "tmp_dir", "tmp2_dir", "dst_dir", "phase", "progress", "eta", "state", "stalled", "wall", "user_cpu", "sys_cpu", "iowait", "rss_bytes", "tmp_bytes", "logfile", "phase_unknown_reason", "start_time", "phase_times", "threads", "buckets", "buffer_mib", "plot_name", "cmdline", "plot_index", "plot_count", "mode")
    PLOT_ID_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    PLOTTER_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    TMP_DIR_FIELD_NUMBER: _ClassVar[int]
    TMP2_DIR_FIELD_NUMBER: _ClassVar[int]
    DST_DIR_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ETA_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STALLED_FIELD_NUMBER: _ClassVar[int]
    WALL_FIELD_NUMBER: _ClassVar[int]
    USER_CPU_FIELD_NUMBER: _ClassVar[int]
    SYS_CPU_FIELD_NUMBER: _ClassVar[int]
    IOWAIT_FIELD_NUMBER: _ClassVar[int]
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    TMP_BYTES_FIELD_NUMBER: _ClassVar[int]
    LOGFILE_FIELD_NUMBER: _ClassVar[int]
    PHASE_UNKNOWN_REASON_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    PHASE_TIMES_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    BUFFER_MIB_FIELD_NUMBER: _ClassVar[int]
    PLOT_NAME_FIELD_NUMBER: _ClassVar[int]
    CMDLINE_FIELD_NUMBER: _ClassVar[int]
    PLOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    PLOT_COUNT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    plot_id: str
    k: int
    plotter: PlotterKind
    pid: int
    tmp_dir: str
    tmp2_dir: str
    dst_dir: str
    phase: Phase
    progress: float
    eta: _duration_pb2.Duration
    state: JobState
    stalled: bool
    wall: _duration_pb2.Duration
    user_cpu: _duration_pb2.Duration
    sys_cpu: _duration_pb2.Duration
    iowait: _duration_pb2.Duration
    rss_bytes: int
    tmp_bytes: int
    logfile: str
    phase_unknown_reason: str
    start_time: _timestamp_pb2.Timestamp
    phase_times: _containers.RepeatedCompositeFieldContainer[PhaseTime]
    threads: int
    buckets: int
    buffer_mib: int
    plot_name: str
    cmdline: _containers.RepeatedScalarFieldContainer[str]
    plot_index: int
    plot_count: int
    mode: str
    def __init__(self, plot_id: _Optional[str] = ..., k: _Optional[int] = ..., plotter: _Optional[_Union[PlotterKind, str]] = ..., pid: _Optional[int] = ..., tmp_dir: _Optional[str] = ..., tmp2_dir: _Optional[str] = ..., dst_dir: _Optional[str] = ..., phase: _Optional[_Union[Phase, _Mapping]] = ..., progress: _Optional[float] = ..., eta: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., state: _Optional[_Union[JobState, str]] = ..., stalled: _Optional[bool] = ..., wall: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., user_cpu: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., sys_cpu: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., iowait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., rss_bytes: _Optional[int] = ..., tmp_bytes: _Optional[int] = ..., logfile: _Optional[str] = ..., phase_unknown_reason: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., phase_times: _Optional[_Iterable[_Union[PhaseTime, _Mapping]]] = ..., threads: _Optional[int] = ..., buckets: _Optional[int] = ..., buffer_mib: _Optional[int] = ..., plot_name: _Optional[str] = ..., cmdline: _Optional[_Iterable[str]] = ..., plot_index: _Optional[int] = ..., plot_count: _Optional[int] = ..., mode: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("agent", "jobs", "snapshot_time", "poll_cpu")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_TIME_FIELD_NUMBER: _ClassVar[int]
    POLL_CPU_FIELD_NUMBER: _ClassVar[int]
    agent: _common_pb2.AgentInfo
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    snapshot_time: _timestamp_pb2.Timestamp
    poll_cpu: _duration_pb2.Duration
    def __init__(self, agent: _Optional[_Union[_common_pb2.AgentInfo, _Mapping]] = ..., jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., snapshot_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., poll_cpu: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: str
    def __init__(self, job: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class WatchJobsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchJobsResponse(_message.Message):
    __slots__ = ("jobs", "snapshot_time")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_TIME_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    snapshot_time: _timestamp_pb2.Timestamp
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., snapshot_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class KillJobRequest(_message.Message):
    __slots__ = ("job", "grace_s")
    JOB_FIELD_NUMBER: _ClassVar[int]
    GRACE_S_FIELD_NUMBER: _ClassVar[int]
    job: str
    grace_s: int
    def __init__(self, job: _Optional[str] = ..., grace_s: _Optional[int] = ...) -> None: ...

class KillJobResponse(_message.Message):
    __slots__ = ("job", "removed_files", "removed_bytes")
    JOB_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FILES_FIELD_NUMBER: _ClassVar[int]
    REMOVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    job: Job
    removed_files: _containers.RepeatedScalarFieldContainer[str]
    removed_bytes: int
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., removed_files: _Optional[_Iterable[str]] = ..., removed_bytes: _Optional[int] = ...) -> None: ...

class SuspendJobRequest(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: str
    def __init__(self, job: _Optional[str] = ...) -> None: ...

class SuspendJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ResumeJobRequest(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: str
    def __init__(self, job: _Optional[str] = ...) -> None: ...

class ResumeJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class DirJob(_message.Message):
    __slots__ = ("plot_id", "pid", "phase")
    PLOT_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    plot_id: str
    pid: int
    phase: Phase
    def __init__(self, plot_id: _Optional[str] = ..., pid: _Optional[int] = ..., phase: _Optional[_Union[Phase, _Mapping]] = ...) -> None: ...

class Dir(_message.Message):
    __slots__ = ("path", "role", "total_bytes", "free_bytes", "jobs", "plot_count", "plot_bytes", "orphan_bytes", "orphan_files", "error", "suspects", "plots")
    PATH_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    PLOT_COUNT_FIELD_NUMBER: _ClassVar[int]
    PLOT_BYTES_FIELD_NUMBER: _ClassVar[int]
    ORPHAN_BYTES_FIELD_NUMBER: _ClassVar[int]
    ORPHAN_FILES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SUSPECTS_FIELD_NUMBER: _ClassVar[int]
    PLOTS_FIELD_NUMBER: _ClassVar[int]
    path: str
    role: DirRole
    total_bytes: int
    free_bytes: int
    jobs: _containers.RepeatedCompositeFieldContainer[DirJob]
    plot_count: int
    plot_bytes: int
    orphan_bytes: int
    orphan_files: int
    error: str
    suspects: _containers.RepeatedCompositeFieldContainer[PlotFile]
    plots: _containers.RepeatedCompositeFieldContainer[PlotFile]
    def __init__(self, path: _Optional[str] = ..., role: _Optional[_Union[DirRole, str]] = ..., total_bytes: _Optional[int] = ..., free_bytes: _Optional[int] = ..., jobs: _Optional[_Iterable[_Union[DirJob, _Mapping]]] = ..., plot_count: _Optional[int] = ..., plot_bytes: _Optional[int] = ..., orphan_bytes: _Optional[int] = ..., orphan_files: _Optional[int] = ..., error: _Optional[str] = ..., suspects: _Optional[_Iterable[_Union[PlotFile, _Mapping]]] = ..., plots: _Optional[_Iterable[_Union[PlotFile, _Mapping]]] = ...) -> None: ...

class PlotFile(_message.Message):
    __slots__ = ("name", "size_bytes", "modified_time", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    size_bytes: int
    modified_time: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., modified_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class ListDirsRequest(_message.Message):
    __slots__ = ("include_plots",)
    INCLUDE_PLOTS_FIELD_NUMBER: _ClassVar[int]
    include_plots: bool
    def __init__(self, include_plots: _Optional[bool] = ...) -> None: ...

class ListDirsResponse(_message.Message):
    __slots__ = ("agent", "dirs")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    DIRS_FIELD_NUMBER: _ClassVar[int]
    agent: _common_pb2.AgentInfo
    dirs: _containers.RepeatedCompositeFieldContainer[Dir]
    def __init__(self, agent: _Optional[_Union[_common_pb2.AgentInfo, _Mapping]] = ..., dirs: _Optional[_Iterable[_Union[Dir, _Mapping]]] = ...) -> None: ...

class CleanOrphansRequest(_message.Message):
    __slots__ = ("expected_bytes",)
    EXPECTED_BYTES_FIELD_NUMBER: _ClassVar[int]
    expected_bytes: int
    def __init__(self, expected_bytes: _Optional[int] = ...) -> None: ...

class CleanOrphansResponse(_message.Message):
    __slots__ = ("removed_files", "removed_bytes")
    REMOVED_FILES_FIELD_NUMBER: _ClassVar[int]
    REMOVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    removed_files: _containers.RepeatedScalarFieldContainer[str]
    removed_bytes: int
    def __init__(self, removed_files: _Optional[_Iterable[str]] = ..., removed_bytes: _Optional[int] = ...) -> None: ...

class TmpDirDecision(_message.Message):
    __slots__ = ("tmp_dir", "eligible", "reason", "running_jobs")
    TMP_DIR_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RUNNING_JOBS_FIELD_NUMBER: _ClassVar[int]
    tmp_dir: str
    eligible: bool
    reason: str
    running_jobs: int
    def __init__(self, tmp_dir: _Optional[str] = ..., eligible: _Optional[bool] = ..., reason: _Optional[str] = ..., running_jobs: _Optional[int] = ...) -> None: ...

class GetSchedulerStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSchedulerStatusResponse(_message.Message):
    __slots__ = ("state", "reason", "tmp_dirs", "last_start_time", "running_jobs", "decision_time", "wait_reasons", "config_load_time", "reload_error", "last_start_pid", "last_start_tmp_dir", "last_start_dst_dir", "last_start_logfile", "launch_error", "would_start")
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TMP_DIRS_FIELD_NUMBER: _ClassVar[int]
    LAST_START_TIME_FIELD_NUMBER: _ClassVar[int]
    RUNNING_JOBS_FIELD_NUMBER: _ClassVar[int]
    DECISION_TIME_FIELD_NUMBER: _ClassVar[int]
    WAIT_REASONS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_LOAD_TIME_FIELD_NUMBER: _ClassVar[int]
    RELOAD_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_START_PID_FIELD_NUMBER: _ClassVar[int]
    LAST_START_TMP_DIR_FIELD_NUMBER: _ClassVar[int]
    LAST_START_DST_DIR_FIELD_NUMBER: _ClassVar[int]
    LAST_START_LOGFILE_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_ERROR_FIELD_NUMBER: _ClassVar[int]
    WOULD_START_FIELD_NUMBER: _ClassVar[int]
    state: SchedulerState
    reason: str
    tmp_dirs: _containers.RepeatedCompositeFieldContainer[TmpDirDecision]
    last_start_time: _timestamp_pb2.Timestamp
    running_jobs: int
    decision_time: _timestamp_pb2.Timestamp
    wait_reasons: _containers.RepeatedScalarFieldContainer[str]
    config_load_time: _timestamp_pb2.Timestamp
    reload_error: str
    last_start_pid: int
    last_start_tmp_dir: str
    last_start_dst_dir: str
    last_start_logfile: str
    launch_error: str
    would_start: bool
    def __init__(self, state: _Optional[_Union[SchedulerState, str]] = ..., reason: _Optional[str] = ..., tmp_dirs: _Optional[_Iterable[_Union[TmpDirDecision, _Mapping]]] = ..., last_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., running_jobs: _Optional[int] = ..., decision_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., wait_reasons: _Optional[_Iterable[str]] = ..., config_load_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reload_error: _Optional[str] = ..., last_start_pid: _Optional[int] = ..., last_start_tmp_dir: _Optional[str] = ..., last_start_dst_dir: _Optional[str] = ..., last_start_logfile: _Optional[str] = ..., launch_error: _Optional[str] = ..., would_start: _Optional[bool] = ...) -> None: ...

class PauseSchedulerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PauseSchedulerResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: SchedulerState
    def __init__(self, state: _Optional[_Union[SchedulerState, str]] = ...) -> None: ...

class ResumeSchedulerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResumeSchedulerResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: SchedulerState
    def __init__(self, state: _Optional[_Union[SchedulerState, str]] = ...) -> None: ...

class DrainSchedulerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DrainSchedulerResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: SchedulerState
    def __init__(self, state: _Optional[_Union[SchedulerState, str]] = ...) -> None: ...

class Transfer(_message.Message):
    __slots__ = ("plot_name", "source_path", "farmer", "drive_path", "reservation_id", "size_bytes", "transferred_bytes", "rate_bytes_per_s", "start_time", "end_time", "outcome", "error", "dst_dir", "eta", "next_step", "recovered")
    PLOT_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_PATH_FIELD_NUMBER: _ClassVar[int]
    FARMER_FIELD_NUMBER: _ClassVar[int]
    DRIVE_PATH_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    TRANSFERRED_BYTES_FIELD_NUMBER: _ClassVar[int]
    RATE_BYTES_PER_S_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DST_DIR_FIELD_NUMBER: _ClassVar[int]
    ETA_FIELD_NUMBER: _ClassVar[int]
    NEXT_STEP_FIELD_NUMBER: _ClassVar[int]
    RECOVERED_FIELD_NUMBER: _ClassVar[int]
    plot_name: str
    source_path: str
    farmer: str
    drive_path: str
    reservation_id: str
    size_bytes: int
    transferred_bytes: int
    rate_bytes_per_s: int
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    outcome: TransferOutcome
    error: str
    dst_dir: str
    eta: _duration_pb2.Duration
    next_step: str
    recovered: bool
    def __init__(self, plot_name: _Optional[str] = ..., source_path: _Optional[str] = ..., farmer: _Optional[str] = ..., drive_path: _Optional[str] = ..., reservation_id: _Optional[str] = ..., size_bytes: _Optional[int] = ..., transferred_bytes: _Optional[int] = ..., rate_bytes_per_s: _Optional[int] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outcome: _Optional[_Union[TransferOutcome, str]] = ..., error: _Optional[str] = ..., dst_dir: _Optional[str] = ..., eta: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., next_step: _Optional[str] = ..., recovered: _Optional[bool] = ...) -> None: ...

class ArchiveDir(_message.Message):
    __slots__ = ("path", "plots_waiting", "bytes_waiting", "score", "readers", "skipped")
    PATH_FIELD_NUMBER: _ClassVar[int]
    PLOTS_WAITING_FIELD_NUMBER: _ClassVar[int]
    BYTES_WAITING_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    READERS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    path: str
    plots_waiting: int
    bytes_waiting: int
    score: float
    readers: int
    skipped: str
    def __init__(self, path: _Optional[str] = ..., plots_waiting: _Optional[int] = ..., bytes_waiting: _Optional[int] = ..., score: _Optional[float] = ..., readers: _Optional[int] = ..., skipped: _Optional[str] = ...) -> None: ...

class ArchiveFarmer(_message.Message):
    __slots__ = ("name", "address", "reachable", "error", "unreachable_since_time", "next_try_time", "drives", "room_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    UNREACHABLE_SINCE_TIME_FIELD_NUMBER: _ClassVar[int]
    NEXT_TRY_TIME_FIELD_NUMBER: _ClassVar[int]
    DRIVES_FIELD_NUMBER: _ClassVar[int]
    ROOM_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    reachable: bool
    error: str
    unreachable_since_time: _timestamp_pb2.Timestamp
    next_try_time: _timestamp_pb2.Timestamp
    drives: int
    room_bytes: int
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., reachable: _Optional[bool] = ..., error: _Optional[str] = ..., unreachable_since_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_try_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., drives: _Optional[int] = ..., room_bytes: _Optional[int] = ...) -> None: ...

class GetArchiveStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetArchiveStatusResponse(_message.Message):
    __slots__ = ("state", "reason", "active", "recent", "dirs", "farmers", "max_concurrent_transfers", "archived_plots", "archived_bytes", "pass_time")
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    RECENT_FIELD_NUMBER: _ClassVar[int]
    DIRS_FIELD_NUMBER: _ClassVar[int]
    FARMERS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_TRANSFERS_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_PLOTS_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    PASS_TIME_FIELD_NUMBER: _ClassVar[int]
    state: ArchiverState
    reason: str
    active: _containers.RepeatedCompositeFieldContainer[Transfer]
    recent: _containers.RepeatedCompositeFieldContainer[Transfer]
    dirs: _containers.RepeatedCompositeFieldContainer[ArchiveDir]
    farmers: _containers.RepeatedCompositeFieldContainer[ArchiveFarmer]
    max_concurrent_transfers: int
    archived_plots: int
    archived_bytes: int
    pass_time: _timestamp_pb2.Timestamp
    def __init__(self, state: _Optional[_Union[ArchiverState, str]] = ..., reason: _Optional[str] = ..., active: _Optional[_Iterable[_Union[Transfer, _Mapping]]] = ..., recent: _Optional[_Iterable[_Union[Transfer, _Mapping]]] = ..., dirs: _Optional[_Iterable[_Union[ArchiveDir, _Mapping]]] = ..., farmers: _Optional[_Iterable[_Union[ArchiveFarmer, _Mapping]]] = ..., max_concurrent_transfers: _Optional[int] = ..., archived_plots: _Optional[int] = ..., archived_bytes: _Optional[int] = ..., pass_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PauseArchiverRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PauseArchiverResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: ArchiverState
    def __init__(self, state: _Optional[_Union[ArchiverState, str]] = ...) -> None: ...

class ResumeArchiverRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResumeArchiverResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: ArchiverState
    def __init__(self, state: _Optional[_Union[ArchiverState, str]] = ...) -> None: ...

class AnalyzeLogsRequest(_message.Message):
    __slots__ = ("k", "plotter", "since", "by")
    K_FIELD_NUMBER: _ClassVar[int]
    PLOTTER_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    k: int
    plotter: PlotterKind
    since: _timestamp_pb2.Timestamp
    by: _containers.RepeatedScalarFieldContainer[LogGroupKey]
    def __init__(self, k: _Optional[int] = ..., plotter: _Optional[_Union[PlotterKind, str]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., by: _Optional[_Iterable[_Union[LogGroupKey, str]]] = ...) -> None: ...

class PhaseStats(_message.Message):
    __slots__ = ("major", "mean", "min", "max", "median", "count")
    MAJOR_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    major: int
    mean: _duration_pb2.Duration
    min: _duration_pb2.Duration
    max: _duration_pb2.Duration
    median: _duration_pb2.Duration
    count: int
    def __init__(self, major: _Optional[int] = ..., mean: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., min: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., median: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., count: _Optional[int] = ...) -> None: ...

class LogGroupStats(_message.Message):
    __slots__ = ("plotter", "k", "mode", "count", "phases", "total_mean", "tmp_dir", "total")
    PLOTTER_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    PHASES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MEAN_FIELD_NUMBER: _ClassVar[int]
    TMP_DIR_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    plotter: PlotterKind
    k: int
    mode: str
    count: int
    phases: _containers.RepeatedCompositeFieldContainer[PhaseStats]
    total_mean: _duration_pb2.Duration
    tmp_dir: str
    total: PhaseStats
    def __init__(self, plotter: _Optional[_Union[PlotterKind, str]] = ..., k: _Optional[int] = ..., mode: _Optional[str] = ..., count: _Optional[int] = ..., phases: _Optional[_Iterable[_Union[PhaseStats, _Mapping]]] = ..., total_mean: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., tmp_dir: _Optional[str] = ..., total: _Optional[_Union[PhaseStats, _Mapping]] = ...) -> None: ...

class AnalyzeLogsResponse(_message.Message):
    __slots__ = ("groups", "incomplete_logs", "by")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    INCOMPLETE_LOGS_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[LogGroupStats]
    incomplete_logs: int
    by: _containers.RepeatedScalarFieldContainer[LogGroupKey]
    def __init__(self, groups: _Optional[_Iterable[_Union[LogGroupStats, _Mapping]]] = ..., incomplete_logs: _Optional[int] = ..., by: _Optional[_Iterable[_Union[LogGroupKey, str]]] = ...) -> None: ...

class TailLogRequest(_message.Message):
    __slots__ = ("job", "lines", "follow")
    JOB_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    job: str
    lines: int
    follow: bool
    def __init__(self, job: _Optional[str] = ..., lines: _Optional[int] = ..., follow: _Optional[bool] = ...) -> None: ...

class TailLogResponse(_message.Message):
    __slots__ = ("data", "logfile")
    DATA_FIELD_NUMBER: _ClassVar[int]
    LOGFILE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    logfile: str
    def __init__(self, data: _Optional[bytes] = ..., logfile: _Optional[str] = ...) -> None: ...
