"""Fake drives for the farmer: plain dirs made *small* without mount privileges, through the probe's disk-space seam
(``farmer_agent.drives.SpaceFn``). Everything else the probe does (listing, temp files) stays the production code.

``SmallDrives`` reports a fixed capacity per dir whose used part is the bytes of the files really in it. statvfs is
atomic; a scandir+stat walk is not: a file renamed between the directory read and its stat is seen under neither name,
and its bytes would vanish from "used" for that probe (a false overfill, seen once in CI: 11 KB over the floor). The
seam and the writers' renames therefore share ``rename_lock`` (rename through ``SmallDrives.rename``), which gives the
seam the one property of the real call it stands in for. (The production probe has the same walk for its listing;
there a missed file only makes the ledger count a transfer's bytes twice, never too few.)
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from farmer_agent.drives import DiskSpace


def dir_bytes(path: str) -> int:
    """The bytes of the regular files directly in ``path`` (files vanishing meanwhile count 0)."""
    total = 0
    with os.scandir(path) as it:
        for e in it:
            if e.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    total += e.stat(follow_symlinks=False).st_size
    return total


def list_files(path: Path) -> list[tuple[str, int]]:
    """(name, size) of the regular files directly in ``path``."""
    out = []
    with os.scandir(path) as it:
        for e in it:
            with contextlib.suppress(FileNotFoundError):
                if e.is_file(follow_symlinks=False):
                    out.append((e.name, e.stat(follow_symlinks=False).st_size))
    return out


class SmallDrives:
    """A disk-space seam: every dir is a drive of ``capacity_bytes``, used = the bytes of the files in it."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self.rename_lock = threading.Lock()

    def __call__(self, path: str) -> DiskSpace:
        with self.rename_lock:
            used = dir_bytes(path)
        return DiskSpace(total_bytes=self.capacity_bytes, free_bytes=self.capacity_bytes - used, read_only=False)

    def rename(self, src: Path, dst: Path) -> None:
        """``os.rename``, never in the middle of a probe's walk."""
        with self.rename_lock:
            os.rename(src, dst)
