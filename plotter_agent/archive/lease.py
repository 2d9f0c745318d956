"""Keeping a reservation alive while its transfer runs: Renew every ``every_s`` (a PeriodicLoop).

A farmer that does not answer is asked again next period (the lease is long against the period: the agent should
renew at most every lease_s / 3). NOT_FOUND means the reservation is gone (expired, released, farmer state lost):
the keeper stops and says ``lost``; the transfer's outcome then goes through Complete, which will answer NOT_FOUND
too (``outcome.Kind.COMPLETE_LOST``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from plotboss import errors
from plotboss.loop import Clock, PeriodicLoop
from plotter_agent.farmer_client import Reservation

log = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(
        self,
        renew: Callable[[str], Reservation],
        reservation_id: str,
        every_s: float,
        *,
        clock: Clock = time.monotonic,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.reservation_id = reservation_id
        self._renew = renew
        self.renewals = 0
        self.last_error = ""
        self.expire_time: float | None = None
        self.lost = False
        self.loop = PeriodicLoop(f"lease-{reservation_id[:8]}", self._once, every_s, clock=clock, stop_event=stop_event)

    def _once(self) -> None:
        try:
            r = self._renew(self.reservation_id)
        except errors.NotFound as e:
            self.lost, self.last_error = True, str(e)
            log.warning("reservation %s is gone: %s", self.reservation_id, e)
            self.loop.stop_event.set()
            return
        except errors.PlotbossError as e:
            self.last_error = str(e)
            log.warning("renewing reservation %s failed (will retry): %s", self.reservation_id, e)
            return
        self.renewals += 1
        self.last_error = ""
        self.expire_time = r.expire_time

    def start(self) -> LeaseKeeper:
        self.loop.start()
        return self

    def stop(self) -> None:
        self.loop.stop()
