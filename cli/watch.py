"""`plotboss-cli watch`: a live full-screen view of the fleet's plotters and farmers (rich Live), with keys.

Each agent gets one long-lived channel for the whole run. A plotter's jobs come from its WatchJobs stream (the agent
sends a snapshot when its view changes); its dirs, scheduler and archiver are polled every ``--interval`` on the same
channel. A farmer's drives and reservations are polled likewise. Everything asked for is what the agents already hold
in memory (their last snapshot, their ledger). An agent that stops answering is a row saying since when; its feed
retries with a growing pause (capped) and the channel reconnects by itself when the agent is back.

Rendering is in cli/watch_view.py (pure); this module holds the feeds, the keys and the terminal.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import click
import grpc

from cli.app import cli
from cli.targets import ClientOptions, Kind, Target, describe_rpc_error, resolve_targets
from cli.watch_view import FarmerSnap, PlotterSnap, Reach, Screen, enum_name, render
from plotboss.errors import ConfigError
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


def job_name(j: plotter_pb2.Job) -> str:
    """How the agent's job RPCs name a job: its plot id, else pid:N."""
    return j.plot_id or f"pid:{j.pid}"


# -- keys --------------------------------------------------------------------------------------------------------

ARROWS = {"\x1b[A": "up", "\x1b[B": "down", "\x1b[C": "right", "\x1b[D": "left"}
ARROWS |= {k.replace("[", "O"): v for k, v in ARROWS.items()}


def keys_of(data: str) -> Iterator[str]:
    """Key names from what the terminal sent: arrows as 'up'/'down'/'left'/'right', other keys as themselves."""
    i = 0
    while i < len(data):
        seq = data[i : i + 3]
        if seq in ARROWS:
            yield ARROWS[seq]
            i += 3
            continue
        if data[i] == "\x1b":  # another escape sequence: skip it whole
            i += 1
            while i < len(data) and not data[i].isalpha() and data[i] != "~":
                i += 1
            i += 1
            continue
        yield data[i]
        i += 1


#: key -> (what it does, the RPC's name, the request)
CONTROLS: dict[str, tuple[str, str, Any]] = {
    "p": ("pause the scheduler", "PauseScheduler", plotter_pb2.PauseSchedulerRequest),
    "r": ("resume the scheduler", "ResumeScheduler", plotter_pb2.ResumeSchedulerRequest),
    "a": ("pause the archiver", "PauseArchiver", plotter_pb2.PauseArchiverRequest),
    "A": ("resume the archiver", "ResumeArchiver", plotter_pb2.ResumeArchiverRequest),
}


class Watch:
    """The screen's state (selection, question, status line) and what each key does."""

    def __init__(self, plotters: list[PlotterFeed], farmers: list[FarmerFeed], clock: Callable[[], float]) -> None:
        self.plotters, self.farmers, self.clock = plotters, farmers, clock
        self.selected = 0
        self.selected_job = 0  # its index in the selected plotter's list, kept on the job itself as jobs come and go:
        self.selected_key: str | None = None  # the job's name (plot id or pid:N)
        self.pending: str | None = None  # a control key waiting for y/n
        self.status = ""
        self.quit = False

    def screen(self, height: int = 0) -> Screen:
        snaps = [p.snap() for p in self.plotters]
        if snaps:
            self._follow_selection(snaps[self.selected].jobs)
        log = None
        if self.plotters and self.plotters[self.selected].log_job is not None:
            log = self.plotters[self.selected].log or (self.plotters[self.selected].log_job or "", ["(reading…)"])
        prompt = None
        if self.pending is not None and self.plotters:
            prompt = f"{CONTROLS[self.pending][0]} of {self.plotters[self.selected].target.name}? y/n"
        return Screen(
            now=self.clock(),
            plotters=snaps,
            farmers=[f.snap() for f in self.farmers],
            selected=self.selected,
            selected_job=self.selected_job,
            prompt=prompt,
            status=self.status,
            log=log,
            height=height,
        )

    def _follow_selection(self, jobs: Sequence[plotter_pb2.Job]) -> None:
        """Keep the selection on the same job while others start and end; when it ends, on its neighbour."""
        names = [job_name(j) for j in jobs]
        if self.selected_key in names:
            self.selected_job = names.index(self.selected_key)
        else:
            self.selected_job = min(self.selected_job, max(0, len(names) - 1))
            self.selected_key = names[self.selected_job] if names else None

    def _select(self, i: int) -> None:
        if self.plotters and 0 <= i < len(self.plotters):
            self.plotters[self.selected].log_job = None
            self.selected, self.selected_job, self.selected_key = i, 0, None

    def key(self, k: str) -> None:
        if self.pending is not None:
            control, self.pending = self.pending, None
            if k in ("y", "Y"):
                self._control(control)
            else:
                self.status = "cancelled"
            return
        if k in ("q", "Q"):
            self.quit = True
        elif k == "up":
            self._select(self.selected - 1)
        elif k == "down":
            self._select(self.selected + 1)
        elif k.isdigit() and k != "0":
            self._select(int(k) - 1)
        elif k in ("left", "right") and self.plotters:
            jobs = self.plotters[self.selected].snap().jobs
            self._follow_selection(jobs)
            if jobs:
                self.selected_job = (self.selected_job + (1 if k == "right" else -1)) % len(jobs)
                self.selected_key = job_name(jobs[self.selected_job])
        elif k == "l":
            self._toggle_log()
        elif k in CONTROLS:
            if not self.plotters:
                self.status = "no plotter to control"
            else:
                self.pending = k
        elif k in ("\x1b", "\x03"):
            self.status = ""

    def _toggle_log(self) -> None:
        if not self.plotters:
            return
        feed = self.plotters[self.selected]
        if feed.log_job is not None:
            feed.log_job, feed.log = None, None
            return
        jobs = feed.snap().jobs
        if not jobs:
            self.status = f"{feed.target.name}: no job to show the log of"
            return
        self._follow_selection(jobs)
        feed.log_job, feed.log = job_name(jobs[self.selected_job]), None
        threading.Thread(target=self._read_log, args=(feed, feed.log_job), daemon=True).start()

    @staticmethod
    def _read_log(feed: PlotterFeed, job: str) -> None:
        lines = feed.tail(job)
        if feed.log_job == job:
            feed.log = (job, lines)

    def _control(self, k: str) -> None:
        what, rpc, request = CONTROLS[k]
        feed = self.plotters[self.selected]
        self.status = f"{feed.target.name}: {what}…"

        def run() -> None:
            try:
                answer = getattr(feed.stub, rpc)(request(), timeout=feed.timeout_s)
            except ValueError:  # the channel was closed: we are quitting
                return
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                    self.status = f"{feed.target.name}: cannot {what}: this agent has none (UNIMPLEMENTED)"
                else:
                    self.status = f"{feed.target.name}: cannot {what}: {describe_rpc_error(e)}"
                return
            self.status = f"{feed.target.name}: {what}: now {enum_name(answer, 'state') or 'done'}"

        threading.Thread(target=run, daemon=True).start()


