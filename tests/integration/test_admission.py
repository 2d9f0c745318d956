"""Calls that send headers and never a request cannot hold the workers that calls with a token need.

The held calls are real gRPC calls on real connections: a request-streaming call on the agent's unary method whose
request iterator never yields, so the client sends HEADERS and then nothing (no DATA, no END_STREAM), as an attacker's
raw HTTP/2 client would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from plotboss.admission import OPEN_CALLS
from plotboss.auth import TokenSet
from plotboss.transport import Server, serve
from plotboss.v1 import farmer_pb2, farmer_pb2_grpc, plotter_pb2, plotter_pb2_grpc
from testbed.agents import farmer_config, plotter_config, start_agent, write_yaml
from testbed.children import stop_process

TOKEN = "t" * 32
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


@dataclass
class HeldCalls:
    """Calls whose client sent headers and holds the stream open without a request, until close()."""

    channels: list[grpc.Channel] = field(default_factory=list)
    calls: list[Any] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def hold(self, address: str, method: str, n: int, connections: int = 10) -> None:
        if not self.channels:
            # separate connections (a local subchannel pool each), as many attackers' clients would open
            self.channels = [
                grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(connections)
            ]

        def never() -> Iterator[bytes]:
            self.release.wait()
            yield from ()

        for i in range(n):
            call = self.channels[i % len(self.channels)].stream_unary(
                method, request_serializer=lambda b: b, response_deserializer=lambda b: b
            )
            self.calls.append(call.future(never()))

    def codes(self, calls: list[Any], within_s: float) -> list[str]:
        """The status of each call, waiting up to ``within_s`` for all to end; 'HELD' for one still open."""
        deadline = time.monotonic() + within_s
        out = []
        for c in calls:
            try:
                c.result(timeout=max(0.0, deadline - time.monotonic()))
                out.append("OK")
            except grpc.FutureTimeoutError:
                out.append("HELD")
            except grpc.RpcError as e:
                out.append(e.code().name)
        return out

    def close(self) -> None:
        self.release.set()
        for c in self.calls:
            c.cancel()
        for ch in self.channels:
            ch.close()


@pytest.fixture
def held() -> Iterator[HeldCalls]:
    h = HeldCalls()
    try:
        yield h
    finally:
        h.close()


def _agent(kind: str, root: Path) -> tuple[Any, int]:
    (root / "token").write_text(TOKEN)
    tokens = {"read": [{"file": str(root / "token")}]}
    make = plotter_config if kind == "plotter" else farmer_config
    config = write_yaml(root / f"{kind}.yaml", make(root, tokens=tokens))
    return start_agent(f"plotboss-{kind}", config)


@pytest.mark.parametrize("kind", ["plotter", "farmer"])
def test_200_held_calls_without_a_token_leave_token_bearing_calls_answered(
    tmp_path: Path, held: HeldCalls, kind: str
) -> None:
    """Before: 32 such calls took every worker; ListJobs with a valid token and the health check timed out."""
    proc, port = _agent(kind, tmp_path)
    address = f"127.0.0.1:{port}"
    read_method = (
        "/plotboss.v1.PlotterService/ListJobs" if kind == "plotter" else "/plotboss.v1.FarmerService/ListDrives"
    )
    try:
        held.hold(address, read_method, 100)  # a read RPC: refused without a token, before its request
        held.hold(address, HEALTH_CHECK, 100)  # open: these wait for their request, in their own few slots
        time.sleep(0.5)
        md: tuple[tuple[str, str | bytes], ...] = (("authorization", f"Bearer {TOKEN}"),)
        with grpc.insecure_channel(address) as ch:
            health = health_pb2_grpc.HealthStub(ch)
            if kind == "plotter":
                plotter = plotter_pb2_grpc.PlotterServiceStub(ch)

                def read() -> object:
                    return plotter.ListJobs(plotter_pb2.ListJobsRequest(), metadata=md, timeout=1)
            else:
                farmer = farmer_pb2_grpc.FarmerServiceStub(ch)

                def read() -> object:
                    return farmer.ListDrives(farmer_pb2.ListDrivesRequest(), metadata=md, timeout=1)

            for _ in range(10):  # every answer within 1 s (the deadline), while all 200 are still held open
                read()
                check = health.Check(health_pb2.HealthCheckRequest(), metadata=md, timeout=1)
                assert check.status == health_pb2.HealthCheckResponse.SERVING
        refused = held.codes(held.calls[:100], within_s=5)
        assert refused == ["UNAUTHENTICATED"] * 100  # without ever sending a request
        waiting = held.codes(held.calls[100:], within_s=0)
        assert waiting.count("HELD") <= OPEN_CALLS
        assert waiting.count("RESOURCE_EXHAUSTED") >= 100 - OPEN_CALLS
    finally:
        stop_process(proc)


def _server(tokens: TokenSet, **kw: Any) -> Server:
    return serve([], "127.0.0.1:0", tls=None, tokens=tokens, **kw)


def test_an_open_call_whose_request_never_comes_is_cancelled_and_frees_its_slot(held: HeldCalls) -> None:
    server = _server(TokenSet(read=(TOKEN,)), request_timeout_s=0.5)
    address = f"127.0.0.1:{server.port}"
    try:
        held.hold(address, HEALTH_CHECK, OPEN_CALLS)
        time.sleep(0.2)
        with grpc.insecure_channel(address) as ch:
            health = health_pb2_grpc.HealthStub(ch)
            if held.codes(held.calls, within_s=0) == ["HELD"] * OPEN_CALLS:  # else they timed out already
                with pytest.raises(grpc.RpcError) as exc:  # every slot for calls without a token is taken
                    health.Check(health_pb2.HealthCheckRequest(), timeout=5)
                assert exc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert held.codes(held.calls, within_s=10) == ["CANCELLED"] * OPEN_CALLS
            check = health.Check(health_pb2.HealthCheckRequest(), timeout=5)  # the slots are free again
            assert check.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        server.stop(0)


def test_without_credentials_held_calls_queue_and_time_out_from_their_arrival(held: HeldCalls) -> None:
    """An agent without tokens cannot tell callers apart: nothing is refused for want of a slot, and a call that
    never sends its request is cancelled a request timeout after it arrived, however long it queued."""
    server = _server(TokenSet(), request_timeout_s=0.5, max_workers=4)
    address = f"127.0.0.1:{server.port}"
    try:
        held.hold(address, HEALTH_CHECK, 24)  # within grpc's own limit (8 per worker)
        assert held.codes(held.calls, within_s=20) == ["CANCELLED"] * 24
        with grpc.insecure_channel(address) as ch:
            check = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert check.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        server.stop(0)


def test_a_unary_call_without_a_request_is_refused_as_grpc_refuses_it() -> None:
    server = _server(TokenSet(read=(TOKEN,)))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            call = ch.stream_unary(HEALTH_CHECK, request_serializer=lambda b: b, response_deserializer=lambda b: b)
            with pytest.raises(grpc.RpcError) as exc:
                call(iter(()), timeout=5)
            assert exc.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert "requires exactly one request message" in (exc.value.details() or "")
    finally:
        server.stop(0)


def test_a_flood_without_a_token_never_fills_grpcs_own_cap_on_concurrent_calls() -> None:
    """grpc refuses calls past a cap on concurrent calls (8 per worker) counting all of them: before, a flood without
    a token (here 8 connections x 100 calls in flight, on a 4-worker agent) made it refuse token-bearing calls."""
    server = _server(TokenSet(read=(TOKEN,)), max_workers=4)
    address = f"127.0.0.1:{server.port}"
    stop = threading.Event()
    flood_codes: dict[str, int] = {}
    channels = [grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(8)]

    def flood(ch: grpc.Channel) -> None:
        health = health_pb2_grpc.HealthStub(ch)
        while not stop.is_set():
            calls = [health.Check.future(health_pb2.HealthCheckRequest(), timeout=30) for _ in range(100)]
            for c in calls:
                try:
                    c.result()
                    code = "OK"
                except grpc.RpcError as e:
                    code = e.code().name
                flood_codes[code] = flood_codes.get(code, 0) + 1

    threads = [threading.Thread(target=flood, args=(ch,)) for ch in channels]
    refused: list[str] = []
    try:
        for t in threads:
            t.start()
        time.sleep(0.5)
        md: tuple[tuple[str, str | bytes], ...] = (("authorization", f"Bearer {TOKEN}"),)
        with grpc.insecure_channel(address) as ch:
            health = health_pb2_grpc.HealthStub(ch)
            for _ in range(30):
                try:
                    health.Check(health_pb2.HealthCheckRequest(), metadata=md, timeout=5)
                except grpc.RpcError as e:
                    refused.append(f"{e.code().name}: {e.details()}")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        for ch in channels:
            ch.close()
        server.stop(0)
    assert sum(flood_codes.values()) > 800  # the flood really ran
    assert refused == []
