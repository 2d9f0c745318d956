"""fleet.yaml: which agents plotboss-cli talks to."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from plotboss.config import PathStr, SecretSource, StrictModel, Version


class Member(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    address: Annotated[str, Field(pattern=r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.\-]+):[0-9]{1,5}$")]
    token: SecretSource | None = None
    token_file: PathStr | None = None
    tls_ca: PathStr | None = None
    tls_cert: PathStr | None = None
    tls_key: PathStr | None = None
    tls_server_name: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Member:
        if self.token is not None and self.token_file is not None:
            raise ValueError("give token or token_file, not both")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.tls_cert is not None and self.tls_ca is None:
            raise ValueError("tls_cert needs tls_ca")
        return self


class FleetConfig(StrictModel):
    version: Version
    plotters: list[Member] = Field(default_factory=list)
    farmers: list[Member] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> FleetConfig:
        for kind in ("plotters", "farmers"):
            names = [m.name for m in getattr(self, kind)]
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"{kind}: duplicate name(s) {', '.join(sorted(dup))}")
        return self
