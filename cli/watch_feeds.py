"""The feeds behind `plotboss-cli watch`: one per agent, each with one long-lived channel for the whole run.

A plotter's jobs come from its WatchJobs stream (the agent sends a snapshot when its view changes; while it refuses the
stream, ListJobs polls stand in); its dirs, scheduler and archiver are polled every ``interval_s`` on the same channel.
A farmer's drives and reservations are polled likewise. All of it is what the agents already hold in memory. An agent
that stops answering is marked down from the first failed call (``Reach.down_since``); its feed retries with a growing
pause (capped) and the channel reconnects by itself when the agent is back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from cli.targets import Target, describe_rpc_error
from cli.watch_view import FarmerSnap, PlotterSnap, Reach
from plotboss.transport import dial
from plotboss.v1 import farmer_pb2, farmer_pb2_grpc, plotter_pb2, plotter_pb2_grpc

#: The channel's own reconnect backoff: gRPC's default grows to 2 minutes, too slow to see an agent come back.
CHANNEL_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 4000),
]
STREAM_S = 600.0  # a WatchJobs call is renewed this often (a deadline, so a silent agent cannot hold it forever)
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.5, 8.0
RECHECK_UNIMPLEMENTED_S = 60.0  # an agent upgraded while we watch gains its scheduler/archiver lines
RETRY_STREAM_S = 30.0  # an agent that refused the WatchJobs stream is asked again this often
GONE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)  # the agent is not answering at all
LOG_LINES = 12


class Backoff:
    def __init__(self) -> None:
        self.delay = BACKOFF_MIN_S

    def reset(self) -> None:
        self.delay = BACKOFF_MIN_S

    def next(self) -> float:
        d = self.delay
        self.delay = min(BACKOFF_MAX_S, self.delay * 2)
        return d


class Feed:
    """One agent: its channel, what it last answered, whether it answers. Threads write, the screen reads."""

    def __init__(self, target: Target, interval_s: float, timeout_s: float, clock: Callable[[], float]) -> None:
        self.target = target
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.reach = Reach()
        self.channel = dial(
            target.address, token=target.token, tls=target.tls, timeout_s=timeout_s, options=CHANNEL_OPTIONS
        )
        self.threads: list[threading.Thread] = []

    def ok(self) -> None:
        with self.lock:
            self.reach = Reach(seen=True)

    def down(self, err: grpc.RpcError) -> None:
        with self.lock:
            since = self.reach.down_since if self.reach.down_since is not None else self.clock()
            self.reach = Reach(seen=self.reach.seen, down_since=since, error=describe_rpc_error(err))

    def spawn(self, fn: Callable[[], None]) -> None:
        t = threading.Thread(target=fn, daemon=True, name=f"watch-{self.target.name}")
        t.start()
        self.threads.append(t)

    def poll_loop(self, poll: Callable[[], None]) -> None:
        backoff = Backoff()
        while not self.stop.is_set():
            try:
                poll()
            except (grpc.RpcError, ValueError) as e:  # ValueError: a call on the channel close() just closed
                if self.stop.is_set():
                    return
                if not isinstance(e, grpc.RpcError):
                    raise
                self.down(e)
                self.stop.wait(backoff.next())
                continue
            backoff.reset()
            self.stop.wait(self.interval_s)

    def close(self) -> None:
        self.stop.set()
        self.channel.close()  # ends a WatchJobs stream in flight (CANCELLED)


@dataclass(frozen=True)
class Answer:
    """An RPC the agent may not have (UNIMPLEMENTED before the scheduler/archiver landed): its last answer, or when
    to ask again."""

    answer: Any = None
    retry_at: float = 0.0


class PlotterFeed(Feed):
    def __init__(self, target: Target, interval_s: float, timeout_s: float, clock: Callable[[], float]) -> None:
        super().__init__(target, interval_s, timeout_s, clock)
        self.stub = plotter_pb2_grpc.PlotterServiceStub(self.channel)
        self.jobs: list[plotter_pb2.Job] = []
        self.dirs: list[plotter_pb2.Dir] = []
        self.optional = {"scheduler": Answer(), "archive": Answer()}
        self.log_job: str | None = None
        self.log: tuple[str, list[str]] | None = None
        self.poll_jobs = False  # set while the agent refuses the stream: jobs come from ListJobs polls
        self.spawn(self._follow_jobs)
        self.spawn(lambda: self.poll_loop(self._poll))

    def _follow_jobs(self) -> None:
        """Jobs from the WatchJobs stream. An agent that refuses the stream (too many streams in flight,
        RESOURCE_EXHAUSTED, or any code but a gone agent's) has its jobs polled with ListJobs instead, and the stream
        is tried again later."""
        backoff = Backoff()
        while not self.stop.is_set():
            try:
                for msg in self.stub.WatchJobs(plotter_pb2.WatchJobsRequest(), timeout=STREAM_S):
                    with self.lock:
                        self.jobs = list(msg.jobs)
                        self.poll_jobs = False
                    self.ok()
                    backoff.reset()
            except (grpc.RpcError, ValueError) as e:  # ValueError: the channel close() just closed
                if self.stop.is_set():
                    return
                if not isinstance(e, grpc.RpcError):
                    raise
                code = e.code()
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    continue  # the stream's own deadline: renew it
                if code == grpc.StatusCode.UNAVAILABLE:
                    self.down(e)
                    self.stop.wait(backoff.next())
                else:
                    self.poll_jobs = True
                    self.stop.wait(RETRY_STREAM_S)

    def _ask(self, key: str, call: Callable[[], Any]) -> None:
        state = self.optional[key]
        now = self.clock()
        if state.answer is None and now < state.retry_at:
            return
        try:
            answer = call()
        except grpc.RpcError as e:
            if e.code() in GONE:
                raise
            # UNIMPLEMENTED: an agent without it, asked again now and then; any other refusal: no line, asked again
            # at the next poll (the agent itself answers, so its row stays up)
            answer = None
            retry_at = now + RECHECK_UNIMPLEMENTED_S if e.code() == grpc.StatusCode.UNIMPLEMENTED else 0.0
        else:
            retry_at = 0.0
        with self.lock:
            self.optional[key] = Answer(answer, retry_at)

    def _poll(self) -> None:
        dirs = self.stub.ListDirs(plotter_pb2.ListDirsRequest(), timeout=self.timeout_s).dirs
        jobs = (
            self.stub.ListJobs(plotter_pb2.ListJobsRequest(), timeout=self.timeout_s).jobs if self.poll_jobs else None
        )
        with self.lock:
            self.dirs = list(dirs)
            if jobs is not None:
                self.jobs = list(jobs)
        self.ok()
        req_s, req_a = plotter_pb2.GetSchedulerStatusRequest(), plotter_pb2.GetArchiveStatusRequest()
        self._ask("scheduler", lambda: self.stub.GetSchedulerStatus(req_s, timeout=self.timeout_s))
        self._ask("archive", lambda: self.stub.GetArchiveStatus(req_a, timeout=self.timeout_s))
        job = self.log_job
        if job is not None:
            self.log = (job, self.tail(job))

    def tail(self, job: str) -> list[str]:
        """The job's last lines (TailLog, not following), or why they could not be had."""
        try:
            data = b"".join(
                m.data
                for m in self.stub.TailLog(plotter_pb2.TailLogRequest(job=job, lines=LOG_LINES), timeout=self.timeout_s)
            )
        except grpc.RpcError as e:
            return [f"({describe_rpc_error(e)})"]
        except ValueError:  # the channel was closed: we are quitting
            return []
        return data.decode(errors="replace").splitlines()[-LOG_LINES:]

    def snap(self) -> PlotterSnap:
        with self.lock:
            return PlotterSnap(
                self.target.name,
                self.target.address,
                self.reach,
                list(self.jobs),
                list(self.dirs),
                self.optional["scheduler"].answer,
                self.optional["archive"].answer,
            )


class FarmerFeed(Feed):
    def __init__(self, target: Target, interval_s: float, timeout_s: float, clock: Callable[[], float]) -> None:
        super().__init__(target, interval_s, timeout_s, clock)
        self.stub = farmer_pb2_grpc.FarmerServiceStub(self.channel)
        self.drives: list[farmer_pb2.Drive] = []
        self.reservations: list[farmer_pb2.Reservation] = []
        self.spawn(lambda: self.poll_loop(self._poll))

    def _poll(self) -> None:
        drives = self.stub.ListDrives(farmer_pb2.ListDrivesRequest(), timeout=self.timeout_s).drives
        res = self.stub.ListReservations(farmer_pb2.ListReservationsRequest(), timeout=self.timeout_s).reservations
        with self.lock:
            self.drives, self.reservations = list(drives), list(res)
        self.ok()

    def snap(self) -> FarmerSnap:
        with self.lock:
            return FarmerSnap(
                self.target.name, self.target.address, self.reach, list(self.drives), list(self.reservations)
            )
