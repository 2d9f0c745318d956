"""The chia stand-in (``testbed/chia``, a `chia plots create` look-alike that makes real plots with chiapos): where it
is, its command line, and starting a plot job with it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

CHIA = Path(__file__).resolve().parent / "chia"


def chia_cmd(
    k: int,
    tmp: Path,
    dst: Path,
    tmp2: Path | None = None,
    *,
    buckets: int = 16,
    buffer_mib: int = 200,
    threads: int = 2,
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line of a chia stand-in job, as real chia's would look: [python, .../chia, plots, create, ...]."""
    cmd = [
        sys.executable,
        str(CHIA),
        "plots",
        "create",
        "-k",
        str(k),
        "--override-k",
        "-u",
        str(buckets),
        "-b",
        str(buffer_mib),
        "-r",
        str(threads),
        "-t",
        str(tmp),
        "-d",
        str(dst),
        "-x",
    ]
    if tmp2 is not None:
        cmd += ["-2", str(tmp2)]
    return cmd + list(extra)


def start_chia_job(
    k: int, tmp: Path, dst: Path, log: Path, tmp2: Path | None = None, **kw: object
) -> subprocess.Popen[bytes]:
    """Start a stand-in plot job with stdout/stderr to ``log`` (as plotman and plotboss start jobs)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        return subprocess.Popen(
            chia_cmd(k, tmp, dst, tmp2, **kw),  # type: ignore[arg-type]
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
