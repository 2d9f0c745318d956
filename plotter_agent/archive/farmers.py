"""Where to send a plot: a pure ranking of the configured farmers from their last ListDrives answers.

- A farmer whose last ListDrives failed is skipped and asked again after a delay that doubles with each failure
  (``backoff_base_s`` .. ``backoff_cap_s``); :func:`record_reachability` keeps that state, :func:`due` says whom to ask.
- Room on a drive is ``free - reserved - min_free`` (ListDrives shows each drive's ``drives.min_free_bytes`` floor;
  the farmer's Reserve answer stays the authority, this ranking is a guess that saves calls). Usable drives are
  those in state ok or full whose room fits the plot and that the plot is not to avoid.
- Farmers with a usable drive *without a writer* come first, by the sum of those drives' room (most first), or by
  the configured ``priority`` order (farmers not named in it after, by room). Then, as fall-backs for a Reserve that
  answers RESOURCE_EXHAUSTED or ABORTED, farmers whose usable drives all have a writer now (a writer may be done by
  the time we ask). Farmers with no usable drive are skipped with the reason.
- A plot some farmer already holds (its Reserve answered ALREADY_EXISTS, see ``farmer_client.PlotAlreadyThere``) is
  sent nowhere: ``held`` is set and there are no candidates, so it is never sent twice.
- ``avoid_farmers`` (farmer -> until when) and ``avoid_drives`` ((farmer, drive path)) come from earlier failures
  (``outcome.next_step``). The farmer picks the drive itself (Reserve takes no drive), so a reservation that lands on
  an avoided drive has to be released by the caller (:func:`lands_on_avoided`) and the next candidate tried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from plotter_agent.farmer_client import FarmerDrive

USABLE_STATES = frozenset({"ok", "full"})


@dataclass(frozen=True)
class FarmerView:
    """One farmer as last seen: its drives, or None when the last ListDrives failed (``error`` says why)."""

    farmer: str
    drives: tuple[FarmerDrive, ...] | None
    error: str = ""


@dataclass(frozen=True)
class Reachability:
    failures: int = 0
    last_error: str = ""
    #: do not ask before this time (the clock the caller passes as ``now``)
    retry_at: float = 0.0


@dataclass(frozen=True)
class FarmerRules:
    backoff_base_s: float = 5.0
    backoff_cap_s: float = 300.0


@dataclass(frozen=True)
class FarmerChoice:
    #: farmers to Reserve on, in order (the later ones are the fall-backs)
    candidates: tuple[str, ...]
    #: farmers left out, with why
    skipped: tuple[tuple[str, str], ...]
    #: (farmer, kind) of farmers that hold the plot already (kind: reserved, archived, present, unknown)
    held: tuple[tuple[str, str], ...] = ()


def record_reachability(
    prev: Reachability | None, ok: bool, now: float, error: str = "", rules: FarmerRules = FarmerRules()
) -> Reachability:
    """The state after one call to a farmer: reset on success; on failure, the next try after a doubling delay."""
    if ok:
        return Reachability()
    failures = (prev.failures if prev is not None else 0) + 1
    delay = min(rules.backoff_cap_s, rules.backoff_base_s * 2 ** (failures - 1))
    return Reachability(failures, error, now + delay)


def due(farmers: Sequence[str], reachability: Mapping[str, Reachability], now: float) -> tuple[str, ...]:
    """The farmers to ask for their drives now (never failed, or their back-off is over)."""
    return tuple(f for f in farmers if reachability.get(f, Reachability()).retry_at <= now)


def room(d: FarmerDrive) -> int:
    """What the drive can still take: free minus reserved minus the farmer's floor."""
    return max(0, d.free_bytes - d.reserved_bytes - d.min_free_bytes)


def lands_on_avoided(farmer: str, drive_path: str, avoid_drives: frozenset[tuple[str, str]]) -> bool:
    return (farmer, drive_path) in avoid_drives


def choose_farmer(
    farmers_drives: Sequence[FarmerView],
    reachability: Mapping[str, Reachability],
    priority: Sequence[str],
    now: float,
    *,
    size_bytes: int,
    avoid_farmers: Mapping[str, float] | None = None,
    avoid_drives: frozenset[tuple[str, str]] = frozenset(),
    held: Mapping[str, str] | None = None,
) -> FarmerChoice:
    """The farmers to try for one plot of ``size_bytes``, best first (see the module doc)."""
    if held:
        return FarmerChoice((), (), tuple(sorted(held.items())))
    avoid = avoid_farmers or {}
    rank = {f: i for i, f in enumerate(priority)}
    free_writer: list[tuple[tuple[float, int], str]] = []
    busy_writer: list[tuple[tuple[float, int], str]] = []
    skipped: list[tuple[str, str]] = []
    for view in farmers_drives:
        f = view.farmer
        reach = reachability.get(f, Reachability())
        if reach.retry_at > now:
            skipped.append(
                (
                    f,
                    f"unreachable ({reach.failures} failures: {reach.last_error}); next try in "
                    f"{reach.retry_at - now:.0f} s",
                )
            )
            continue
        if view.drives is None:
            skipped.append((f, f"unreachable: {view.error or 'no answer'}"))
            continue
        if avoid.get(f, float("-inf")) > now:
            skipped.append((f, f"avoided after a failure for {avoid[f] - now:.0f} s more"))
            continue
        # one pass over the drives, room(d) inlined: a farmer can list hundreds of drives, and this is asked per plot
        n_usable = 0
        has_idle = False
        idle_room = usable_room = 0
        for d in view.drives:
            r = d.free_bytes - d.reserved_bytes
            if r < 0:
                r = 0
            if d.state not in USABLE_STATES or r < size_bytes or (avoid_drives and (f, d.path) in avoid_drives):
                continue
            n_usable += 1
            usable_room += r
            if d.writers == 0:
                has_idle = True
                idle_room += r
        if not n_usable:
            skipped.append((f, f"no drive has room for {size_bytes} bytes (of {len(view.drives)})"))
            continue
        pos = float(rank.get(f, len(rank)))
        if has_idle:
            free_writer.append(((pos, -idle_room), f))
        else:
            busy_writer.append(((pos, -usable_room), f))
    ordered = [f for _, f in sorted(free_writer, key=lambda x: x[0])] + [
        f for _, f in sorted(busy_writer, key=lambda x: x[0])
    ]
    return FarmerChoice(tuple(ordered), tuple(skipped))
