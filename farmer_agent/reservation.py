"""A reservation and the rules reservations are made by: the values the ledger decides on and the state file holds,
and the checks every request (and every row read back from the state file) passes."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from plotboss.errors import InvalidArgument
from plotboss.plots import max_plot_size, parse_plot_name

ID_RE = re.compile(r"^[0-9a-f]{32}\Z")
MAX_REQUESTER = 128
RECOVERED = "recovered"

Policy = Literal["most_free", "fill_first"]
#: what reverts a change (see "Undo" in the ledger's module doc); run in reverse order
Undo = list[Callable[[], object]]


@dataclass(frozen=True)
class Reservation:
    id: str
    plot_name: str
    size_bytes: int
    requester: str
    drive: str
    create_time: float
    expire_time: float


@dataclass(frozen=True)
class Rules:
    min_free_bytes: int = 0
    max_writers_per_drive: int = 1
    policy: Policy = "most_free"
    lease_s: float = 120.0


def check_id(reservation_id: str) -> str:
    if not ID_RE.match(reservation_id):
        raise InvalidArgument(f"reservation id {reservation_id[:80]!r}: expected 32 lower-case hex digits")
    return reservation_id


def check_request(plot_name: str, size_bytes: int, requester: str) -> None:
    """InvalidArgument unless the name is a final plot name, the size plausible for its k, the requester named."""
    k = parse_plot_name(plot_name).k
    if size_bytes <= 0:
        raise InvalidArgument(f"size_bytes {size_bytes}: must be greater than 0")
    if size_bytes > max_plot_size(k):
        raise InvalidArgument(f"size_bytes {size_bytes}: absurd for k={k} (at most {max_plot_size(k)})")
    if not requester or not requester.strip():
        raise InvalidArgument("requester: must not be empty (the plotter's agent name)")
    if len(requester) > MAX_REQUESTER or not requester.isprintable():
        raise InvalidArgument(f"requester: at most {MAX_REQUESTER} printable characters")
