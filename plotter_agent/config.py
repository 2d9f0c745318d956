"""plotter.yaml: the plotter agent's config (names follow plotman's where plotman has one)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from plotboss.config import AgentSection, HostPort, PathStr, SecretSource, StrictModel, Version
from plotter_agent.plotkeys import check_contract_address, check_g1_hex

DEFAULT_LISTEN = "127.0.0.1:8470"


class PlotterAgentSection(AgentSection):
    listen: HostPort = DEFAULT_LISTEN
    #: A job whose log has not grown for this long while its process is not running (sleeping, disk wait, zombie) is
    #: flagged stalled; a job suspended on purpose (stopped) is not.
    stall_after_s: Annotated[float, Field(gt=0)] = 600.0
    #: Seconds between SIGTERM and SIGKILL when killing a job.
    kill_grace_s: Annotated[float, Field(ge=0, le=600)] = 10.0


class LoggingSection(StrictModel):
    plots: PathStr
    transfers: PathStr | None = None


class DirectoriesSection(StrictModel):
    tmp: Annotated[list[PathStr], Field(min_length=1)]
    tmp2: PathStr | None = None
    dst: list[PathStr] = Field(default_factory=list)


class TmpOverride(StrictModel):
    tmpdir_max_jobs: Annotated[int, Field(ge=0)] | None = None
    tmpdir_stagger_phase_major: Annotated[int, Field(ge=1, le=5)] | None = None
    tmpdir_stagger_phase_minor: Annotated[int, Field(ge=0)] | None = None
    tmpdir_stagger_phase_limit: Annotated[int, Field(ge=0)] | None = None


class SchedulingSection(StrictModel):
    global_max_jobs: Annotated[int, Field(ge=0)] = 8
    global_stagger_m: Annotated[float, Field(ge=0)] = 30
    tmpdir_max_jobs: Annotated[int, Field(ge=0)] = 3
    tmpdir_stagger_phase_major: Annotated[int, Field(ge=1, le=5)] = 2
    tmpdir_stagger_phase_minor: Annotated[int, Field(ge=0)] = 1
    tmpdir_stagger_phase_limit: Annotated[int, Field(ge=0)] = 1
    tmp_overrides: dict[str, TmpOverride] = Field(default_factory=dict)
    polling_time_s: Annotated[float, Field(gt=0)] = 20
    #: free space each dst dir keeps beyond the plots inbound and the next one (plotman has no such check)
    dst_min_free_bytes: Annotated[int, Field(ge=0)] = 0
    #: where pause/drain survive restarts (default: <config dir>/.<config name>.scheduler.json)
    state_file: PathStr | None = None


#: k ranges each plotter makes. Real chia refuses k < 25 (and needs --override-k below 32); the test-bed stand-in
#: (``test_plots: true``) makes k 18..24 too. madMAx: chia_plot k 29..33 (chia_plot_k34 up to 34). bladebit 3: k 28..32.
CHIA_K = (25, 50)
CHIA_TEST_K = (18, 50)
MADMAX_K = (29, 34)
BLADEBIT_K = (28, 32)


def _k_in(k: int, lo: int, hi: int, what: str) -> int:
    if not lo <= k <= hi:
        raise ValueError(f"k={k} is outside {lo}..{hi}, the sizes {what} makes")
    return k


class ChiaOptions(StrictModel):
    """``chia plots create`` (or chia 2.x ``chia plotters chiapos``), plotman's names."""

    executable: str = "chia"
    command: Literal["plots create", "plotters chiapos"] = "plots create"
    #: allows k 18..24, which only chiapos test tools (such as the test-bed stand-in) make; real chia refuses them
    test_plots: bool = False
    k: int = 32
    n_threads: Annotated[int, Field(ge=1, le=256)] = 2
    n_buckets: Annotated[int, Field(ge=16, le=128)] = 128
    job_buffer: Annotated[int, Field(ge=64)] = 3389
    e: bool = False
    x: bool = True
    extra_args: list[str] = Field(default_factory=list)

    @field_validator("k")
    @classmethod
    def _k(cls, k: int, info: ValidationInfo) -> int:
        if info.data.get("test_plots"):
            return _k_in(k, *CHIA_TEST_K, "chiapos (test_plots)")
        return _k_in(k, *CHIA_K, "chia (below 25 only with test_plots: true, for a test-bed stand-in)")


class MadmaxOptions(StrictModel):
    """madMAx ``chia_plot`` (or chia 2.x ``chia plotters madmax`` with ``command``), plotman's names."""

    executable: str = "chia_plot"
    command: Literal["", "plotters madmax"] = ""
    k: int = 32
    n_threads: Annotated[int, Field(ge=1, le=256)] = 4
    n_buckets: Annotated[int, Field(ge=16, le=1024)] = 256
    n_buckets3: Annotated[int, Field(ge=16, le=1024)] = 256
    n_rmulti2: Annotated[int, Field(ge=1, le=16)] = 1
    extra_args: list[str] = Field(default_factory=list)

    @field_validator("k")
    @classmethod
    def _k(cls, k: int) -> int:
        return _k_in(k, *MADMAX_K, "madMAx")


class BladebitOptions(StrictModel):
    """bladebit 3 (or chia 2.x ``chia plotters bladebit`` with ``command``): ``mode`` ramplot, diskplot or cudaplot."""

    executable: str = "bladebit"
    command: Literal["", "plotters bladebit"] = ""
    mode: Literal["ramplot", "diskplot", "cudaplot"] = "ramplot"
    k: int = 32
    threads: Annotated[int, Field(ge=1, le=256)] | None = None
    buckets: Annotated[int, Field(ge=64, le=1024)] | None = None
    #: bladebit's --compress level (C0..C7; bladebit's own default is 1)
    compression: Annotated[int, Field(ge=0, le=7)] = 1
    alternate: bool = False
    no_numa: bool = False
    extra_args: list[str] = Field(default_factory=list)

    @field_validator("k")
    @classmethod
    def _k(cls, k: int) -> int:
        return _k_in(k, *BLADEBIT_K, "bladebit")


