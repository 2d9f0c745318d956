"""`plotboss-cli watch`: a live full-screen view of the fleet's plotters and farmers (rich Live), with keys.

The data comes from cli/watch_feeds.py (one long-lived channel per agent: WatchJobs for jobs, polls of what the agents
hold in memory for the rest); rendering is in cli/watch_view.py (pure); this module holds the keys, the screen's state
and the terminal (put back in its mode however the view ends).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any

import click
import grpc

from cli.app import cli
from cli.targets import ClientOptions, Kind, Target, describe_rpc_error, resolve_targets
from cli.watch_feeds import FarmerFeed, PlotterFeed
from cli.watch_view import Screen, enum_name, render
from plotboss.errors import ConfigError
from plotboss.v1 import plotter_pb2


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
