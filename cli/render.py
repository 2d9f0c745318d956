"""Rendering helpers shared by the CLI commands: sizes, durations, bars, JSON output, rich console."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def console() -> Console:
    """A console on stdout; plain (no colour, no wrapping surprises) when stdout is not a terminal."""
    from rich.console import Console  # imported on use: --json output never needs rich

    return Console(highlight=False, soft_wrap=not sys.stdout.isatty())


def human_bytes(n: int | float | None) -> str:
    """1536 -> '1.5 KiB'; None -> '-'."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"


def human_duration(seconds: float | None) -> str:
    """3725 -> '1:02:05'; 59 -> '0:59'; None -> '-'."""
    if seconds is None or seconds < 0:
        return "-"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}:{m:02d}:{sec:02d}"
    return f"{m}:{sec:02d}"


def bar(fraction: float, width: int = 10) -> str:
    """A text bar for 0..1: '█████░░░░░'."""
    f = min(1.0, max(0.0, fraction))
    full = round(f * width)
    return "█" * full + "░" * (width - full)


def print_json(data: Any) -> None:
    """Stable, machine-readable output for --json."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
