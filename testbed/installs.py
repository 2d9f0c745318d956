"""The installs the benchmarks compare against or run: plotman 0.5.3 in a venv of its own, and plotboss as users
install it (`pip install .`, not editable, no dev extras)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INSTALL_PLOTMAN = Path("/work/shared/bench/install-plotman")


def ensure_plotman(venv: Path) -> Path:
    """plotman 0.5.3 in ``venv`` (installed on first use by `install-plotman`); its `plotman` executable."""
    exe = venv / "bin" / "plotman"
    if not exe.exists():
        print(f"installing plotman 0.5.3 into {venv} ...", flush=True)
        subprocess.run(["bash", str(INSTALL_PLOTMAN), str(venv)], check=True)
    return exe


def install_plotboss(venv: Path) -> Path:
    """plotboss as users get it: `pip install .` (not editable, no dev extras) of the current tree in a venv of its own.

    The dev venv (.venv) is an editable install with the dev extras: its interpreter imports setuptools' editable
    finder at every start, and `import grpc` also imports grpc_tools when it is installed; neither happens for users.
    """
    pip = venv / "bin" / "pip"
    t0 = time.monotonic()
    if not pip.exists():
        print(f"installing plotboss (pip install .) into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(pip), "install", "-q", str(REPO)], check=True, stderr=subprocess.DEVNULL)
    else:
        subprocess.run(
            [str(pip), "install", "-q", "--no-deps", "--force-reinstall", str(REPO)],
            check=True,
            stderr=subprocess.DEVNULL,
        )
    print(f"plotboss (current tree) installed into {venv} in {time.monotonic() - t0:.0f} s")
    return venv / "bin" / "plotboss-cli"


def plotman_yaml(tmp_dirs: Sequence[Path], dst: Path, log_dir: Path, state: Path) -> str:
    """A plotman.yaml (for $XDG_CONFIG_HOME/plotman/) naming these dirs; plotman starts no jobs (global_max_jobs: 0),
    and use_stty_size is off, so it spawns no `stty` (its best case)."""
    tmp = "\n".join(f"    - {d}" for d in tmp_dirs)
    return f"""\
version: [2]
logging:
  plots: {log_dir}
  transfers: {state / "transfers"}
  application: {state / "plotman.log"}
  disk_spaces: {state / "plotman-disk_spaces.log"}
user_interface:
  use_stty_size: False
directories:
  tmp:
{tmp}
  dst:
    - {dst}
scheduling:
  tmpdir_stagger_phase_major: 2
  tmpdir_stagger_phase_minor: 1
  tmpdir_stagger_phase_limit: 1
  tmpdir_max_jobs: 3
  global_max_jobs: 0
  global_stagger_m: 30
  polling_time_s: 20
plotting:
  type: chia
  chia:
    k: 22
    e: False
    n_threads: 2
    n_buckets: 16
    job_buffer: 200
"""
