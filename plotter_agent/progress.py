"""Progress (0..1) and ETA of a plot job from what its log says.

A plot goes through phase steps (``(major, minor)``, as the plotter modules number them); the log's own timings
(plotters/timings.py) say when the job entered its current step and, for a finished log, how long each step took.
:class:`EtaModel` learns the mean duration of each step from the completed logs of the same group (plotter, mode
and k: :func:`group_key`) on this machine. A running job's ETA is then what is left of its current step, interpolated
by the time spent in it (``now`` minus when the log says the step began), plus the learned durations of the steps
after it, all scaled by the job's own pace (its time so far against the learned time to the same step). Without
history the step shares of :data:`DEFAULT_SHARES`, measured on real k32 logs, take the learned durations' place and
the job's time so far gives the scale. ``now`` is always the caller's clock.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from plotter_agent.logparse import LogInfo, Plotter

log = logging.getLogger(__name__)

Step = tuple[int, int]
Key = tuple[Plotter, str | None, int]  # (plotter, mode, k): see group_key

#: Progress shown for a plot that finished plotting but whose final copy/rename is not done yet.
COPYING_PROGRESS = 0.99
#: The job's pace (its time so far / the learned time to the same step) is kept within these bounds.
_PACE_LIMITS = (0.2, 5.0)
#: Weight of the prior pace of 1 (as a share of the learned total) against the job's own: early on, a pace measured
#: over the first few seconds of a job would scale its whole remaining time.
_PACE_PRIOR = 0.2

# Share of a plot's time each phase step takes, from the real k32 sample logs (regenerate with
# `python -m tests.unit.eta_replay --shares`; tests/unit/test_eta_replay.py checks them against the logs):
# chia: plotman-chianetwork (chia 1.x k32, tmp2), madmax: plotman-madmax (k33), bladebit: plotman-bladebit (RAM k32),
# bladebit-disk: plotman-bladebit2disk (k32).
DEFAULT_SHARES: Mapping[str, Mapping[Step, float]] = {
    "chia": {
        (1, 1): 0.00898, (1, 2): 0.14036, (1, 3): 0.05702, (1, 4): 0.06559, (1, 5): 0.06406,
        (1, 6): 0.05837, (1, 7): 0.04819, (2, 1): 0.00271, (2, 2): 0.03476, (2, 3): 0.0337,
        (2, 4): 0.03298, (2, 5): 0.03314, (2, 6): 0.03276, (2, 7): 0.00974, (3, 1): 0.04972,
        (3, 2): 0.06173, (3, 3): 0.06159, (3, 4): 0.06183, (3, 5): 0.06477, (3, 6): 0.05482,
        (4, 3): 0.02316,
    },
    "madmax": {
        (1, 1): 0.00497, (1, 2): 0.06053, (1, 3): 0.06958, (1, 4): 0.08575, (1, 5): 0.08545,
        (1, 6): 0.07841, (1, 7): 0.05759, (2, 1): 0.02722, (2, 2): 0.04996, (2, 3): 0.04826,
        (2, 4): 0.04609, (2, 5): 0.04815, (2, 6): 0.053, (2, 7): 0.00174, (3, 1): 0.04762,
        (3, 2): 0.04656, (3, 3): 0.04005, (3, 4): 0.04166, (3, 5): 0.04329, (3, 6): 0.04659,
        (4, 2): 0.01751,
    },
    "bladebit": {
        (1, 0): 0.01189, (1, 1): 0.03127, (1, 2): 0.09712, (1, 3): 0.09159, (1, 4): 0.09152,
        (1, 5): 0.09164, (1, 6): 0.08842, (1, 7): 0.03519, (2, 1): 0.00101, (2, 2): 0.01978,
        (2, 3): 0.01863, (2, 4): 0.01813, (2, 5): 0.01896, (3, 1): 0.05352, (3, 2): 0.06013,
        (3, 3): 0.0556, (3, 4): 0.0573, (3, 5): 0.05967, (3, 6): 0.06248, (4, 1): 0.00122,
        (4, 4): 0.03493,
    },
    "bladebit-disk": {
        (1, 0): 0.00598, (1, 2): 0.04451, (1, 3): 0.06961, (1, 4): 0.08463, (1, 5): 0.08343,
        (1, 6): 0.07878, (1, 7): 0.05804, (1, 8): 0.01753, (2, 0): 0.00283, (2, 1): 0.02041,
        (2, 2): 0.02021, (2, 3): 0.02042, (2, 4): 0.02033, (2, 5): 0.00015, (3, 1): 0.07314,
        (3, 2): 0.07715, (3, 3): 0.07747, (3, 4): 0.07847, (3, 5): 0.08073, (3, 6): 0.07478,
        (3, 7): 0.01141, (3, 8): 2e-05,
    },
}  # fmt: skip


def group_key(info: LogInfo) -> Key | None:
    """The group whose finished logs a job's ETA learns from: (plotter, mode, k). bladebit RAM, diskplot and cudaplot
    plots of one k take very different times (phase 3 of a k32: about 200 s in RAM, 560 s on disk), so their means are
    never mixed. None when the log does not say enough."""
    if info.plotter is None or info.k is None:
        return None
    return (info.plotter, info.mode, info.k)


def shares_key(info: LogInfo) -> str:
    """Which :data:`DEFAULT_SHARES` a job without history uses (cudaplot, with no real log here, takes RAM's)."""
    if info.plotter is Plotter.BLADEBIT and info.mode == "disk":
        return "bladebit-disk"
    return str(info.plotter or Plotter.CHIA)


def step_durations(info: LogInfo) -> dict[Step, float]:
    """How long each phase step of a finished log took, by the log's own timings. The steps of a phase run from
    when the log entered each to when it entered the next (the first from the phase's start, the last to its end), so
    they add up to the phase time; what the plotter timed after its last phase (bladebit writing the final file) goes
    to the last step. A phase whose steps the log did not stamp counts as one step ``(major, 0)``."""
    out: dict[Step, float] = {}
    begin = 0.0
    for major in range(1, 5):
        seconds = info.phase_times.get(major)
        if seconds is None or not math.isfinite(seconds) or seconds < 0:
            continue
        end = begin + seconds
        steps = sorted((s, t) for s, t in info.step_starts.items() if s[0] == major)
        if not steps:
            steps = [((major, 0), begin)]
        bounds = [begin] + [min(max(t, begin), end) for _s, t in steps[1:]] + [end]
        for i, (step, _t) in enumerate(steps):
            out[step] = max(bounds[i + 1] - bounds[i], 0.0)
        begin = end
    if out and info.total_time is not None and info.total_time > begin:
        last = max(out)
        out[last] += info.total_time - begin
    return out


def _before(steps: Mapping[Step, float], step: Step) -> float:
    return sum(v for s, v in steps.items() if s < step)


def phase_progress(info: LogInfo) -> float:
    """0..1 from :data:`DEFAULT_SHARES` and the step alone (no history, no clock): the share of the steps done."""
    if info.completed:
        return 1.0
    if info.phase[0] >= 5:
        return COPYING_PROGRESS
    if info.phase[0] <= 0:
        return 0.0
    return min(max(_before(DEFAULT_SHARES[shares_key(info)], info.phase), 0.0), COPYING_PROGRESS)


@dataclass(frozen=True)
class Profile:
    """Learned mean durations (seconds) of one group's phases and phase steps."""

    key: Key
    count: int
    means: Mapping[int, float]  # phase -> mean seconds
    steps: Mapping[Step, float]  # phase step -> mean seconds (a log without the step counts 0 for it)

    @property
    def plotter(self) -> Plotter:
        return self.key[0]

    @property
    def mode(self) -> str | None:
        return self.key[1]

    @property
    def k(self) -> int:
        return self.key[2]

    @property
    def total_s(self) -> float:
        return sum(self.steps.values())


@dataclass(frozen=True)
class _Estimate:
    progress: float
    eta_s: float | None


def _estimate(
    info: LogInfo, now: float, started: float | None, steps: Mapping[Step, float], learned: bool
) -> _Estimate:
    """Progress and ETA of a running job (phase 1..4) against step durations: learned seconds, or shares of 1 whose
    scale the job's own time so far gives (``learned`` False)."""
    step = info.phase
    total = sum(steps.values())
    before = _before(steps, step)
    here = steps.get(step, 0.0)
    after = max(total - before - here, 0.0)
    began = info.step_starts.get(step)  # the log's clock when the job entered its step
    if began is None:
        earlier = [info.phase_times.get(m) for m in range(1, step[0])]
        began = sum(s for s in earlier if s is not None) if all(s is not None for s in earlier) else None
    start = info.start_time if info.start_time is not None else started
    in_step = max(now - start - began, 0.0) if start is not None and began is not None else 0.0
    if learned:
        pace = 1.0
        if began is not None:
            prior = _PACE_PRIOR * total
            pace = (began + prior) / (before + prior) if before + prior > 0 else 1.0
        pace = min(max(pace, _PACE_LIMITS[0]), _PACE_LIMITS[1])
    else:
        if began is None or before <= 0 or began <= 0:
            return _Estimate(min(before, COPYING_PROGRESS), None)  # nothing timed yet to scale the shares by
        pace = began / before  # the job's whole time, estimated
    if in_step > here * pace:
        done = before + here  # the step should be over by now: progress waits for the next one
        if before + here > 0:  # ... and the job is at least this slow
            pace = max(pace, ((began or 0.0) + in_step) / (before + here))
            pace = min(pace, _PACE_LIMITS[1]) if learned else pace
    else:
        done = before + (in_step / pace if pace > 0 else 0.0)
    eta = max(here * pace - in_step, 0.0) + after * pace
    progress = done / total if total > 0 else 0.0
    return _Estimate(min(max(progress, 0.0), COPYING_PROGRESS), eta)


class EtaModel:
    """Learned from completed logs of the same group; without them, :data:`DEFAULT_SHARES` scaled by the job's pace."""

    def __init__(self, profiles: Mapping[Key, Profile] | None = None) -> None:
        self.profiles: dict[Key, Profile] = dict(profiles or {})

    @classmethod
    def learn(cls, completed: Iterable[LogInfo]) -> EtaModel:
        phases: dict[Key, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        steps: dict[Key, dict[Step, float]] = defaultdict(lambda: defaultdict(float))
        counts: dict[Key, int] = defaultdict(int)
        for info in completed:
            key = group_key(info)
            durations = step_durations(info) if info.completed else {}
            if key is None or not durations:
                continue
            counts[key] += 1
            for major, seconds in info.phase_times.items():
                if 1 <= major <= 4 and math.isfinite(seconds) and seconds >= 0:
                    phases[key][major].append(seconds)
            for step, seconds in durations.items():
                steps[key][step] += seconds
        profiles = {
            key: Profile(
                key,
                n,
                {m: sum(v) / len(v) for m, v in sorted(phases[key].items())},
                {s: v / n for s, v in sorted(steps[key].items())},
            )
            for key, n in counts.items()
        }
        return cls({key: p for key, p in profiles.items() if p.total_s > 0})

    def profile(self, info: LogInfo) -> Profile | None:
        key = group_key(info)
        return None if key is None else self.profiles.get(key)

    def _estimate(self, info: LogInfo, now: float, started: float | None) -> _Estimate:
        major = info.phase[0]
        profile = self.profile(info)
        if info.completed:
            return _Estimate(1.0, 0.0)
        if major >= 5:
            return _Estimate(COPYING_PROGRESS, 0.0)
        if major <= 0:
            return _Estimate(0.0, profile.total_s if profile is not None else None)
        if profile is None:
            return _estimate(info, now, started, DEFAULT_SHARES[shares_key(info)], learned=False)
        return _estimate(info, now, started, profile.steps, learned=True)

    def progress(self, info: LogInfo, now: float, started: float | None = None) -> float:
        """0..1 at ``now``. ``started``: when the job started, for a log that does not say (the process's start)."""
        return self._estimate(info, now, started).progress

    def eta_s(self, info: LogInfo, now: float, started: float | None = None) -> float | None:
        """Seconds to completion at ``now``; None when it cannot say (no history and nothing timed yet)."""
        return self._estimate(info, now, started).eta_s
