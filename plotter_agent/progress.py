"""Progress (0..1) and ETA of a plot job from what its log says.

Without history, progress comes from fixed phase weights (the share of a plot's time each phase takes, measured on the
sample logs of each plotter) and the minor step within the phase. :class:`EtaModel` learns the mean phase durations
of the completed logs of the same (plotter, mode, k) on this host and uses those instead; it also scales the remaining
time by the job's own pace (how its finished phases compared with the learned means).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from plotter_agent.logparse import LogInfo, Plotter

log = logging.getLogger(__name__)

#: Share of the total time each phase takes, measured on the sample logs (chia k32 with tmp2, madMAx k33,
#: bladebit RAM k32, bladebit diskplot k32).
PHASE_WEIGHTS: Mapping[str, Mapping[int, float]] = {
    "chia": {1: 0.443, 2: 0.180, 3: 0.354, 4: 0.023},
    "madmax": {1: 0.442, 2: 0.275, 3: 0.266, 4: 0.017},
    "bladebit": {1: 0.558, 2: 0.079, 3: 0.361, 4: 0.002},
    "bladebit-disk": {1: 0.443, 2: 0.084, 3: 0.473},
}
#: How many steps each phase has (see the phase mapping of each plotter module); phase 4 counts minors 0..1 as 2 steps.
PHASE_STEPS: Mapping[int, int] = {1: 7, 2: 6, 3: 6, 4: 2}
#: Progress shown for a plot that finished plotting but whose final copy/rename is not done yet.
COPYING_PROGRESS = 0.99
_PACE_LIMITS = (0.2, 5.0)


def _weights_key(info: LogInfo) -> str:
    if info.plotter is Plotter.BLADEBIT and info.tmp_dir is not None:
        return "bladebit-disk"
    return str(info.plotter or Plotter.CHIA)


def step_fraction(info: LogInfo) -> float:
    """How far into its current phase the job is by the minor step alone, 0..1 (exclusive of 1)."""
    major, minor = info.phase
    steps = PHASE_STEPS.get(major)
    if not steps:
        return 0.0
    done = minor if major == 4 else minor - 1
    return min(max(done, 0) / steps, (steps - 1) / steps if steps > 1 else 0.0)


def phase_progress(info: LogInfo) -> float:
    """0..1 from fixed phase weights (no history)."""
    if info.completed:
        return 1.0
    major, _minor = info.phase
    if major >= 5:
        return COPYING_PROGRESS
    if major <= 0:
        return 0.0
    weights = PHASE_WEIGHTS[_weights_key(info)]
    done = sum(w for m, w in weights.items() if m < major)
    value = done + weights.get(major, 0.0) * step_fraction(info)
    return min(max(value, 0.0), COPYING_PROGRESS)


#: What the model learns apart: (plotter, mode, k). bladebit RAM, diskplot and cudaplot plots of one k take very
#: different times (phase 3 of a k32: about 200 s in RAM, 560 s on disk), so their means are never mixed.
ProfileKey = tuple[Plotter, str | None, int]


@dataclass(frozen=True)
class Profile:
    """Learned mean phase durations (seconds) of one (plotter, mode, k)."""

    plotter: Plotter
    k: int
    count: int
    means: Mapping[int, float]
    mode: str | None = None

    @property
    def total_s(self) -> float:
        return sum(self.means.values())


class EtaModel:
    """Learned from completed logs of the same (plotter, mode, k); falls back to :func:`phase_progress` without them."""

    def __init__(self, profiles: Mapping[ProfileKey, Profile] | None = None) -> None:
        self.profiles: dict[ProfileKey, Profile] = dict(profiles or {})

    @classmethod
    def learn(cls, completed: Iterable[LogInfo]) -> EtaModel:
        sums: dict[ProfileKey, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        counts: dict[ProfileKey, int] = defaultdict(int)
        for info in completed:
            if not info.completed or info.plotter is None or info.k is None or not info.phase_times:
                continue
            key = (info.plotter, info.mode, info.k)
            counts[key] += 1
            for major, seconds in info.phase_times.items():
                if 1 <= major <= 4 and math.isfinite(seconds) and seconds >= 0:
                    sums[key][major].append(seconds)
        profiles = {
            key: Profile(key[0], key[2], counts[key], {m: sum(v) / len(v) for m, v in sorted(per.items())}, key[1])
            for key, per in sums.items()
        }
        return cls({key: p for key, p in profiles.items() if p.total_s > 0})

    def profile(self, info: LogInfo) -> Profile | None:
        if info.plotter is None or info.k is None:
            return None
        return self.profiles.get((info.plotter, info.mode, info.k))

    def _state(self, info: LogInfo, profile: Profile, now: float) -> tuple[float, float, float]:
        """(seconds of learned time done, fraction of the current phase done, the job's pace)."""
        major = info.phase[0]
        means = profile.means
        finished = [m for m in means if m < major and m in info.phase_times]
        expected = sum(means[m] for m in finished)
        pace = 1.0
        if expected > 0:
            pace = min(max(sum(info.phase_times[m] for m in finished) / expected, _PACE_LIMITS[0]), _PACE_LIMITS[1])
        fraction = step_fraction(info)
        current = means.get(major, 0.0)
        if info.start_time is not None and current > 0:
            phase_start = info.start_time + sum(info.phase_times.get(m, means[m] * pace) for m in means if m < major)
            by_time = (now - phase_start) / (current * pace)
            fraction = max(fraction, min(by_time, COPYING_PROGRESS))
        done = sum(w for m, w in means.items() if m < major)
        return done, max(fraction, 0.0), pace

    def progress(self, info: LogInfo, now: float) -> float:
        """0..1; uses learned phase durations when available, else :func:`phase_progress`."""
        profile = self.profile(info)
        if profile is None or info.completed or info.phase[0] >= 5 or info.phase[0] <= 0:
            return phase_progress(info)
        done, fraction, _pace = self._state(info, profile, now)
        value = (done + profile.means.get(info.phase[0], 0.0) * fraction) / profile.total_s
        return min(max(value, 0.0), COPYING_PROGRESS)

    def eta_s(self, info: LogInfo, now: float) -> float | None:
        """Seconds to completion; None when it cannot say (no start time, or too little progress to extrapolate)."""
        if info.completed or info.phase[0] >= 5:
            return 0.0
        profile = self.profile(info)
        if profile is None:
            if info.start_time is None:
                return None
            p = phase_progress(info)
            elapsed = now - info.start_time
            if p < 0.01 or elapsed <= 0:
                return None
            return elapsed * (1.0 - p) / p
        major = info.phase[0]
        if major <= 0:
            return profile.total_s
        _done, fraction, pace = self._state(info, profile, now)
        means = profile.means
        remaining = means.get(major, 0.0) * (1.0 - fraction) + sum(s for m, s in means.items() if m > major)
        return max(remaining * pace, 0.0)
