"""The installs the benchmarks compare against or run: plotman 0.5.3 in a venv of its own, and plotboss as users
install it (`pip install .`, not editable, no dev extras)."""

from __future__ import annotations

import subprocess
import sys
import time
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
