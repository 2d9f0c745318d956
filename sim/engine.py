"""The event engine: a heap of timed callbacks over a virtual clock. Time jumps from one event to the next, so a
stretch where nothing happens costs nothing.

An event is ``[time, seq, fn, args]``; :meth:`Engine.cancel` blanks its ``fn`` (the heap entry is skipped when it
comes up), so rescheduling is O(log n) without a search. ``seq`` keeps events at one time in the order they were
scheduled, so a run is deterministic for a given seed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

Event = list[Any]


class Engine:
    def __init__(self, t0: float = 0.0) -> None:
        self.now = t0
        self.t0 = t0
        self._heap: list[Event] = []
        self._seq = 0
        #: events run so far (cancelled ones not counted)
        self.events = 0
        #: called before each event with the time it is about to jump to (metrics integrate over the gap)
        self.before: Callable[[float], None] | None = None
        #: called after each event (invariant checks)
        self.after: Callable[[], None] | None = None

    def clock(self) -> float:
        """The virtual time: a drop-in for ``time.time`` / ``time.monotonic`` for the code under simulation."""
        return self.now

    def at(self, t: float, fn: Callable[..., None], *args: Any) -> Event:
        """Run ``fn(*args)`` at ``t`` (never before now)."""
        self._seq += 1
        ev: Event = [max(t, self.now), self._seq, fn, args]
        heapq.heappush(self._heap, ev)
        return ev

    def after_s(self, s: float, fn: Callable[..., None], *args: Any) -> Event:
        return self.at(self.now + s, fn, *args)

    @staticmethod
    def cancel(ev: Event | None) -> None:
        if ev is not None:
            ev[2] = None

    @property
    def pending(self) -> int:
        return len(self._heap)

    def run(self, until: float) -> None:
        """Run events in time order up to ``until`` (inclusive), then leave the clock at ``until``."""
        heap = self._heap
        pop = heapq.heappop
        before, after = self.before, self.after
        while heap and heap[0][0] <= until:
            t, _seq, fn, args = pop(heap)
            if fn is None:
                continue
            if before is not None:
                before(t)
            self.now = t
            fn(*args)
            self.events += 1
            if after is not None:
                after()
        if before is not None:
            before(until)
        self.now = max(self.now, until)
