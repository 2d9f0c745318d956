"""`make demo`: a whole small fleet on loopback, with real plot jobs, driven through plotboss-cli.

What it does, in ./demo-run (made anew each time):
1. writes plotter.yaml, farmer.yaml and fleet.yaml; starts a real rsync daemon whose module covers the farm drives;
2. starts one chia stand-in plot job (testbed/chia, a test tool that makes real plots with chiapos) by hand
   *before* the plotter agent, then the farmer and plotter agents; the plotter's scheduler starts two more jobs
   itself, staggered (global stagger, a stagger phase per tmp dir), counting the hand-started one; then the demo
   drains the scheduler (`plotboss-cli scheduler drain`: running jobs finish, none start);
3. shows `plotboss-cli status` while the jobs run (with the scheduler's line under the jobs), `scheduler status`,
   then `dirs`, `drives`, `analyze`;
4. the plotter agent's archiver moves every finished plot to the farmer by itself (Reserve -> rsync push -> Complete
   -> delete the source), while jobs still run; the demo waits until the dst dir is empty and every plot is on the
   farm, shows `drives` and the farm's drives; then stops everything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from testbed.agents import start_agent
from testbed.children import stop_process
from testbed.rsyncd import start_rsyncd
from testbed.standin import CHIA, start_chia_job

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "demo-run"
CLI = str(Path(sys.executable).parent / "plotboss-cli")


def banner(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}", flush=True)


def cli(fleet: Path, *args: str) -> int:
    cmd = [CLI, "--fleet", str(fleet), *args]
    print("$ plotboss-cli --fleet demo-run/fleet.yaml " + " ".join(args), flush=True)
    return subprocess.run(cmd, check=False).returncode


def main() -> int:
    if RUN.exists():
        shutil.rmtree(RUN)
    dirs = {n: RUN / n for n in ("tmp/00", "tmp/01", "tmp2", "dst/00", "logs/plots", "logs/transfers", "farm")}
    for d in dirs.values():
        d.mkdir(parents=True)
    for drive in ("d00", "d01"):
        (dirs["farm"] / drive).mkdir()
    children: list[subprocess.Popen[bytes]] = []
    rsyncd = start_rsyncd(RUN / "rsyncd", dirs["farm"], module="plots")
    try:
        (RUN / "farmer.yaml").write_text(
            "version: 1\n"
            "agent: {name: farmer-01, listen: '127.0.0.1:0', poll_s: 1}\n"
            f"drives: {{paths: ['{dirs['farm']}/*'], allow_non_mount: true, max_writers_per_drive: 1}}\n"
            f"rsyncd: {{host: 127.0.0.1, port: {rsyncd.port}, module: plots, path: '{dirs['farm']}'}}\n"
            f"reservations: {{lease_s: 60, state_file: '{RUN / 'farmer-state.json'}'}}\n"
        )
        chia = RUN / "bin" / "chia"  # the stand-in behind an executable, as the scheduler runs a plotter
        chia.parent.mkdir()
        chia.write_text(f'#!/bin/sh\nexec {sys.executable} {CHIA} "$@"\n')
        chia.chmod(0o755)
        banner("a plot job started by hand before the plotter agent")
        children.append(start_chia_job(21, dirs["tmp/00"], dirs["dst/00"], dirs["logs/plots"] / "job-1.log"))
        farmer, farmer_port = start_agent("plotboss-farmer", RUN / "farmer.yaml")
        children.append(farmer)
        (RUN / "plotter.yaml").write_text(
            "version: 1\n"
            "agent: {name: plotter-01, listen: '127.0.0.1:0', poll_s: 1}\n"
            f"logging: {{plots: '{dirs['logs/plots']}', transfers: '{dirs['logs/transfers']}'}}\n"
            f"directories: {{tmp: ['{dirs['tmp/00']}', '{dirs['tmp/01']}'], tmp2: '{dirs['tmp2']}', "
            f"dst: ['{dirs['dst/00']}']}}\n"
            "scheduling: {global_max_jobs: 3, global_stagger_m: 0.15, tmpdir_max_jobs: 2,"
            " tmpdir_stagger_phase_major: 1, tmpdir_stagger_phase_minor: 5, tmpdir_stagger_phase_limit: 1,"
            " polling_time_s: 1}\n"
            f"plotting: {{type: chia, nice: 5, chia: {{executable: '{chia}', k: 20, test_plots: true, n_threads: 2,"
            " n_buckets: 16, job_buffer: 200, extra_args: [--stripe, '4000']}}\n"
            # the archiver: every finished plot goes to farmer-01 by itself (its local credential is read on this
            # machine, as plotboss-cli does)
            f"archiving: {{farmers: [{{name: farmer-01, address: '127.0.0.1:{farmer_port}'}}], polling_time_s: 1,"
            " settle_s: 1}\n"
        )
        plotter, plotter_port = start_agent("plotboss-plotter", RUN / "plotter.yaml")
        children.append(plotter)
        fleet = RUN / "fleet.yaml"
        fleet.write_text(
            "version: 1\n"
            f"plotters: [{{name: plotter-01, address: '127.0.0.1:{plotter_port}'}}]\n"
            f"farmers: [{{name: farmer-01, address: '127.0.0.1:{farmer_port}'}}]\n"
        )
        print(f"plotter agent on 127.0.0.1:{plotter_port}, farmer agent on 127.0.0.1:{farmer_port}")
        banner("the scheduler starts jobs itself (stagger 9 s, tmp dirs free once their job reaches 1:5)")
        drained = False
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            time.sleep(2.5)
            banner("status")
            cli(fleet, "status")
            started = list(dirs["logs/plots"].glob("*.plot.log"))
            if not drained and len(started) >= 2:
                banner("two jobs started by the scheduler: drain it (running jobs finish, none start)")
                cli(fleet, "scheduler", "drain")
                drained = True
            if drained and children[0].poll() is not None and not _jobs_running(dirs["logs/plots"]):
                break
        banner("scheduler status")
        cli(fleet, "scheduler", "status")
        banner("dirs")
        cli(fleet, "dirs")
        banner("drives (the archiver has been at work while the jobs ran)")
        cli(fleet, "drives")
        banner("analyze (phase times learned from the completed logs)")
        cli(fleet, "analyze")
        banner("the archiver moves every finished plot to the farmer by itself")
        wait_archived(dirs["dst/00"], dirs["farm"], deadline_s=90)
        time.sleep(1.5)  # one farmer poll (poll_s: 1)
        banner("drives after archiving")
        cli(fleet, "drives")
        return 0
    finally:
        for p in reversed(children):
            stop_process(p)
        rsyncd.stop()


def _jobs_running(log_dir: Path) -> bool:
    """Whether a job the scheduler started still runs (its log names its pid)."""
    for log in log_dir.glob("*.plot.log"):
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("Process ID is: ") and os.path.exists(f"/proc/{line.split(':')[1].strip()}"):
                return True
    return False


def wait_archived(dst: Path, farm: Path, deadline_s: float) -> None:
    """Until the dst dir holds no plot (each one deleted by the archiver after the farmer's Complete)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and list(dst.glob("plot-k*.plot")):
        time.sleep(1)
    left = sorted(p.name for p in dst.glob("plot-k*.plot"))
    print(f"dst dir: {len(left)} plot(s) left" + (f": {', '.join(left)}" if left else " (all archived)"))
    for plot in sorted(farm.glob("*/plot-k*.plot")):
        print(f"  on the farm: {plot.relative_to(farm)} ({plot.stat().st_size} bytes)")


if __name__ == "__main__":
    sys.exit(main())
