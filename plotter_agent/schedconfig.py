"""From plotter.yaml to what the scheduler decides with: resolved dirs, per-tmp-dir rules, the job to start.

Also the start-time check that the configured plotter executable exists and is runnable (exit 2 naming the field).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from plotboss.errors import ConfigError
from plotter_agent.config import PlotterConfig, PlottingSection, SchedulingSection
from plotter_agent.logparse import Plotter
from plotter_agent.plotters import bladebit, chia, madmax
from plotter_agent.plotters.options import PlotSpec

BuildArgv = Callable[[PlotSpec, str, "str | None", str], list[str]]
_BUILDERS: dict[Plotter, BuildArgv] = {
    Plotter.CHIA: chia.build_argv,
    Plotter.MADMAX: madmax.build_argv,
    Plotter.BLADEBIT: bladebit.build_argv,
}


@dataclass(frozen=True)
class TmpRules:
    """plotman's per-tmp-dir rules after ``tmp_overrides``."""

    max_jobs: int
    phase: tuple[int, int]
    phase_limit: int


@dataclass(frozen=True)
class NewJob:
    """The job the scheduler starts: what to run, and what it costs in space."""

    plotter: Plotter
    spec: PlotSpec
    #: the key of plotboss.plots.peak_tmp_bytes: '' / 'nobitfield' (chia), 'diskplot'... (bladebit)
    mode: str
    compression: int

    def argv(self, tmp: str, tmp2: str | None, dst: str) -> list[str]:
        return _BUILDERS[self.plotter](self.spec, tmp, tmp2, dst)


@dataclass(frozen=True)
class SchedulerConfig:
    tmp: tuple[str, ...]
    tmp2: str | None
    dst: tuple[str, ...]
    global_max_jobs: int
    global_stagger_s: float
    rules: dict[str, TmpRules]
    dst_min_free_bytes: int
    job: NewJob
    #: the filesystem of each configured dir (st_dev), where it could be read: dirs on one filesystem share its free
    #: space, so the room checks count the jobs of all of them. A dir not listed is a filesystem of its own.
    filesystems: dict[str, int] = field(default_factory=dict)

    def same_fs(self, a: str | None, b: str) -> bool:
        if a is None:
            return False
        fa, fb = self.filesystems.get(a), self.filesystems.get(b)
        return a == b or (fa is not None and fa == fb)


def _norm(path: str | Path) -> str:
    return os.path.normpath(os.path.abspath(os.path.expanduser(str(path))))


def tmp_rules(s: SchedulingSection, tmp_dirs: tuple[str, ...]) -> dict[str, TmpRules]:
    """Rules per tmp dir; an override is matched by its path normalised (``/mnt/tmp/01/`` is ``/mnt/tmp/01``)."""
    overrides = {_norm(k): v for k, v in s.tmp_overrides.items()}
    out = {}
    for d in tmp_dirs:
        o = overrides.get(d)

        def pick(name: str, default: int, o: object = o) -> int:
            v = getattr(o, name, None) if o is not None else None
            return default if v is None else int(v)

        out[d] = TmpRules(
            max_jobs=pick("tmpdir_max_jobs", s.tmpdir_max_jobs),
            phase=(
                pick("tmpdir_stagger_phase_major", s.tmpdir_stagger_phase_major),
                pick("tmpdir_stagger_phase_minor", s.tmpdir_stagger_phase_minor),
            ),
            phase_limit=pick("tmpdir_stagger_phase_limit", s.tmpdir_stagger_phase_limit),
        )
    return out


def new_job(p: PlottingSection) -> NewJob:
    job = _new_job(p)
    spec = replace(job.spec, farmer_pk=p.farmer_pk, pool_pk=p.pool_pk, pool_contract_address=p.pool_contract_address)
    return replace(job, spec=spec)


def _new_job(p: PlottingSection) -> NewJob:
    if p.type == "chia":
        c = p.chia
        spec = PlotSpec(
            executable=(c.executable,),
            command=tuple(c.command.split()),
            k=c.k,
            threads=c.n_threads,
            buckets=c.n_buckets,
            buffer_mib=c.job_buffer,
            nobitfield=c.e,
            exclude_final_dir=c.x,
            extra_args=tuple(c.extra_args),
        )
        return NewJob(Plotter.CHIA, spec, "nobitfield" if c.e else "", 0)
    if p.type == "madmax":
        m = p.madmax
        extra = ("-v", str(m.n_buckets3), "-K", str(m.n_rmulti2), *m.extra_args)
        spec = PlotSpec(
            executable=(m.executable,),
            command=tuple(m.command.split()),
            k=m.k,
            threads=m.n_threads,
            buckets=m.n_buckets,
            extra_args=extra,
        )
        return NewJob(Plotter.MADMAX, spec, "", 0)
    b = p.bladebit
    spec = PlotSpec(
        executable=(b.executable,),
        command=(*b.command.split(), b.mode),
        k=b.k,
        threads=b.threads,
        buckets=b.buckets if b.mode == "diskplot" else None,
        compression=b.compression,
        alternate=b.alternate and b.mode == "diskplot",
        extra_args=tuple(b.extra_args),
    )
    mode = "diskplot-alternate" if spec.alternate else b.mode
    return NewJob(Plotter.BLADEBIT, spec, mode, b.compression)


def device_of(path: str) -> int | None:
    """The filesystem a dir is on (st_dev), None when it cannot be read."""
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


def scheduler_config(cfg: PlotterConfig, device: Callable[[str], int | None] = device_of) -> SchedulerConfig | None:
    """The scheduler's view of ``cfg``; None when there is no ``plotting`` section (the agent only watches)."""
    if cfg.plotting is None:
        return None
    d, s = cfg.directories, cfg.scheduling
    tmp = tuple(_norm(p) for p in d.tmp)
    dst = tuple(_norm(p) for p in d.dst)
    tmp2 = _norm(d.tmp2) if d.tmp2 is not None else None
    filesystems = {p: dev for p in (*tmp, *dst, *((tmp2,) if tmp2 else ())) if (dev := device(p)) is not None}
    return SchedulerConfig(
        tmp=tmp,
        tmp2=tmp2,
        dst=dst,
        global_max_jobs=s.global_max_jobs,
        global_stagger_s=s.global_stagger_m * 60.0,
        rules=tmp_rules(s, tmp),
        dst_min_free_bytes=s.dst_min_free_bytes,
        job=new_job(cfg.plotting),
        filesystems=filesystems,
    )


def check_executable(p: PlottingSection, label: str) -> str:
    """The configured plotter executable's full path; ConfigError naming the field when it is not found or not a
    runnable regular file."""
    field = f"{label}: plotting.{p.type}.executable"
    exe = os.path.expanduser(p.executable)
    path = exe if "/" in exe else shutil.which(exe)
    if path is None:
        raise ConfigError(f"{field}: {exe!r} not found on PATH")
    if not os.path.isfile(path):
        raise ConfigError(f"{field}: {path} is not a file")
    if not os.access(path, os.X_OK):
        raise ConfigError(f"{field}: {path} is not executable")
    return os.path.abspath(path)
