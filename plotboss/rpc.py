"""Servicer helpers: map the error tree to gRPC status codes in one place, and convert times."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from plotboss import errors

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

STATUS_OF: dict[type[errors.PlotbossError], grpc.StatusCode] = {
    errors.ConfigError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.InsufficientSpace: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Conflict: grpc.StatusCode.ABORTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
}


def status_of(err: errors.PlotbossError) -> grpc.StatusCode:
    for cls in type(err).__mro__:
        code = STATUS_OF.get(cast(type[errors.PlotbossError], cls))
        if code is not None:
            return code
    return grpc.StatusCode.UNKNOWN


#: Status details travel as a trailer, which clients refuse past 8 KiB (soft) / 16 KiB (hard): a message quoting a
#: huge bad input would turn INVALID_ARGUMENT into RESOURCE_EXHAUSTED on the client.
MAX_DETAILS_CHARS = 2000


def _details(text: str) -> str:
    return text if len(text) <= MAX_DETAILS_CHARS else text[: MAX_DETAILS_CHARS - 1] + "…"


def _abort(context: grpc.ServicerContext, exc: Exception, name: str) -> None:
    if isinstance(exc, errors.PlotbossError):
        context.abort(status_of(exc), _details(str(exc)))
    log.exception("unexpected error in %s", name)
    context.abort(grpc.StatusCode.INTERNAL, f"internal error in {name}: {type(exc).__name__} (see the agent's log)")


def handle_errors(fn: F) -> F:
    """Decorate a unary servicer method: PlotbossError -> its status code; anything else -> INTERNAL, logged.

    Servicer methods raise PlotbossError subclasses and never call ``context.abort`` themselves.
    """

    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except Exception as exc:
            _abort(context, exc, fn.__name__)

    return cast(F, wrapper)


def handle_stream_errors(fn: F) -> F:
    """The same as handle_errors for server-streaming methods (generators)."""

    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from fn(self, request, context)
        except Exception as exc:
            _abort(context, exc, fn.__name__)

    return cast(F, wrapper)


def to_timestamp(when: datetime | float | None) -> Timestamp | None:
    """datetime (aware) or epoch seconds -> Timestamp; None stays None."""
    if when is None:
        return None
    ts = Timestamp()
    if isinstance(when, datetime):
        ts.FromDatetime(when.astimezone(UTC))
    else:
        ts.FromNanoseconds(int(when * 1e9))
    return ts


def from_timestamp(ts: Timestamp) -> float:
    """Timestamp -> epoch seconds."""
    return float(ts.ToNanoseconds()) / 1e9


def to_duration(seconds: float | None) -> Duration | None:
    if seconds is None:
        return None
    d = Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


def from_duration(d: Duration) -> float:
    return float(d.ToNanoseconds()) / 1e9
