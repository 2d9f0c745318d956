"""Farmer commands: drives, reservations (farmer agents)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
import grpc
from rich.console import Console
from rich.table import Table

from cli.app import cli
from cli.render import bar, console, human_bytes, print_json
from cli.targets import ClientOptions, Outcome, fan_out, resolve_targets
from plotboss.v1 import farmer_pb2, farmer_pb2_grpc

STATE_NAMES = {
    farmer_pb2.DRIVE_STATE_UNSPECIFIED: "unknown",
    farmer_pb2.DRIVE_STATE_OK: "ok",
    farmer_pb2.DRIVE_STATE_FULL: "full",
    farmer_pb2.DRIVE_STATE_MISSING: "missing",
    farmer_pb2.DRIVE_STATE_READ_ONLY: "read-only",
    farmer_pb2.DRIVE_STATE_ERROR: "error",
}
STATE_STYLE = {"ok": "green", "full": "yellow", "missing": "red", "read-only": "red", "error": "red"}


def drive_json(d: farmer_pb2.Drive) -> dict[str, Any]:
    return {
        "path": d.path,
        "total_bytes": d.total_bytes,
        "free_bytes": d.free_bytes,
        "reserved_bytes": d.reserved_bytes,
        "plots": d.plot_count,
        "plot_bytes": d.plot_bytes,
        "state": STATE_NAMES.get(d.state, "unknown"),
        "error": d.error or None,
        "writers": d.writers,
        "rsync_url": d.rsync_url,
    }


def _iso(ts: Any) -> str | None:
    if not ts.seconds and not ts.nanos:
        return None
    return datetime.fromtimestamp(ts.ToNanoseconds() / 1e9, UTC).isoformat(timespec="seconds")


def reservation_json(r: farmer_pb2.Reservation) -> dict[str, Any]:
    return {
        "id": r.id,
        "plot_name": r.plot_name,
        "size_bytes": r.size_bytes,
        "requester": r.requester,
        "drive": r.drive_path,
        "rsync_url": r.rsync_url,
        "create_time": _iso(r.create_time),
        "expire_time": _iso(r.expire_time),
    }


def _print_farmers_json(outcomes: list[Outcome[Any]], key: str, rows: Callable[[Any], list[dict[str, Any]]]) -> None:
    """{"farmers": [{name, address, ok, error, KEY: rows(answer)}]}, each named as the farmer names itself."""
    farmers = []
    for o in outcomes:
        entry = {**o.head(), key: rows(o.value) if o.value is not None else []}
        if o.value is not None:
            entry["name"] = _name(o, o.value.agent)
        farmers.append(entry)
    print_json({"farmers": farmers})


def _short_plot(name: str) -> str:
    """plot-k32-2021-05-05-12-34-<64 hex>.plot -> plot-k32-2021-05-05-12-34-0123abcd….plot"""
    return name[:34] + "…" + name[-5:] if len(name) > 60 else name


def _wide_console() -> Console:
    con = console()
    if not sys.stdout.isatty():
        con.width = max(con.width, 140)  # piped output: room for drive paths rather than 80 folded columns
    return con


def _stub(ch: grpc.Channel) -> farmer_pb2_grpc.FarmerServiceStub:
    return farmer_pb2_grpc.FarmerServiceStub(ch)


def _name(o: Outcome[Any], agent: Any) -> str:
    return agent.name if agent is not None and agent.name else o.target.name


@cli.command("drives")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def drives_cmd(opts: ClientOptions, as_json: bool) -> int:
    """Archive drives of each farmer: size, free, reserved, plots, state, writers."""
    targets = resolve_targets(opts, "farmer")
    outcomes = fan_out(
        targets, opts.timeout_s, lambda ch: _stub(ch).ListDrives(farmer_pb2.ListDrivesRequest(), timeout=opts.timeout_s)
    )
    if as_json:
        _print_farmers_json(outcomes, "drives", lambda answer: [drive_json(d) for d in answer.drives])
    else:
        con = _wide_console()
        for o in outcomes:
            if o.value is None:
                con.print(f"[bold]{o.target.name}[/] ({o.target.address}): [red]{o.error}[/]")
                continue
            table = Table(title=f"{_name(o, o.value.agent)} ({o.target.address})", title_justify="left")
            table.add_column("drive", overflow="fold", min_width=12)
            for col in ("size", "free", "reserved"):
                table.add_column(col, justify="right", no_wrap=True)
            table.add_column("fill", no_wrap=True)
            table.add_column("plots", justify="right", no_wrap=True)
            table.add_column("state", no_wrap=True)
            table.add_column("writers", justify="right", no_wrap=True)
            notes: list[str] = []
            for d in o.value.drives:
                state = STATE_NAMES.get(d.state, "unknown")
                used = d.total_bytes - d.free_bytes + d.reserved_bytes
                fill = bar(used / d.total_bytes) if d.total_bytes else bar(0)
                shown = f"[{STATE_STYLE.get(state, 'red')}]{state}[/]"
                if d.error:
                    notes.append(f"{d.path}: {state}: {d.error}")
                table.add_row(
                    d.path,
                    human_bytes(d.total_bytes),
                    human_bytes(d.free_bytes),
                    human_bytes(d.reserved_bytes),
                    fill,
                    str(d.plot_count),
                    shown,
                    str(d.writers),
                )
            if not o.value.drives:
                notes.append("no drives (drives.paths matched nothing)")
            con.print(table)
            for note in notes:
                con.print(f"  {note}", markup=False)
    return 0 if all(o.ok for o in outcomes) else 1


@cli.command("reservations")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def reservations_cmd(opts: ClientOptions, as_json: bool) -> int:
    """Reservations in force on each farmer: plot, size, requester, drive, lease expiry."""
    targets = resolve_targets(opts, "farmer")
    outcomes = fan_out(
        targets,
        opts.timeout_s,
        lambda ch: _stub(ch).ListReservations(farmer_pb2.ListReservationsRequest(), timeout=opts.timeout_s),
    )
    if as_json:
        _print_farmers_json(outcomes, "reservations", lambda answer: [reservation_json(r) for r in answer.reservations])
    else:
        con = _wide_console()
        now = datetime.now(UTC).timestamp()
        for o in outcomes:
            if o.value is None:
                con.print(f"[bold]{o.target.name}[/] ({o.target.address}): [red]{o.error}[/]")
                continue
            table = Table(title=f"{_name(o, o.value.agent)} ({o.target.address})", title_justify="left")
            table.add_column("id", no_wrap=True)
            table.add_column("plot", overflow="fold")
            table.add_column("size", justify="right", no_wrap=True)
            table.add_column("requester", overflow="fold")
            table.add_column("drive", overflow="fold", min_width=12)
            table.add_column("expires in", justify="right", no_wrap=True)
            for r in o.value.reservations:
                left = r.expire_time.ToNanoseconds() / 1e9 - now
                table.add_row(
                    r.id[:8],
                    _short_plot(r.plot_name),
                    human_bytes(r.size_bytes),
                    r.requester,
                    r.drive_path,
                    f"{max(0.0, left):.0f} s",
                )
            if not o.value.reservations:
                table.caption = "no reservations in force"
            con.print(table)
    return 0 if all(o.ok for o in outcomes) else 1
