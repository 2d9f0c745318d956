"""Where plotters push: each drive maps to a directory of the rsync daemon's module.

``rsyncd.path`` is the module's path on this machine; a drive ``<path>/<sub>`` is reached as
``rsync://<host>:<port>/<module>/<sub>/``. A drive outside the module's path cannot be reached: ConfigError.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from farmer_agent.config import RsyncdSection
from plotboss.errors import ConfigError


def _under(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` ('' when equal), or None when it is outside."""
    path = os.path.normpath(os.path.abspath(path))
    root = os.path.normpath(os.path.abspath(root))
    if path == root:
        return ""
    prefix = root if root.endswith(os.sep) else root + os.sep
    if not path.startswith(prefix):
        return None
    return path[len(prefix) :]


def _static_prefix(pattern: str) -> str:
    """The part of a glob before its first wildcard component: '/mnt/farm/*' -> '/mnt/farm'."""
    parts = os.path.abspath(os.path.expanduser(pattern)).split(os.sep)
    keep: list[str] = []
    for part in parts:
        if any(c in part for c in "*?["):
            break
        keep.append(part)
    return os.sep.join(keep) or os.sep


def check_drive_patterns(patterns: Sequence[str], cfg: RsyncdSection, label: str = "drives.paths") -> None:
    """ConfigError naming the field when a configured drive (or a glob's fixed part) lies outside rsyncd.path."""
    for i, pat in enumerate(patterns):
        if _under(_static_prefix(pat), str(cfg.path)) is None:
            raise ConfigError(
                f"{label}[{i}]: {pat} is outside rsyncd.path ({cfg.path}): plotters could not push to it through "
                f"module {cfg.module!r}; put the drives under rsyncd.path or point rsyncd.path at their parent"
            )


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def rsync_url(drive: str, cfg: RsyncdSection) -> str:
    """rsync://host:port/module/<drive relative to rsyncd.path>/ ; ConfigError when the drive is outside it."""
    rel = _under(drive, str(cfg.path))
    if rel is None:
        raise ConfigError(f"rsyncd.path: drive {drive} is outside the module path {cfg.path}")
    sub = f"{rel.replace(os.sep, '/')}/" if rel else ""
    return f"rsync://{_host(cfg.host)}:{cfg.port}/{cfg.module}/{sub}"
