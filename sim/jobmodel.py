"""How long a simulated plot job takes, step by step: the phase-time model the agent learns from real logs
(``plotter_agent.progress.EtaModel`` over ``plotter_agent.analyze.read_logs``), scaled to the job's k and to the
plotter's speed, with seeded jitter per job.

Scaling to another k goes by the plot's size (a k33 plot is about twice a k32 and takes about twice as long), which
is how the plotters' own timings grow. A group without logs falls back to the step shares the agent uses without
history (``progress.DEFAULT_SHARES``) over a total the caller gives.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from plotboss.errors import ConfigError
from plotboss.plots import plot_size
from plotter_agent.analyze import logs_in, read_logs
from plotter_agent.logparse import LogInfo, Plotter
from plotter_agent.progress import DEFAULT_SHARES, EtaModel, Profile

Step = tuple[int, int]

#: the total a plot takes when no log says (a k32 chia plot of the sample logs: 18380 s), scaled by size
DEFAULT_K32_TOTAL_S = {"chia": 18380.0, "madmax": 4968.0 / 2, "bladebit": 583.0, "bladebit-disk": 1190.0}


@dataclass(frozen=True)
class PhaseModel:
    """Mean seconds of each phase step of one plot at ``k``, in step order; where they came from (``source``)."""

    plotter: Plotter
    mode: str | None
    k: int
    steps: tuple[tuple[Step, float], ...]
    source: str
    #: seconds from a job's process start to its log's first line (see with_start_overhead)
    startup_s: float = 0.0

    @property
    def total_s(self) -> float:
        return sum(s for _, s in self.steps)

    def scaled(self, k: int | None = None, speed: float = 1.0) -> PhaseModel:
        """The same steps for a plot of ``k`` on a plotter ``speed`` times as fast."""
        k = self.k if k is None else k
        f = plot_size(k) / plot_size(self.k) / speed
        src = self.source if k == self.k else f"{self.source}, scaled k{self.k}->k{k}"
        return PhaseModel(self.plotter, self.mode, k, tuple((st, s * f) for st, s in self.steps), src, self.startup_s)

    def with_start_overhead(self, seconds: float) -> PhaseModel:
        """The same steps after ``seconds`` of process start-up that no log times (the plotter's interpreter and
        libraries loading before its first log line: under a second, which counts only for tiny test plots). The
        job's log, and so its start as the scheduler's stagger counts it, begins that much after its process."""
        if seconds <= 0:
            return self
        return replace(self, startup_s=seconds, source=f"{self.source}, +{seconds:.1f} s start-up")

    def draw(self, rng: random.Random, jitter: float) -> tuple[tuple[Step, ...], tuple[float, ...]]:
        """One job's steps and the time from its start to the end of each: the means times one factor per job
        (``1 + jitter * N(0, 1)``, at least 0.5) and a smaller one per step."""
        job = max(0.5, 1.0 + jitter * rng.gauss(0.0, 1.0))
        ends: list[float] = []
        t = self.startup_s
        for _st, s in self.steps:
            t += s * job * max(0.5, 1.0 + jitter / 2 * rng.gauss(0.0, 1.0))
            ends.append(t)
        return tuple(st for st, _ in self.steps), tuple(ends)


def from_profile(profile: Profile, source: str) -> PhaseModel:
    steps = tuple(sorted((st, s) for st, s in profile.steps.items() if s > 0 or st[1] > 0))
    return PhaseModel(profile.plotter, profile.mode, profile.k, steps, f"{source} ({profile.count} logs)")


def default_model(plotter: Plotter, mode: str | None, k: int) -> PhaseModel:
    key = "bladebit-disk" if plotter is Plotter.BLADEBIT and mode == "disk" else plotter.value
    total = DEFAULT_K32_TOTAL_S[key]
    shares = DEFAULT_SHARES[key]
    norm = sum(shares.values())
    steps = tuple((st, total * v / norm) for st, v in sorted(shares.items()))
    return PhaseModel(plotter, mode, 32, steps, "default shares (no logs)").scaled(k)


def learn(infos: Iterable[LogInfo]) -> EtaModel:
    return EtaModel.learn(i for i in infos if i.completed)


def pick(model: EtaModel, plotter: Plotter, mode: str | None, k: int, source: str) -> PhaseModel:
    """The learned group of this plotter and mode at ``k``, else the one of the nearest k scaled, else defaults."""
    same = [p for key, p in model.profiles.items() if key[0] is plotter and key[1] == mode]
    if not same:
        return default_model(plotter, mode, k)
    best = min(same, key=lambda p: (abs(p.k - k), -p.count))
    return from_profile(best, source).scaled(k)


def from_log_dir(directory: Path, plotter: Plotter, mode: str | None, k: int) -> PhaseModel:
    """Learn from the logs in ``directory`` (the agent's ``logging.plots`` dir, or a copy of it); ConfigError naming
    the dir when it cannot be listed or holds no finished log of this plotter."""
    try:
        paths = logs_in(directory)
    except OSError as e:
        raise ConfigError(f"--logs {directory}: cannot list: {e.strerror or e}") from None
    infos, _skipped = read_logs(paths)
    model = learn(infos)
    if not any(key[0] is plotter for key in model.profiles):
        raise ConfigError(f"--logs {directory}: no finished {plotter.value} plot log in it ({len(paths)} files)")
    return pick(model, plotter, mode, k, str(directory))


def from_profiles(
    profiles: Mapping[tuple[Plotter, str | None, int], Profile], plotter: Plotter, mode: str | None, k: int, source: str
) -> PhaseModel:
    return pick(EtaModel(dict(profiles)), plotter, mode, k, source)


def step_at(steps: Sequence[Step], ends: Sequence[float], elapsed: float) -> Step:
    """The step a job is in ``elapsed`` seconds after its start (its last once all are over)."""
    lo, hi = 0, len(ends) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if ends[mid] <= elapsed:
            lo = mid + 1
        else:
            hi = mid
    return steps[lo]


def from_phase_means(plotter: Plotter, mode: str | None, k: int, means: Mapping[int, float], source: str) -> PhaseModel:
    """Steps from per-phase means (what AnalyzeLogs answers): each phase's mean shared among its steps as the
    agent's default shares share it."""
    key = "bladebit-disk" if plotter is Plotter.BLADEBIT and mode == "disk" else plotter.value
    shares = DEFAULT_SHARES[key]
    steps: list[tuple[Step, float]] = []
    for major, mean in sorted(means.items()):
        mine = {st: v for st, v in shares.items() if st[0] == major}
        norm = sum(mine.values())
        if not mine or norm <= 0:
            steps.append(((major, 0), mean))
            continue
        steps.extend((st, mean * v / norm) for st, v in sorted(mine.items()))
    if not steps:
        raise ConfigError(f"{source}: no phase times")
    return PhaseModel(plotter, mode, k, tuple(steps), source)
