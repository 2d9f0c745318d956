"""Built snapshots for the scheduler's pure tests: a plotter.yaml's scheduler config, running jobs, dirs, a virtual
epoch. Sizes are k32's (C0 plot 101.4 GiB, chia peak tmp 239 GiB)."""

from __future__ import annotations

from typing import Any

from plotboss.config import parse_config
from plotter_agent.config import PlotterConfig
from plotter_agent.dirs import DirView
from plotter_agent.jobs import Job, ProcState
from plotter_agent.logparse import Plotter
from plotter_agent.schedconfig import SchedulerConfig, scheduler_config
from plotter_agent.view import Snapshot

GiB = 2**30
T0 = 1_800_000_000.0  # the virtual clock's epoch
TMP0, TMP1, DST0, DST1 = "/mnt/tmp/00", "/mnt/tmp/01", "/mnt/dst/00", "/mnt/dst/01"


def config(
    plotting: dict[str, Any] | None = None,
    tmp2: str | None = None,
    devices: dict[str, int] | None = None,
    **sched: Any,
) -> SchedulerConfig:
    """The scheduler config of a plotter.yaml with these rules; ``devices``: the filesystem of each dir (default:
    each dir its own)."""
    rules = {"global_max_jobs": 8, "global_stagger_m": 30, "tmpdir_max_jobs": 3, **sched}
    cfg = parse_config(
        {
            "version": 1,
            "agent": {"name": "plotter-01"},
            "logging": {"plots": "/var/log/plots"},
            "directories": {"tmp": [TMP0, TMP1], "dst": [DST0, DST1], **({"tmp2": tmp2} if tmp2 else {})},
            "scheduling": rules,
            "plotting": plotting or {"chia": {"k": 32}},
        },
        PlotterConfig,
        "plotter.yaml",
    )
    sc = scheduler_config(cfg, device=lambda p: (devices or {}).get(p))
    assert sc is not None
    return sc


def job(
    pid: int,
    tmp: str,
    phase: tuple[int, int] | None,
    started: float,
    *,
    dst: str = DST0,
    k: int = 32,
    tmp_bytes: int = 0,
    state: ProcState = ProcState.RUNNING,
    cmdline: tuple[str, ...] | None = None,
    plotter: Plotter = Plotter.CHIA,
) -> Job:
    """A running job as the view shows it; ``started`` is minutes before T0."""
    cmd = cmdline or ("chia", "plots", "create", "-k", str(k), "-t", tmp, "-d", dst)
    return Job(
        pid=pid,
        pids=(pid,),
        create_time=T0 - started * 60,
        cmdline=cmd,
        plotter=plotter,
        k=k,
        tmp_dir=tmp,
        tmp2_dir=None,
        dst_dir=dst,
        threads=2,
        buckets=128,
        buffer_mib=3389,
        state=state,
        wall_s=started * 60,
        user_s=0.0,
        sys_s=0.0,
        iowait_s=0.0,
        rss_bytes=0,
        phase=phase,
        tmp_bytes=tmp_bytes,
    )


def d(path: str, free: int, role: str = "tmp", error: str = "") -> DirView:
    return DirView(path, role, 10 * free, free, (), (), (), error)


ROOMY = (d(TMP0, 2000 * GiB), d(TMP1, 2000 * GiB), d(DST0, 5000 * GiB, "dst"), d(DST1, 4000 * GiB, "dst"))


def snap(*jobs: Job, dirs: tuple[DirView, ...] = ROOMY) -> Snapshot:
    return Snapshot(time=T0, version=1, jobs=jobs, dirs=dirs)
