"""Admission: which worker pool a call may take, decided before any worker is taken.

grpc-python runs a server's interceptors in its own serving thread, with the call's method and metadata only, and then
submits the handler to a worker pool, where a unary request is read *before* the handler (and so the auth check) runs.
A call that sends headers and never a request would hold a worker for as long as its client likes: 32 such calls
without any credential took every worker of an agent, and token-bearing calls and health checks timed out.

So calls are sorted here, in the serving thread:

- a call that carries a credential this agent knows (a known bearer token; or any call, when the agent has no tokens
  and requires client certificates) takes the main pool as before, with the auth check run as its handler starts;
- every other call (open health checks, calls without a token or with an unknown one) runs in a small pool of its
  own. There the auth check runs first, before the request is read: a call that would be refused ends at once, holding
  nothing. A call that may go on (open RPCs; every RPC of an agent without tokens) needs one of ``open_calls`` slots,
  else it ends with RESOURCE_EXHAUSTED at once, and each of its request messages must arrive within
  ``request_timeout_s`` (the first: counted from the call's arrival, not from when a worker took it) or the call is
  cancelled. The pool has a few more workers than slots, so refusals never wait behind calls that hold a slot.

A flood of calls without a credential could still queue up in front of the open pool's workers, and grpc's own cap
on concurrent calls counts them with all the others: past ``max_waiting`` queued there, a call without a credential
is turned away by grpc in the serving thread (UNIMPLEMENTED "Method not found!", no worker taken), so they can never
fill that cap, which serve() sets that much higher.

An agent without any credential configured cannot tell its callers apart: every call is open, none is refused for
want of a slot (they queue as before), and the request timeout is what frees a worker from a call that never sends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any, TypeVar

import grpc

from plotboss.auth import TokenSet, bearer_from_metadata
from plotboss.interceptors import GuardInterceptor, Handler, Release, guard_handler

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Calls without a credential an agent that has credentials serves at once (waiting for their request, or streaming).
OPEN_CALLS = 16
#: How long a call without a credential may take to send each request message (real clients send it with the headers).
REQUEST_TIMEOUT_S = 5.0
#: Workers of the open pool beyond its slots: refusals and the auth check never queue behind calls holding a slot.
SPARE_WORKERS = 4
#: Calls without a credential queued for the open pool beyond which more are turned away at once.
MAX_WAITING = 256
#: However late a worker takes a call, its first request message gets this long (it has usually arrived already).
_MIN_WAIT_S = 0.2

#: Decides from a call's metadata, in the serving thread, whether it carries a credential this agent knows.
Credentialed = Callable[[Any], bool]


class CountingPool(futures.ThreadPoolExecutor):
    """A thread pool that knows how many submitted tasks have not started yet."""

    def __init__(self, max_workers: int, thread_name_prefix: str = "") -> None:
        super().__init__(max_workers, thread_name_prefix=thread_name_prefix)
        self._count_lock = threading.Lock()
        self.waiting = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> futures.Future[T]:
        with self._count_lock:
            self.waiting += 1

        def started() -> T:
            with self._count_lock:
                self.waiting -= 1
            return fn(*args, **kwargs)

        try:
            return super().submit(started)
        except BaseException:
            with self._count_lock:
                self.waiting -= 1
            raise


class AdmissionInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Runs ``auth.guard`` for every call: in the main pool for credentialed calls, in its own pool for the others."""

    def __init__(
        self,
        auth: GuardInterceptor,
        credentialed: Credentialed,
        *,
        open_calls: int | None = OPEN_CALLS,
        workers: int | None = None,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        max_waiting: int | None = MAX_WAITING,
    ) -> None:
        """``open_calls=None``: no limit (an agent without credentials); ``workers`` defaults to open_calls plus
        SPARE_WORKERS; ``max_waiting=None``: any number may queue (then grpc's own cap is the only bound)."""
        if workers is None:
            assert open_calls is not None
            workers = open_calls + SPARE_WORKERS
        self._auth = auth
        self._credentialed = credentialed
        self._open_calls = open_calls
        self._slots = threading.BoundedSemaphore(open_calls) if open_calls is not None else None
        self._timeout_s = request_timeout_s
        self._max_waiting = max_waiting
        self.pool = CountingPool(workers, thread_name_prefix="grpc-open")

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if self._credentialed(handler_call_details.invocation_metadata):
            return guard_handler(handler, lambda context: self._auth.guard(method, context))
        if self._max_waiting is not None and self.pool.waiting >= self._max_waiting:
            log.debug("%s: %d calls without a credential queued already; turned away", method, self.pool.waiting)
            return None
        return self._open_handler(handler, method, time.monotonic())

    def _admit(self, method: str, context: grpc.ServicerContext) -> Release | None:
        self._auth.guard(method, context)  # a call that is refused ends here, before its request is read
        if self._slots is None:
            return None
        if not self._slots.acquire(blocking=False):
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"this agent already serves {self._open_calls} calls without a credential; try again later "
                "(calls with a token are not limited by this)",
            )
        return self._slots.release

    def _next(
        self, requests: Iterator[Any], context: grpc.ServicerContext, method: str, wait_s: float
    ) -> tuple[bool, Any]:
        """(True, the next request message), or (False, None) when the client sent no more. The call is cancelled
        when the message does not arrive within ``wait_s``."""
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            context.cancel()  # type: ignore[no-untyped-call]  # wakes the worker waiting for the message

        timer = threading.Timer(wait_s, expire)
        timer.daemon = True
        timer.start()
        try:
            return True, next(requests)
        except StopIteration:
            if expired.is_set():
                log.debug("%s: no request within %.1f s from %s; cancelled", method, self._timeout_s, context.peer())
                context.abort(grpc.StatusCode.CANCELLED, f"no request within {self._timeout_s:g} s")
            return False, None
        finally:
            timer.cancel()

    def _first_wait_s(self, arrived: float) -> float:
        return max(_MIN_WAIT_S, arrived + self._timeout_s - time.monotonic())

    def _one(self, requests: Iterator[Any], context: grpc.ServicerContext, method: str, arrived: float) -> Any:
        got, request = self._next(requests, context, method, self._first_wait_s(arrived))
        if not got:  # what grpc itself answers for a unary call without a request
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f'"{method}" requires exactly one request message.')
        return request

    def _each(
        self, requests: Iterator[Any], context: grpc.ServicerContext, method: str, arrived: float
    ) -> Iterator[Any]:
        wait_s = self._first_wait_s(arrived)
        while True:
            got, request = self._next(requests, context, method, wait_s)
            if not got:
                return
            yield request
            wait_s = self._timeout_s

    def _open_handler(self, handler: Handler, method: str, arrived: float) -> Handler:
        """``handler`` as a request-streaming handler on the open pool: the request is read by the wrapper (after
        the auth check, with a timeout), not by grpc before the handler runs."""
        de, ser = handler.request_deserializer, handler.response_serializer
        if handler.unary_unary is not None or handler.stream_unary is not None:
            unary_in, unary_out = handler.unary_unary, handler.stream_unary

            def unary(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                release = self._admit(method, context)
                try:
                    if unary_in is not None:
                        return unary_in(self._one(requests, context, method, arrived), context)
                    assert unary_out is not None
                    return unary_out(self._each(requests, context, method, arrived), context)
                finally:
                    if release is not None:
                        release()

            unary.experimental_thread_pool = self.pool  # type: ignore[attr-defined]
            return grpc.stream_unary_rpc_method_handler(unary, de, ser)
        stream_in, stream_out = handler.unary_stream, handler.stream_stream

        def stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            release = self._admit(method, context)
            try:
                if stream_in is not None:
                    yield from stream_in(self._one(requests, context, method, arrived), context)
                else:
                    assert stream_out is not None
                    yield from stream_out(self._each(requests, context, method, arrived), context)
            finally:
                if release is not None:
                    release()

        stream.experimental_thread_pool = self.pool  # type: ignore[attr-defined]
        return grpc.stream_stream_rpc_method_handler(stream, de, ser)


def credential_check(tokens: TokenSet, mutual_tls: bool) -> Credentialed:
    """Whether a call's metadata carries a credential: a bearer token this agent knows. An agent without tokens
    that requires client certificates has verified every caller in the TLS handshake already."""
    if not tokens.enabled:
        return lambda _metadata: mutual_tls

    def check(metadata: Any) -> bool:
        bearer = bearer_from_metadata(metadata)
        return bool(bearer) and tokens.role_of(bearer or "") is not None

    return check
