"""One way to serve and one way to dial, shared by both agents and the CLI.

``serve`` registers the agent's services plus the standard health service and server reflection, applies the auth
interceptor and message-size limits, and refuses a non-loopback listen address unless TLS is configured or the
operator passed ``--insecure`` on purpose. ``dial`` returns a channel whose every call carries the bearer token and
a deadline.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from plotboss.errors import ConfigError
from plotboss.interceptors import GuardInterceptor, Release
from plotboss.small_files import read_small_file

if TYPE_CHECKING:
    # The server side (health, reflection, auth -> pydantic config models) is imported inside serve(): a CLI call
    # only dials, and those imports were ~40% of `plotboss-cli status`'s wall time (bench/README.md).
    from grpc_health.v1 import health

    from plotboss.admission import AdmissionInterceptor
    from plotboss.auth import TokenSet
    from plotboss.config import ClientTlsConfig, ServerTlsConfig

log = logging.getLogger(__name__)

#: Answers (a job list, a log chunk) may be large; the CLI and the agents' own clients accept this much.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: What an agent accepts in one request. The largest real request (ReserveRequest: a plot name, a size and an agent
#: name) is under 300 bytes; every other request holds a job id, a few numbers or nothing. A client without a token
#: sending 15 MiB requests took an agent from 59 MiB to 1.2 GiB RSS when this was MAX_MESSAGE_BYTES.
MAX_REQUEST_BYTES = 64 * 1024
DEFAULT_TIMEOUT_S = 10.0

_MSG_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]

_SERVER_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
    # gRPC sets SO_REUSEPORT by default: a second agent on a taken port started and took half the connections
    ("grpc.so_reuseport", 0),
]


@dataclass(frozen=True)
class ServiceRegistration:
    """A servicer, the generated ``add_XServicer_to_server`` function and the full service name."""

    add_to_server: Callable[[Any, grpc.Server], None]
    servicer: object
    full_name: str


def split_host_port(address: str) -> tuple[str, int]:
    """'127.0.0.1:8470' -> ('127.0.0.1', 8470); '[::1]:0' -> ('::1', 0). ConfigError when malformed."""
    host, sep, port_s = address.rpartition(":")
    if not sep or not host or not (port_s.isascii() and port_s.isdigit()) or int(port_s) > 65535:
        raise ConfigError(f"{address!r}: expected HOST:PORT (e.g. 127.0.0.1:8470)")
    return host.strip("[]"), int(port_s)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen_policy(
    listen: str, tls: ServerTlsConfig | None, insecure: bool, label: str, *, warn: bool = True
) -> None:
    """Refuse a non-loopback address without TLS unless --insecure; warn when --insecure is what allows it."""
    try:
        host, _ = split_host_port(listen)
    except ConfigError as e:
        raise ConfigError(f"{label}: {e}") from None
    if is_loopback_host(host) or tls is not None:
        return
    if not insecure:
        raise ConfigError(
            f"{label}: refusing to listen on {listen} without TLS: anyone who can reach this address could read "
            "and control the agent. Configure agent.tls (cert and key, and client_ca for mutual TLS), listen on "
            "127.0.0.1, or pass --insecure to accept plaintext on purpose."
        )
    if warn:
        log.warning(
            "listening on %s WITHOUT TLS (--insecure): traffic and tokens travel in plaintext; configure agent.tls",
            listen,
        )


def _read(path: Path, what: str) -> bytes:
    try:
        return read_small_file(path)
    except OSError as e:
        raise ConfigError(f"{what}: cannot read {path}: {e.strerror or e}") from None


def _read_pem(path: Path, what: str, kind: bytes) -> bytes:
    """Read a PEM file and check it holds a ``kind`` block (grpc itself only says "failed to bind" otherwise)."""
    data = _read(path, what)
    if b"-----BEGIN " not in data or kind not in data:
        raise ConfigError(f"{what}: {path} is not a PEM file with a {kind.decode()}")
    return data


def server_credentials(tls: ServerTlsConfig, label: str = "agent.tls") -> grpc.ServerCredentials:
    """Credentials for server TLS (mutual TLS with ``client_ca``); ConfigError naming ``label`` on a bad file."""
    key = _read_pem(tls.key, f"{label}.key", b"PRIVATE KEY")
    cert = _read_pem(tls.cert, f"{label}.cert", b"CERTIFICATE")
    if tls.client_ca is None:
        return grpc.ssl_server_credentials([(key, cert)])
    ca = _read_pem(tls.client_ca, f"{label}.client_ca", b"CERTIFICATE")
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)


#: Streams anyone may open without a credential (health Watch) have a small pool of their own: counted with the
#: others, a client without a token could take every slot and lock out authenticated watches.
OPEN_STREAMS = 2
_OPEN_STREAM_PREFIX = "/grpc.health.v1.Health/"


class StreamLimitInterceptor(GuardInterceptor):
    """Caps concurrent streaming calls; past the cap they fail at once with RESOURCE_EXHAUSTED."""

    streams_only = True

    def __init__(self, limit: int, open_limit: int = OPEN_STREAMS) -> None:
        self._limits = {False: limit, True: open_limit}
        self._slots = {False: threading.BoundedSemaphore(limit), True: threading.BoundedSemaphore(open_limit)}

    def guard(self, method: str, context: grpc.ServicerContext) -> Release:
        is_open = method.startswith(_OPEN_STREAM_PREFIX)
        slots = self._slots[is_open]
        if not slots.acquire(blocking=False):
            what = "health watches" if is_open else "streams (watches)"
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"this agent already serves {self._limits[is_open]} {what}; try again later",
            )
        return slots.release


@dataclass
class Server:
    """A started gRPC server with its bound port and health servicer."""

    grpc_server: grpc.Server
    port: int
    host: str
    health: health.HealthServicer
    admission: AdmissionInterceptor

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def stop(self, grace_s: float) -> None:
        """Stop accepting calls, let in-flight ones finish within ``grace_s``, then close."""
        self.health.enter_graceful_shutdown()
        self.grpc_server.stop(grace_s).wait()
        self.admission.close()


def serve(
    registrations: Sequence[ServiceRegistration],
    listen: str,
    *,
    tls: ServerTlsConfig | None,
    tokens: TokenSet,
    insecure: bool = False,
    label: str = "agent.listen",
    tls_label: str = "agent.tls",
    max_workers: int = 32,
    max_streams: int | None = None,
    open_calls: int | None = None,
    request_timeout_s: float | None = None,
) -> Server:
    """Start a server on ``listen`` (port 0 picks a free one). ConfigError if the policy or TLS files forbid it.

    A streaming call (a watch) holds a worker thread for its whole life, so at most ``max_streams`` (default: all
    workers but 8 and the OPEN_STREAMS health watches) run at once; more get RESOURCE_EXHAUSTED instead of starving
    unary calls and health checks.

    Calls without a credential run in a pool of their own (plotboss/admission.py), at most ``open_calls`` at once
    (default OPEN_CALLS; unlimited, in a pool of ``max_workers``, when the agent has no credentials at all: then
    no call has one), each request message within ``request_timeout_s``: they cannot hold the workers that calls
    with a token need.
    """
    check_listen_policy(listen, tls, insecure, label)
    host, _ = split_host_port(listen)
    from plotboss.admission import MAX_WAITING, OPEN_CALLS, REQUEST_TIMEOUT_S, AdmissionInterceptor, credential_check
    from plotboss.auth import AuthInterceptor

    mutual_tls = tls is not None and tls.client_ca is not None
    anonymous = not tokens.enabled and not mutual_tls  # no call can carry a credential
    admission = AdmissionInterceptor(
        AuthInterceptor(tokens),
        credential_check(tokens, mutual_tls),
        open_calls=None if anonymous else open_calls or OPEN_CALLS,
        workers=max_workers if anonymous else None,
        request_timeout_s=request_timeout_s or REQUEST_TIMEOUT_S,
        max_waiting=None if anonymous else MAX_WAITING,
    )
    # grpc refuses calls past this many in flight (RESOURCE_EXHAUSTED "Concurrent RPC limit exceeded!"), counting
    # every call: calls without a credential (at most MAX_WAITING queued and the open pool's workers) must never
    # reach it, so it is set that much higher than the 8 per worker that bound calls with a credential
    open_share = 0 if anonymous else MAX_WAITING + 2 * (open_calls or OPEN_CALLS)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        # admission (with the auth check) runs first, so unauthenticated calls never take a stream slot (but the
        # open health Watch, which draws from its own OPEN_STREAMS pool)
        interceptors=[admission, StreamLimitInterceptor(max_streams or max(1, max_workers - 8 - OPEN_STREAMS))],
        options=_SERVER_OPTIONS,
        maximum_concurrent_rpcs=max_workers * 8 + open_share,
    )
    names = []
    for reg in registrations:
        reg.add_to_server(reg.servicer, server)
        names.append(reg.full_name)
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection

    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in [*names, ""]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    hint = f" (or {tls_label}.cert and {tls_label}.key do not belong together)" if tls is not None else ""
    try:
        if tls is not None:
            port = server.add_secure_port(listen, server_credentials(tls, tls_label))
        else:
            port = server.add_insecure_port(listen)
    except RuntimeError as e:
        admission.close()
        raise ConfigError(f"{label}: cannot listen on {listen}: {e}{hint}") from None
    if port == 0:
        admission.close()
        raise ConfigError(f"{label}: cannot listen on {listen} (address in use or not available here){hint}")
    server.start()
    log.info("listening on %s:%d (%s)", host, port, "TLS" if tls else "plaintext")
    return Server(grpc_server=server, port=port, host=host, health=health_servicer, admission=admission)


class _ClientInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Adds the bearer token and a default deadline to every call that has none."""

    def __init__(self, token: str | None, timeout_s: float) -> None:
        self._token = token
        self._timeout = timeout_s

    def _details(self, d: Any) -> Any:
        metadata = list(d.metadata or [])
        if self._token:
            metadata.append(("authorization", f"Bearer {self._token}"))
        timeout = d.timeout if d.timeout is not None else self._timeout
        return _CallDetails(d.method, timeout, metadata, d.credentials, d.wait_for_ready, d.compression)

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(client_call_details), request_iterator)


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


def dial(
    address: str,
    *,
    token: str | None = None,
    tls: ClientTlsConfig | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    options: Sequence[tuple[str, int | str]] = (),
) -> grpc.Channel:
    """A channel to ``address`` whose calls carry ``token`` and a deadline of ``timeout_s`` unless given one;
    ``options`` are added to the channel's (e.g. reconnect backoff for a long-lived channel)."""
    split_host_port(address)
    if tls is not None:
        ca = _read(tls.ca, "tls ca")
        cert = _read(tls.cert, "tls cert") if tls.cert else None
        key = _read(tls.key, "tls key") if tls.key else None
        creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
        opts = [*_MSG_OPTIONS, *options]
        if tls.server_name:
            opts.append(("grpc.ssl_target_name_override", tls.server_name))
        channel = grpc.secure_channel(address, creds, options=opts)
    else:
        channel = grpc.insecure_channel(address, options=[*_MSG_OPTIONS, *options])
    return grpc.intercept_channel(channel, _ClientInterceptor(token, timeout_s))
