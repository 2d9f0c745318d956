"""One periodic loop for the agents' background work: run a callable every ``interval_s`` on an injected clock and
waiter, stop promptly when asked, log and survive exceptions.

The waiter is ``threading.Event.wait``-shaped (``wait(timeout) -> bool``: True when the stop event is set), so a stop
wakes the loop at once instead of after a whole interval. Tests pass a virtual clock and a waiter that moves it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Clock = Callable[[], float]
#: wait(timeout_s) -> True when the loop is to stop (threading.Event.wait)
Waiter = Callable[[float], bool]


class PeriodicLoop:
    """Call ``fn`` every ``interval_s`` seconds (measured start to start, on ``clock``) until ``stop``.

    A call that takes longer than the interval is followed at once by the next one (no burst of catch-up calls).
    An exception in ``fn`` is logged with its traceback and counted; the loop goes on with the next period.
    ``run`` does the looping in the caller's thread; ``start`` runs it in a daemon thread named ``name``.
    """

    def __init__(
        self,
        name: str,
        fn: Callable[[], object],
        interval_s: float,
        *,
        clock: Clock = time.monotonic,
        stop_event: threading.Event | None = None,
        waiter: Waiter | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"loop {name}: interval_s must be > 0, not {interval_s}")
        self.name = name
        self.fn = fn
        self.interval_s = interval_s
        self.clock = clock
        self.stop_event = stop_event if stop_event is not None else threading.Event()
        self.waiter: Waiter = waiter if waiter is not None else self.stop_event.wait
        self.calls = 0
        self.failures = 0
        self.last_error = ""
        self._thread: threading.Thread | None = None

    def run_once(self) -> bool:
        """One call of ``fn``; False when it raised (logged, counted)."""
        self.calls += 1
        try:
            self.fn()
        except Exception as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("loop %s: call %d failed", self.name, self.calls)
            return False
        return True

    def run(self) -> None:
        """Loop until the stop event is set (checked before each call and woken by the waiter)."""
        while not self.stop_event.is_set():
            started = self.clock()
            self.run_once()
            if self.stop_event.is_set():
                break
            remaining = self.interval_s - (self.clock() - started)
            if self.waiter(max(0.0, remaining)):
                break

    def start(self) -> threading.Thread:
        if self._thread is not None:
            raise RuntimeError(f"loop {self.name} already started")
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout_s: float | None = 5.0) -> bool:
        """Ask the loop to stop and wait for its thread (if started); True when it has ended."""
        self.stop_event.set()
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()