# -- the terminal ------------------------------------------------------------------------------------------------


def _raise_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run_watch(watch: Watch, tick_s: float = 0.25) -> None:
    """Draw until q (or SIGTERM/SIGHUP/Ctrl-C); the terminal's mode is put back whatever ends the loop."""
    import termios
    import tty

    from rich.console import Console
    from rich.live import Live

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    old_handlers = {s: signal.signal(s, _raise_exit) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        tty.setcbreak(fd)
        console = Console(highlight=False)
        with Live(console=console, screen=True, auto_refresh=False, redirect_stdout=False) as live:
            while not watch.quit:
                # the terminal's size now, from the terminal itself: LINES/COLUMNS in the environment (which rich
                # prefers) are stale once the window is resized
                size = os.get_terminal_size(fd)
                console.size = (size.columns, size.lines)
                live.update(render(watch.screen(size.lines)), refresh=True)
                ready, _w, _x = select.select([fd], [], [], tick_s)
                if ready:
                    data = os.read(fd, 64).decode(errors="replace")
                    if not data:  # the terminal went away
                        return
                    for k in keys_of(data):
                        watch.key(k)
    except KeyboardInterrupt:
        pass
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        for s, h in old_handlers.items():
            signal.signal(s, h)


def _targets(opts: ClientOptions) -> tuple[list[Target], list[Target]]:
    """Plotters and farmers to watch. Ad-hoc addresses: the kinds given. A fleet file: both kinds, either may be
    empty, not both."""
    if opts.plotters or opts.farmers:
        plotters = resolve_targets(opts, "plotter") if opts.plotters else []
        farmers = resolve_targets(opts, "farmer") if opts.farmers else []
        return plotters, farmers
    if opts.fleet is None:
        raise ConfigError("no agents to watch: pass --plotter/--farmer HOST:PORT or --fleet FILE")

    def of(kind: Kind) -> list[Target]:
        try:
            return resolve_targets(opts, kind)
        except ConfigError as e:
            if str(e).endswith(f"the fleet file lists no {kind}s"):
                return []
            raise

    plotters, farmers = of("plotter"), of("farmer")
    if not plotters and not farmers:
        raise ConfigError(f"{opts.fleet}: the fleet file lists no plotters and no farmers")
    return plotters, farmers


@cli.command()
@click.option(
    "--interval",
    "interval_s",
    type=click.FloatRange(min=0.2, max=3600),
    default=2.0,
    show_default=True,
    help="Seconds between polls of dirs, drives, scheduler and archiver (jobs follow the agents' watch streams).",
)
@click.pass_obj
def watch(opts: ClientOptions, interval_s: float) -> None:
    """A live full-screen view of the plotters and farmers. Keys: q quit, ↑↓ or 1-9 select a plotter, ←→ a job,
    l its log, p/r pause/resume the plotter's scheduler, a/A its archiver (each asks y/n)."""
    plotter_targets, farmer_targets = _targets(opts)
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise click.UsageError("watch needs a terminal (stdin and stdout)")
    clock = time.time
    plotters = [PlotterFeed(t, interval_s, opts.timeout_s, clock) for t in plotter_targets]
    farmers = [FarmerFeed(t, interval_s, opts.timeout_s, clock) for t in farmer_targets]
    try:
        run_watch(Watch(plotters, farmers, clock))
    finally:
        for f in (*plotters, *farmers):
            f.close()
