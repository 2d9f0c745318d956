"""farmer.yaml: the farmer agent's config."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from plotboss.config import AgentSection, HostPort, PathStr, SecretSource, StrictModel, Version

DEFAULT_LISTEN = "127.0.0.1:8471"


class FarmerAgentSection(AgentSection):
    listen: HostPort = DEFAULT_LISTEN
    #: A drive probe (statvfs, listing) taking longer than this reports the drive as error.
    probe_timeout_s: Annotated[float, Field(gt=0, le=600)] = 5.0


class DrivesSection(StrictModel):
    #: Explicit paths and globs (``/mnt/farm/*``).
    paths: Annotated[list[str], Field(min_length=1)]
    #: Accept drives that are not mount points (tests, or a farm on one big file system). Off by default: an
    #: unmounted drive must never look like an empty dir on the root file system.
    allow_non_mount: bool = False
    #: Free space each drive keeps, never filled past.
    min_free_bytes: Annotated[int, Field(ge=0)] = 0
    max_writers_per_drive: Annotated[int, Field(ge=1, le=64)] = 1
    policy: Literal["most_free", "fill_first"] = "most_free"


class RsyncdSection(StrictModel):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 873
    module: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+$")]
    #: The module's path on this machine; every drive must be under it.
    path: PathStr
    user: str | None = None
    password_file: SecretSource | None = None


class ReservationsSection(StrictModel):
    lease_s: Annotated[float, Field(gt=0, le=86400)] = 120.0
    #: Where reservations are persisted (atomically, after every change) so a restart keeps them. Unset: next to the
    #: config file, ``<config dir>/.<config stem>.state.json`` (the agent must be able to write there).
    state_file: PathStr | None = None


class FarmerConfig(StrictModel):
    version: Version
    agent: FarmerAgentSection
    drives: DrivesSection
    rsyncd: RsyncdSection
    reservations: ReservationsSection = Field(default_factory=ReservationsSection)
