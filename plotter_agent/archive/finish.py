"""Acting on the outcome of a push: the archiver's half that turns each outcome into its step (``outcome.next_step``)
and carries it out: Complete, delete the source only after Complete OK (and only while it is the same file), Release
with the right farmer or drive to avoid, resume on the kept reservation, park. Each ended attempt goes into the
archiver's recent results with its error (rsync's exit code and last stderr lines, or the farmer's message) and the
step taken; each outcome into the plot's history (in memory), which next_step reads for the back-off.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence

from plotboss import errors
from plotter_agent.archive.links import Links, describe
from plotter_agent.archive.outcome import (
    Attempt,
    Complete,
    Delete,
    Fault,
    GiveUp,
    Kind,
    Outcome,
    Park,
    Retry,
    RetryComplete,
    Step,
    classify,
    fault_text,
    next_step,
)
from plotter_agent.archive.records import SourceId, delete_source, mark_log, stderr_detail
from plotter_agent.archive.status import TransferOutcomeName, TransferView
from plotter_agent.archive.transfer import Settings, Transfer, view_of
from plotter_agent.rsync_runner import RsyncResult

log = logging.getLogger(__name__)


class Finisher:
    def __init__(self, settings: Settings, links: Links, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.links = links
        self.clock = clock
        self.lock = threading.Lock()
        #: by reservation id
        self.active: dict[str, Transfer] = {}
        self.recent: deque[TransferView] = deque(maxlen=settings.recent_max)
        #: by plot name: this run's outcomes, oldest first (cleared once the plot is archived)
        self.history: dict[str, list[Attempt]] = {}
        #: source path -> not before this time
        self.not_before: dict[str, float] = {}
        self.avoid_farmers: dict[str, float] = {}
        self.avoid_drives: dict[tuple[str, str], float] = {}
        self.archived_plots = 0
        self.archived_bytes = 0

    # --- records ------------------------------------------------------------------------------------------------------

    def farmer_name(self, t: Transfer) -> str:
        """How the push's farmer is shown: its reservation's farmer; for a push found again whose reservation no
        farmer lists (it expired while the agent was down), the farmer its rsync URL goes to; '' when unknown."""
        if t.farmer:
            return self.links.display(t.farmer)
        key = self.links.farmer_of_url(t.extra.get("url", ""))
        return self.links.display(key) if key else ""

    def _remember(self, t: Transfer, outcome: TransferOutcomeName, error: str, step: str, now: float) -> None:
        with self.lock:
            self.recent.appendleft(
                view_of(t, self.farmer_name(t), outcome=outcome, end_time=now, error=error, next_step=step)
            )

    def _forget(self, t: Transfer) -> None:
        if t.keeper is not None:
            t.keeper.stop()
        with self.lock:
            self.active.pop(t.reservation_id, None)

    def _attempt(self, plot: str, out: Outcome, now: float) -> None:
        self.history.setdefault(plot, []).append(Attempt(now, out))

    def release_quietly(self, farmer: str, rid: str) -> str:
        """Release; '' when done (or already gone), else why not (the lease then runs out on its own)."""
        if not farmer:
            return "farmer unknown"
        try:
            self.links.client(farmer).release(rid)
        except errors.NotFound:
            return ""
        except errors.PlotbossError as e:
            log.warning("release of %s on %s failed (its lease runs out instead): %s", rid, farmer, e)
            return describe(e)
        return ""

    # --- outcomes -----------------------------------------------------------------------------------------------------

    def finish_push(
        self, t: Transfer, returncode: int | None, signal: int | None, tail: Sequence[str], now: float
    ) -> None:
        """A push ended (ours, adopted, or read from its log)."""
        if returncode == 0:
            step: Step = next_step(Outcome(Kind.PUSHED, t.farmer, t.drive), self.history.get(t.plot_name, []), now)
            assert isinstance(step, Complete)
            self.complete(t, now)
            return
        result = RsyncResult(returncode, signal, tuple(tail), None, 0.0, ())
        detail = stderr_detail(returncode, signal, tail)
        fault = classify(result)
        if t.stalled:  # our watchdog killed it: a stall, whatever the signal says
            fault, detail = Fault.STALLED, f"{t.stalled} ({detail})"
        out = Outcome(Kind.PUSH_FAILED, t.farmer, t.drive, fault, detail)
        log.warning(
            "push of %s to %s failed (%s): %s", t.plot_name, self.farmer_name(t) or "?", fault_text(fault), detail
        )
        self.fail(t, out, now)

    def fail(self, t: Transfer, out: Outcome, now: float, *, released: bool = False) -> None:
        """Act on a failed outcome by next_step: resume on the kept reservation, ask Complete again, or Release (with
        what to avoid), record, and set when the plot may be tried again."""
        step = next_step(out, self.history.get(t.plot_name, []), now, self.settings.outcome_rules)
        self._attempt(t.plot_name, out, now)
        error = out.detail or (out.fault.value if out.fault else out.kind.value)
        if isinstance(step, RetryComplete) and t.farmer and not released:
            t.phase, t.wait_until, t.note = "complete", now + step.after_s, step.reason
            self._remember(t, "failed", error, f"ask Complete again in {step.after_s:.0f} s", now)
            return
        resumable = t.farmer and not t.lost and t.keeper is not None and not released and t.extra.get("url")
        if isinstance(step, Retry) and not step.release and step.resume and resumable:
            mark_log(t.log_file, t.pid, "failed")
            t.run, t.phase, t.wait_until = None, "resume", now + step.after_s
            t.note = f"resuming on the same drive in {step.after_s:.0f} s"
            self._remember(t, "failed", error, t.note, now)
            return
        if not released and out.kind != Kind.COMPLETE_LOST:
            self.release_quietly(t.farmer, t.reservation_id)
        after = 0.0
        what = ""
        if isinstance(step, Retry):
            after = step.after_s
            # the avoidance runs from the retry on (next_step's avoid_for_s equals the retry's delay: counted from
            # now, it would end just as the retry begins)
            until = now + after + step.avoid_for_s
            if step.avoid_farmer:
                self.avoid_farmers[step.avoid_farmer] = until
                what = f"; avoiding farmer {self.links.display(step.avoid_farmer)} for {until - now:.0f} s"
            if step.avoid_drive and step.avoid_drive[1]:
                self.avoid_drives[step.avoid_drive] = until
                what = f"; avoiding drive {step.avoid_drive[1]} for {until - now:.0f} s"
            text = f"released; retry in {after:.0f} s{what}"
        elif isinstance(step, GiveUp):
            after = self.settings.outcome_rules.cap_s
            text = f"released; given up: {step.reason}"
        elif isinstance(step, (Park, RetryComplete)):
            after = step.after_s
            text = f"released; retry in {after:.0f} s"
        else:
            text = "released"
        if t.source:
            self.not_before[t.source] = now + after
        mark_log(t.log_file, t.pid, "failed")
        self._forget(t)
        self._remember(t, "failed", error, text, now)

    def abandon_lost(self, t: Transfer, now: float) -> None:
        out = Outcome(Kind.COMPLETE_LOST, t.farmer, t.drive, None, "the reservation is gone (lease not renewed)")
        self.fail(t, out, now, released=True)

    def release_and_forget(self, t: Transfer, now: float, why: str) -> None:
        self.release_quietly(t.farmer, t.reservation_id)
        mark_log(t.log_file, t.pid, "failed")
        self._forget(t)
        self._remember(t, "failed", why, "released", now)

    def complete(self, t: Transfer, now: float) -> None:
        """The push ended OK: ask the farmer to Complete, then delete the source."""
        if not t.farmer:
            farmer, res, _ = self.links.find_reservation(t.reservation_id, now)
            if res is not None:
                t.farmer, t.drive, t.size_bytes = farmer, res.drive_path, res.size_bytes
        if not t.farmer:
            self._confirm_unknown(t, now)
            return
        try:
            done = self.links.client(t.farmer).complete(t.reservation_id)
        except errors.NotFound as e:
            # the reservation ended (an earlier Complete whose answer was lost, a lease that ran out): the plot may
            # still be whole there
            _, held, _, refused = self.links.confirm_anywhere(t.plot_name, t.size_bytes, now, only=[t.farmer])
            if held is not None:
                self._delete(t, held.size_bytes, now, "confirmed whole (ConfirmPlot) after the reservation ended")
                return
            self.fail(t, Outcome(Kind.COMPLETE_LOST, t.farmer, t.drive, None, refused or describe(e)), now)
            return
        except errors.FailedPrecondition as e:
            self.fail(t, Outcome(Kind.COMPLETE_REFUSED, t.farmer, t.drive, None, describe(e)), now)
            return
        except errors.PlotbossError as e:
            self.links.failed(t.farmer, now, describe(e), e)
            self.fail(t, Outcome(Kind.COMPLETE_UNREACHABLE, t.farmer, t.drive, None, describe(e)), now)
            return
        self._delete(t, done.size_bytes, now, f"completed on {self.links.display(t.farmer)}")

    def _confirm_unknown(self, t: Transfer, now: float) -> None:
        """A recovered push that ended OK whose reservation no farmer lists: the plot is archived if a farmer holds it
        whole; else, once every farmer answered, it failed; until then, ask again later."""
        size = t.size_bytes
        if not t.source or size <= 0:  # the source is gone: nothing is left to confirm or delete
            mark_log(t.log_file, t.pid, "done")
            self._forget(t)
            self._remember(t, "done", "", "the source was gone already; nothing to delete", now)
            return
        farmer, held, all_answered, refused = self.links.confirm_anywhere(t.plot_name, size, now)
        if held is not None:
            t.farmer = farmer
            self._delete(t, held.size_bytes, now, "confirmed whole (ConfirmPlot); no reservation was left")
            return
        if not all_answered:
            t.phase, t.wait_until = "complete", now + self.settings.outcome_rules.base_s
            t.note = "waiting for every farmer to answer whether it holds the plot"
            return
        out = Outcome(Kind.COMPLETE_LOST, "", "", None, refused or "no farmer holds it and none has its reservation")
        self.fail(t, out, now, released=True)

    def _delete(self, t: Transfer, confirmed_size: int, now: float, how: str) -> None:
        """The farmer confirmed the plot: delete the source (invariant 2), mark the log, record."""
        out = Outcome(Kind.COMPLETED, t.farmer, t.drive)
        step = next_step(out, self.history.get(t.plot_name, []), now)
        assert isinstance(step, Delete)
        why = delete_source(t.source, confirmed_size, t.ident) if t.source else ""
        mark_log(t.log_file, t.pid, "done")
        self._forget(t)
        self.history.pop(t.plot_name, None)
        if why:
            log.error("%s is archived (%s) but its source was kept: %s", t.plot_name, how, why)
            if t.source:
                self.not_before[t.source] = now + self.settings.outcome_rules.cap_s
            self._remember(t, "done", why, f"{how}; source kept", now)
            return
        log.info("archived %s (%s); source %s deleted", t.plot_name, how, t.source or "(already gone)")
        self.archived_plots += 1
        self.archived_bytes += confirmed_size
        self._remember(t, "done", "", f"{how}; source deleted", now)

    def delete_held(
        self, path: str, plot: str, dst_dir: str, farmer: str, size: int, sid: SourceId, now: float
    ) -> None:
        """A farmer holds the plot whole already (ConfirmPlot OK): never sent again; the source is deleted."""
        t = Transfer(plot, path, dst_dir, farmer, "", "", size, now, "", ident=sid)
        self._delete(t, size, now, f"already whole on {self.links.display(farmer)} (ConfirmPlot), not sent again")

    def park(self, path: str, plot: str, farmer: str, why: str, now: float) -> None:
        out = Outcome(Kind.ALREADY_HELD, farmer, "", None, why)
        step = next_step(out, self.history.get(plot, []), now, self.settings.outcome_rules)
        self._attempt(plot, out, now)
        after = step.after_s if isinstance(step, Park) else self.settings.outcome_rules.cap_s
        self.not_before[path] = now + after
        log.warning("%s parked for %.0f s: %s", plot, after, why)
        t = Transfer(plot, path, path.rsplit("/", 1)[0], farmer, "", "", 0, now, "")
        self._remember(t, "failed", why, f"parked: not sent; looked at again in {after:.0f} s", now)