def _g1(value: str | None) -> str | None:
    return None if value is None else check_g1_hex(value)


def _contract(value: str | None) -> str | None:
    return None if value is None else check_contract_address(value)


class PlottingSection(StrictModel):
    """What the scheduler starts. Without a ``plotting`` section the agent only watches."""

    type: Literal["chia", "madmax", "bladebit"] = "chia"
    farmer_pk: Annotated[str | None, AfterValidator(_g1)] = None
    pool_pk: Annotated[str | None, AfterValidator(_g1)] = None
    pool_contract_address: Annotated[str | None, AfterValidator(_contract)] = None
    #: niceness of started jobs (0 = the agent's own priority)
    nice: Annotated[int, Field(ge=0, le=19)] = 10
    chia: ChiaOptions = Field(default_factory=ChiaOptions)
    madmax: MadmaxOptions = Field(default_factory=MadmaxOptions)
    bladebit: BladebitOptions = Field(default_factory=BladebitOptions)

    @model_validator(mode="after")
    def _one_pool(self) -> PlottingSection:
        if self.pool_pk and self.pool_contract_address:
            raise ValueError("give pool_pk or pool_contract_address, not both")
        return self

    @property
    def executable(self) -> str:
        return {"chia": self.chia.executable, "madmax": self.madmax.executable, "bladebit": self.bladebit.executable}[
            self.type
        ]


FarmerName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


class FarmerTarget(StrictModel):
    #: the farmer's gRPC address (its agent.listen)
    address: HostPort
    #: how this plotter names the farmer (in status, in ``priority``); default: its address
    name: FarmerName | None = None
    #: a control token of that farmer (Reserve, Renew, Complete and Release are control calls)
    token: SecretSource | None = None
    tls_ca: PathStr | None = None

    @property
    def key(self) -> str:
        return self.name or self.address


class RsyncSection(StrictModel):
    bwlimit_kbps: Annotated[int, Field(ge=0)] = 0
    #: the rsync daemon module's password (the user comes from the farmer's Reserve answer)
    password: SecretSource | None = None
    #: rsync --timeout: a transfer silent this long ends (exit 30) and is retried
    io_timeout_s: Annotated[int, Field(ge=5, le=3600)] = 60
    #: rsync --contimeout: connecting to the daemon
    connect_timeout_s: Annotated[int, Field(ge=1, le=600)] = 20
    #: the rsync program (found on PATH unless a path)
    executable: str = "rsync"


class ArchivingSection(StrictModel):
    farmers: list[FarmerTarget] = Field(default_factory=list)
    max_concurrent_transfers: Annotated[int, Field(ge=1, le=16)] = 1
    #: transfers reading from one dst dir at once (plotman's one reader per drive)
    max_readers_per_dir: Annotated[int, Field(ge=1, le=16)] = 1
    #: farmers to prefer, in order, by name (or address); farmers not listed come after, most room first
    priority: list[str] = Field(default_factory=list)
    #: seconds between archiver passes
    polling_time_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    #: a plot modified less than this long ago is not sent yet
    settle_s: Annotated[float, Field(ge=0, le=86400)] = 5.0
    #: back-off after a plot's failed attempt: base_s * 2**(n-1), at most cap_s
    retry_base_s: Annotated[float, Field(gt=0, le=86400)] = 10.0
    retry_cap_s: Annotated[float, Field(gt=0, le=86400)] = 600.0
    #: where the pause survives restarts (default: <config dir>/.<config name>.archiver.json)
    state_file: PathStr | None = None
    #: a push whose progress has not moved this long is killed and resumed (default: 5 x rsync.io_timeout_s)
    stall_timeout_s: Annotated[float, Field(ge=10, le=86400)] | None = None
    #: handled transfer logs (.done/.failed) older than this are removed; 0: kept forever
    transfer_log_retention_days: Annotated[float, Field(ge=0, le=36500)] = 14.0
    rsync: RsyncSection = Field(default_factory=RsyncSection)

    @model_validator(mode="after")
    def _farmers(self) -> ArchivingSection:
        keys = [f.key for f in self.farmers]
        addresses = [f.address for f in self.farmers]
        for what, values in (("name", keys), ("address", addresses)):
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"farmers: {what} given twice: {', '.join(twice)}")
        known = set(keys) | set(addresses)
        unknown = [p for p in self.priority if p not in known]
        if unknown:
            raise ValueError(f"priority: {', '.join(unknown)}: not the name or address of a farmer in farmers")
        if self.retry_cap_s < self.retry_base_s:
            raise ValueError("retry_cap_s: must be at least retry_base_s")
        return self


class PlotterConfig(StrictModel):
    version: Version
    agent: PlotterAgentSection
    logging: LoggingSection
    directories: DirectoriesSection
    scheduling: SchedulingSection = Field(default_factory=SchedulingSection)
    plotting: PlottingSection | None = None
    archiving: ArchivingSection = Field(default_factory=ArchivingSection)

    @model_validator(mode="after")
    def _transfer_logs(self) -> PlotterConfig:
        if self.archiving.farmers and self.logging.transfers is None:
            raise ValueError(
                "logging.transfers: required when archiving.farmers is set (each push's rsync log goes there, and "
                "a restarted agent finds its transfers by it)"
            )
        return self
