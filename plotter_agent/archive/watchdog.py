"""The archiver's watchdog over pushes that stop moving without ending.

rsync's ``--timeout`` does not end every hang: when only the daemon's generator hangs after the data is received,
the pushing rsync keeps writing keep-alive messages that the daemon's receiver reads, and a successful write counts
as I/O for ``--timeout``; such a push (and its reservation) would stay forever. So the archiver watches each push's
**progress counter** and kills a push whose counter has not grown by ``min_step_bytes`` for ``stall_s``; the outcome
is a stall (``outcome.Fault.STALLED``: resumed on the same reservation first, like an I/O timeout).

The counter is the bytes rsync moved: the ``--info=progress2`` bytes of a push this agent started, plus the rsync
process's own I/O counters (``/proc/<pid>/io``: ``rchar + wchar``, the source read, the socket written and read).
A push adopted after a restart has no progress stream (it went to the dead agent), so only the I/O counters count
for it; where they cannot be read (another user's process, a kernel without them) the watchdog does not judge it.
Keep-alive messages move a few bytes per ``io_timeout/2``, far below ``min_step_bytes``. The I/O counters also move
while a resumed push receives the block checksums of its partial (before any data moves), so a long checksum pass
over a big partial is not taken for a stall.

``observe`` is pure: the last mark (counter, when it last moved), the counter now, ``now`` and the rules.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StallRules:
    #: a push whose counter has not moved this long is stalled
    stall_s: float = 300.0
    #: growth below this is not progress (rsync's keep-alive messages are a few bytes each)
    min_step_bytes: int = 64 * 1024


def default_stall_s(io_timeout_s: float) -> float:
    """The default stall time: five rsync I/O timeouts (rsync's own timeout ends most hangs first)."""
    return 5.0 * io_timeout_s


@dataclass(frozen=True)
class Mark:
    #: the counter when it last moved
    bytes: int
    #: when it last moved
    since: float


def observe(last: Mark | None, counter: int | None, now: float, rules: StallRules) -> tuple[Mark | None, bool]:
    """(the new mark, stalled?) after reading ``counter`` at ``now``. No counter: nothing is judged (None, False).
    A first reading, a counter that went down (a new run) or grew by ``min_step_bytes`` starts a new mark."""
    if counter is None:
        return last, False
    if last is None or counter < last.bytes or counter - last.bytes >= rules.min_step_bytes:
        return Mark(counter, now), False
    return last, now - last.since >= rules.stall_s


def proc_io_bytes(pid: int, proc: str = "/proc") -> int | None:
    """``rchar + wchar`` of the process (None: gone, or its counters cannot be read)."""
    try:
        with open(f"{proc}/{pid}/io", "rb") as f:
            text = f.read(4096).decode("ascii", "replace")
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("rchar", "wchar"):
            try:
                values[key] = int(value.strip())
            except ValueError:
                return None
    if len(values) != 2:
        return None
    return values["rchar"] + values["wchar"]
