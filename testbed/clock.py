"""A virtual clock: the time is ``t`` and moves only when a test moves it."""

from __future__ import annotations


class VirtualClock:
    """Call it for the time (a drop-in for ``time.time``/``time.monotonic``); ``advance`` and ``sleep`` move it, and
    so does setting ``t``. ``sleep`` makes it a drop-in for ``time.sleep`` too: sleeping takes no real time."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s

    def sleep(self, s: float) -> None:
        self.advance(s)
