"""Farmer commands: drives, reservations (farmer agents)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import click
import grpc

from cli.app import cli
from cli.render import Grid, Printer, bar, human_bytes, print_json
from cli.targets import ClientOptions, Outcome, fan_out, report_failures, resolve_targets
from plotboss.v1 import farmer_pb2, farmer_pb2_grpc

STATE_NAMES = {
    farmer_pb2.DRIVE_STATE_UNSPECIFIED: "unknown",
    farmer_pb2.DRIVE_STATE_OK: "ok",
    farmer_pb2.DRIVE_STATE_FULL: "full",
    farmer_pb2.DRIVE_STATE_MISSING: "missing",
    farmer_pb2.DRIVE_STATE_READ_ONLY: "read-only",
    farmer_pb2.DRIVE_STATE_ERROR: "error",
}


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


def _stub(ch: grpc.Channel) -> farmer_pb2_grpc.FarmerServiceStub:
    return farmer_pb2_grpc.FarmerServiceStub(ch)


def _name(o: Outcome[Any], agent: Any) -> str:
    return agent.name if agent is not None and agent.name else o.target.name


def drives_table(drives: Sequence[farmer_pb2.Drive]) -> tuple[Grid, list[str]]:
    """The drives of one farmer, and notes (why a drive is not ok) to print under the table."""
    grid = Grid(
        ("drive", "size", "free", "reserved", "fill", "plots", "state", "writers"),
        right=frozenset({"size", "free", "reserved", "plots", "writers"}),
    )
    notes: list[str] = []
    for d in drives:
        state = STATE_NAMES.get(d.state, "unknown")
        used = d.total_bytes - d.free_bytes + d.reserved_bytes
        if d.error:
            notes.append(f"{d.path}: {state}: {d.error}")
        grid.add_row(
            d.path,
            human_bytes(d.total_bytes),
            human_bytes(d.free_bytes),
            human_bytes(d.reserved_bytes),
            bar(used / d.total_bytes) if d.total_bytes else bar(0),
            str(d.plot_count),
            state,
            str(d.writers),
        )
    if not drives:
        notes.append("no drives (drives.paths matched nothing)")
    return grid, notes


def reservations_table(reservations: Sequence[farmer_pb2.Reservation], now: float) -> Grid:
    grid = Grid(("id", "plot", "size", "requester", "drive", "expires in"), right=frozenset({"size", "expires in"}))
    for r in reservations:
        left = r.expire_time.ToNanoseconds() / 1e9 - now
        grid.add_row(
            r.id[:8],
            _short_plot(r.plot_name),
            human_bytes(r.size_bytes),
            r.requester,
            r.drive_path,
            f"{max(0.0, left):.0f} s",
        )
    return grid


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
        out = Printer()
        for o in outcomes:
            if o.value is None:
                continue
            grid, notes = drives_table(o.value.drives)
            out.heading(_name(o, o.value.agent), f" ({o.target.address}): {len(o.value.drives)} drives")
            out.grid(grid)
            for note in notes:
                out.line(f"  {note}")
    return report_failures(outcomes)


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
        out = Printer()
        now = datetime.now(UTC).timestamp()
        for o in outcomes:
            if o.value is None:
                continue
            res = o.value.reservations
            out.heading(_name(o, o.value.agent), f" ({o.target.address}): {len(res)} reservations in force")
            if res:
                out.grid(reservations_table(res, now))
    return report_failures(outcomes)
