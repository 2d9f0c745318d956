"""Bearer-token authentication with two roles, checked by one server interceptor.

Every RPC is classified in ``RPC_ROLES``; an RPC missing from the table is refused (a test checks the table covers
both services). Tokens are compared in constant time. With no tokens configured, read RPCs are open and control RPCs
are accepted only with the agent's local credential (``plotboss.localcred``: a file only the agent's user can read,
sent from loopback) or from clients with a verified certificate (mutual TLS): being on loopback is not enough, since
every local user is.
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any

import grpc

from plotboss.config import TokensConfig, read_token
from plotboss.interceptors import GuardInterceptor

log = logging.getLogger(__name__)


class Role(enum.IntEnum):
    OPEN = 0
    READ = 1
    CONTROL = 2


_P = "/plotboss.v1.PlotterService/"
_F = "/plotboss.v1.FarmerService/"

#: The role each RPC needs. Health checks are open so that probes work without credentials.
RPC_ROLES: dict[str, Role] = {
    "/grpc.health.v1.Health/Check": Role.OPEN,
    "/grpc.health.v1.Health/Watch": Role.OPEN,
    "/grpc.health.v1.Health/List": Role.OPEN,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": Role.READ,
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": Role.READ,
    _P + "ListJobs": Role.READ,
    _P + "GetJob": Role.READ,
    _P + "WatchJobs": Role.READ,
    _P + "KillJob": Role.CONTROL,
    _P + "SuspendJob": Role.CONTROL,
    _P + "ResumeJob": Role.CONTROL,
    _P + "ListDirs": Role.READ,
    _P + "CleanOrphans": Role.CONTROL,
    _P + "GetSchedulerStatus": Role.READ,
    _P + "PauseScheduler": Role.CONTROL,
    _P + "ResumeScheduler": Role.CONTROL,
    _P + "DrainScheduler": Role.CONTROL,
    _P + "GetArchiveStatus": Role.READ,
    _P + "PauseArchiver": Role.CONTROL,
    _P + "ResumeArchiver": Role.CONTROL,
    _P + "AnalyzeLogs": Role.READ,
    _P + "TailLog": Role.READ,
    _F + "ListDrives": Role.READ,
    _F + "Reserve": Role.CONTROL,
    _F + "Renew": Role.CONTROL,
    _F + "Complete": Role.CONTROL,
    _F + "Release": Role.CONTROL,
    _F + "ListReservations": Role.READ,
    _F + "ConfirmPlot": Role.READ,
}


@dataclass(frozen=True)
class TokenSet:
    """Resolved token values by role (control tokens also grant read)."""

    read: tuple[str, ...] = ()
    control: tuple[str, ...] = ()
    #: With no tokens configured: the agent's local control credential(s), accepted from loopback peers only.
    local: tuple[str, ...] = ()
    #: Where clients find the local credential (for messages).
    local_where: str = ""

    @property
    def enabled(self) -> bool:
        """Whether tokens are configured (the local credential does not count: it exists because none are)."""
        return bool(self.read or self.control)

    def is_local(self, presented: str | None) -> bool:
        """Whether ``presented`` is a local credential (constant-time against each)."""
        data = (presented or "").encode()
        found = False
        for tok in self.local:
            found |= hmac.compare_digest(data, tok.encode())
        return found and bool(presented)

    def role_of(self, presented: str) -> Role | None:
        """The role a presented token grants, or None. Compares against every token in constant time."""
        found: Role | None = None
        data = presented.encode()
        for tok in self.control:
            if hmac.compare_digest(data, tok.encode()):
                found = Role.CONTROL
        for tok in self.read:
            if hmac.compare_digest(data, tok.encode()) and found is None:
                found = Role.READ
        return found


def resolve_tokens(cfg: TokensConfig, label: str) -> TokenSet:
    """Read every token source; ConfigError naming ``label`` (e.g. ``plotter.yaml: agent.tokens``) on a problem."""
    out: dict[str, list[str]] = {"read": [], "control": []}
    for role in ("read", "control"):
        for i, src in enumerate(getattr(cfg, role)):
            out[role].append(read_token(src, f"{label}.{role}[{i}]"))
    return TokenSet(read=tuple(out["read"]), control=tuple(out["control"]))


def is_loopback_peer(peer: str) -> bool:
    """Whether a grpc peer string names a loopback client.

    grpc writes ``ipv4:127.0.0.1:5555``, ``ipv6:%5B::1%5D:5555`` (percent-encoded brackets), ``unix:/path``; an IPv4
    client of a dual-stack listener may show as ``ipv6:%5B::ffff:127.0.0.1%5D:5555``.
    """
    scheme, _, rest = peer.partition(":")
    if scheme in ("unix", "unix-abstract"):
        return True
    if scheme not in ("ipv4", "ipv6"):
        return False
    host = urllib.parse.unquote(rest).rpartition(":")[0].strip("[]").partition("%")[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _has_verified_client_cert(context: grpc.ServicerContext) -> bool:
    auth = context.auth_context()
    return bool(auth.get("x509_pem_cert") or auth.get("x509_common_name"))


def bearer_from_metadata(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else str(value)
            scheme, _, tok = text.partition(" ")
            if scheme.lower() == "bearer" and tok:
                return tok.strip()
            return ""
    return None


class AuthInterceptor(GuardInterceptor):
    """Checks every call against RPC_ROLES before the servicer sees it."""

    def __init__(self, tokens: TokenSet) -> None:
        self._tokens = tokens

    def guard(self, method: str, context: grpc.ServicerContext) -> None:
        needed = RPC_ROLES.get(method)
        if needed is None:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{method} is not an RPC this agent serves")
        if needed == Role.OPEN:
            return
        presented = bearer_from_metadata(context.invocation_metadata())
        if not self._tokens.enabled:
            local = self._tokens.is_local(presented) and is_loopback_peer(context.peer())
            if needed == Role.CONTROL and not (local or _has_verified_client_cert(context)):
                where = f" ({self._tokens.local_where})" if self._tokens.local_where else ""
                context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{method} is a control RPC; this agent has no tokens configured, so it accepts control only "
                    f"with its local credential, which only the agent's user can read{where}, or from mutual-TLS "
                    "clients (configure agent.tokens.control)",
                )
            return
        if presented is None:
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "this agent requires a bearer token: pass --token-file (or token_file in the fleet file)",
            )
        role = self._tokens.role_of(presented or "")
        if role is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "the bearer token is not one this agent knows")
        if role is not None and role < needed:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{method} is a control RPC and the token given is a read token",
            )
