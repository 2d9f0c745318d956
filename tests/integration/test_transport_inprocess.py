"""dial() and serve() in process: default deadlines, tokens on every kind of call, graceful stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from plotboss.auth import TokenSet
from plotboss.transport import MAX_MESSAGE_BYTES, Server, ServiceRegistration, dial, serve
from plotboss.v1 import plotter_pb2, plotter_pb2_grpc
from testbed.agents import error_of, plotter_read
from testbed.rsyncd import free_port


def raw_unary(ch: grpc.Channel, method: str) -> grpc.UnaryUnaryMultiCallable[bytes, bytes]:
    """A bytes-in, bytes-out call of ``method`` (no serializers)."""
    return ch.unary_unary(method, request_serializer=None, response_deserializer=None)


def raw_stream(ch: grpc.Channel, method: str) -> grpc.StreamStreamMultiCallable[bytes, bytes]:
    return ch.stream_stream(method, request_serializer=None, response_deserializer=None)


def _echo_auth(_request: bytes, context: grpc.ServicerContext) -> bytes:
    value = dict(context.invocation_metadata()).get("authorization", "")
    return value.encode() if isinstance(value, str) else value


def _sleep(request: bytes, _context: grpc.ServicerContext) -> bytes:
    time.sleep(float(request.decode() or "1"))
    return b"late"


def _sleep_stream(request_iterator: Iterator[bytes], _context: grpc.ServicerContext) -> Iterator[bytes]:
    for _ in request_iterator:
        time.sleep(1)
        yield b"late"


@pytest.fixture(scope="module")
def raw_server() -> Iterator[int]:
    """A plain grpc server (no plotboss policy) with a sleeping and an echoing method; its port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handlers = {
        "Sleep": grpc.unary_unary_rpc_method_handler(_sleep),
        "Echo": grpc.unary_unary_rpc_method_handler(_echo_auth),
        "SleepStream": grpc.stream_stream_rpc_method_handler(_sleep_stream),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Slow", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(0).wait()


def test_dial_applies_a_default_deadline(raw_server: int) -> None:
    with dial(f"127.0.0.1:{raw_server}", timeout_s=0.3) as ch:
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as exc:
            raw_unary(ch, "/test.Slow/Sleep")(b"1")
        elapsed = time.monotonic() - t0
    assert exc.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.25 <= elapsed < 5  # the server would have answered after 1 s: the code above is the real check


def test_dial_deadline_covers_streaming_calls(raw_server: int) -> None:
    with dial(f"127.0.0.1:{raw_server}", timeout_s=0.3) as ch:
        call = raw_stream(ch, "/test.Slow/SleepStream")(iter([b"x"]))
        with pytest.raises(grpc.RpcError) as exc:
            list(call)
    assert exc.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_an_explicit_timeout_wins_over_the_default(raw_server: int) -> None:
    with dial(f"127.0.0.1:{raw_server}", timeout_s=0.2) as ch:
        assert raw_unary(ch, "/test.Slow/Sleep")(b"0.5", timeout=5) == b"late"


def test_dial_sends_the_bearer_token(raw_server: int) -> None:
    with dial(f"127.0.0.1:{raw_server}", token="t" * 20, timeout_s=5) as ch:
        assert raw_unary(ch, "/test.Slow/Echo")(b"") == b"Bearer " + b"t" * 20
    with dial(f"127.0.0.1:{raw_server}", timeout_s=5) as ch:
        assert raw_unary(ch, "/test.Slow/Echo")(b"") == b""


def test_dial_to_nothing_is_unavailable_quickly() -> None:
    with dial(f"127.0.0.1:{free_port()}", timeout_s=3) as ch, pytest.raises(grpc.RpcError) as exc:
        raw_unary(ch, "/test.Slow/Echo")(b"")
    assert exc.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class _SlowPlotter(plotter_pb2_grpc.PlotterServiceServicer):
    """GetSchedulerStatus takes ``delay`` seconds; everything else is the generated UNIMPLEMENTED."""

    def __init__(self) -> None:
        self.delay = 1.0
        self.started = threading.Event()

    def GetSchedulerStatus(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.started.set()
        time.sleep(self.delay)
        return plotter_pb2.GetSchedulerStatusResponse()


def _serve(servicer: _SlowPlotter) -> Server:
    reg = ServiceRegistration(
        plotter_pb2_grpc.add_PlotterServiceServicer_to_server, servicer, "plotboss.v1.PlotterService"
    )
    return serve([reg], "127.0.0.1:0", tls=None, tokens=TokenSet())


def _call_in_thread(port: int, result: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        with dial(f"127.0.0.1:{port}", timeout_s=10) as ch:
            try:
                plotter_pb2_grpc.PlotterServiceStub(ch).GetSchedulerStatus(plotter_pb2.GetSchedulerStatusRequest())
                result["code"] = grpc.StatusCode.OK
            except grpc.RpcError as e:
                result["code"] = e.code()

    t = threading.Thread(target=run)
    t.start()
    return t


def test_graceful_stop_lets_in_flight_calls_finish() -> None:
    servicer = _SlowPlotter()  # type: ignore[abstract]  # the stubs mark every RPC abstract; the rest are unused
    server = _serve(servicer)
    result: dict[str, Any] = {}
    t = _call_in_thread(server.port, result)
    assert servicer.started.wait(5)
    t0 = time.monotonic()
    server.stop(grace_s=5)
    t.join(5)
    assert result["code"] == grpc.StatusCode.OK
    assert time.monotonic() - t0 < 4  # returned when the call finished, not at the end of the grace period
    with dial(f"127.0.0.1:{server.port}", timeout_s=1) as ch, pytest.raises(grpc.RpcError) as exc:
        plotter_pb2_grpc.PlotterServiceStub(ch).GetSchedulerStatus(plotter_pb2.GetSchedulerStatusRequest())
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE


def test_stop_cancels_calls_that_outlive_the_grace_period() -> None:
    servicer = _SlowPlotter()  # type: ignore[abstract]  # the stubs mark every RPC abstract; the rest are unused
    servicer.delay = 1.5
    server = _serve(servicer)
    result: dict[str, Any] = {}
    t = _call_in_thread(server.port, result)
    assert servicer.started.wait(5)
    t0 = time.monotonic()
    server.stop(grace_s=0.2)
    assert time.monotonic() - t0 < 2
    t.join(5)
    assert result["code"] in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)


def test_message_size_limit_is_applied(raw_server: int) -> None:
    big = b"x" * (MAX_MESSAGE_BYTES + 1)
    with dial(f"127.0.0.1:{raw_server}", timeout_s=5) as ch, pytest.raises(grpc.RpcError) as exc:
        raw_unary(ch, "/test.Slow/Echo")(big)
    assert exc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


class _Watcher(plotter_pb2_grpc.PlotterServiceServicer):
    """WatchJobs streams until the client goes away, like a real watch."""

    def WatchJobs(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        while context.is_active():
            yield plotter_pb2.WatchJobsResponse()
            time.sleep(0.05)


def _health_status(port: int) -> Any:
    with dial(f"127.0.0.1:{port}", timeout_s=2) as ch:
        return health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest()).status


def test_watches_cannot_starve_health_checks_and_unary_calls() -> None:
    watcher = _Watcher()  # type: ignore[abstract]  # the stubs mark every RPC abstract; the rest are unused
    reg = ServiceRegistration(
        plotter_pb2_grpc.add_PlotterServiceServicer_to_server, watcher, "plotboss.v1.PlotterService"
    )
    server = serve([reg], "127.0.0.1:0", tls=None, tokens=TokenSet(), max_workers=6, max_streams=3)
    ch = dial(f"127.0.0.1:{server.port}", timeout_s=10)
    try:
        stub = plotter_pb2_grpc.PlotterServiceStub(ch)
        streams = [stub.WatchJobs(plotter_pb2.WatchJobsRequest()) for _ in range(3)]
        for s in streams:
            next(iter(s))
        # a fourth watch is refused at once rather than queued behind the others
        with pytest.raises(grpc.RpcError) as exc:
            next(iter(stub.WatchJobs(plotter_pb2.WatchJobsRequest(), timeout=2)))
        assert exc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "streams" in (exc.value.details() or "")
        # workers are left for everything else
        assert _health_status(server.port) == health_pb2.HealthCheckResponse.SERVING
        code, _ = error_of(plotter_read(ch))
        assert code == grpc.StatusCode.UNIMPLEMENTED
        # a watch that ends gives its slot back
        streams[0].cancel()  # type: ignore[no-untyped-call]  # untyped in grpc-stubs
        deadline = time.monotonic() + 5
        while True:
            try:
                next(iter(stub.WatchJobs(plotter_pb2.WatchJobsRequest(), timeout=2)))
                break
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert time.monotonic() < deadline, "the cancelled watch never released its slot"
                time.sleep(0.1)
        for s in streams:
            s.cancel()  # type: ignore[no-untyped-call]
    finally:
        ch.close()
        server.stop(0)


def test_an_rpc_missing_from_the_roles_table_is_refused() -> None:
    """README, security model: every RPC is classified read or control; one that is not is refused, whatever it is."""

    def add_unlisted(_servicer: object, server: grpc.Server) -> None:
        handlers = {"Echo": grpc.unary_unary_rpc_method_handler(_echo_auth)}
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Unlisted", handlers)])

    server = serve(
        [ServiceRegistration(add_unlisted, object(), "test.Unlisted")], "127.0.0.1:0", tls=None, tokens=TokenSet()
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch, pytest.raises(grpc.RpcError) as exc:
            raw_unary(ch, "/test.Unlisted/Echo")(b"", timeout=5)
        assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "/test.Unlisted/Echo is not an RPC this agent serves" in (exc.value.details() or "")
    finally:
        server.stop(0)
