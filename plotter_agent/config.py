"""plotter.yaml: the plotter agent's config (names follow plotman's where plotman has one)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from plotboss.config import AgentSection, HostPort, PathStr, SecretSource, StrictModel, Version

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


class ChiaOptions(StrictModel):
    executable: str = "chia"
    k: Annotated[int, Field(ge=18, le=50)] = 32
    n_threads: Annotated[int, Field(ge=1, le=256)] = 2
    n_buckets: Annotated[int, Field(ge=16, le=128)] = 128
    job_buffer: Annotated[int, Field(ge=64)] = 3389
    e: bool = False
    x: bool = True


class PlottingSection(StrictModel):
    type: Literal["chia"] = "chia"
    farmer_pk: str | None = None
    pool_pk: str | None = None
    pool_contract_address: str | None = None
    chia: ChiaOptions = Field(default_factory=ChiaOptions)

    @model_validator(mode="after")
    def _one_pool(self) -> PlottingSection:
        if self.pool_pk and self.pool_contract_address:
            raise ValueError("give pool_pk or pool_contract_address, not both")
        return self


class FarmerTarget(StrictModel):
    address: str
    token: SecretSource | None = None
    tls_ca: PathStr | None = None


class RsyncSection(StrictModel):
    bwlimit_kbps: Annotated[int, Field(ge=0)] = 0
    password: SecretSource | None = None


class ArchivingSection(StrictModel):
    farmers: list[FarmerTarget] = Field(default_factory=list)
    max_concurrent_transfers: Annotated[int, Field(ge=1, le=16)] = 1
    rsync: RsyncSection = Field(default_factory=RsyncSection)


class PlotterConfig(StrictModel):
    version: Version
    agent: PlotterAgentSection
    logging: LoggingSection
    directories: DirectoriesSection
    scheduling: SchedulingSection = Field(default_factory=SchedulingSection)
    plotting: PlottingSection = Field(default_factory=PlottingSection)
    archiving: ArchivingSection = Field(default_factory=ArchivingSection)
