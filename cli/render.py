"""Rendering helpers shared by the CLI commands: sizes, durations, bars, JSON output, rich console."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
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


@dataclass
class Grid:
    """A table without borders: columns, rows of strings, which columns are right-justified, an optional title."""

    columns: Sequence[str]
    right: frozenset[str] = frozenset()
    title: str | None = None
    rows: list[Sequence[str]] = field(default_factory=list)

    def add_row(self, *cells: str) -> None:
        self.rows.append(cells)

    def plain(self) -> str:
        """Aligned columns two spaces apart, as text (what pipes, files and scripts get)."""
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
        lines = [self.title] if self.title else []
        for row in (self.columns, *self.rows):
            cells = [
                cell.rjust(w) if col in self.right else cell.ljust(w)
                for col, cell, w in zip(self.columns, row, widths, strict=True)
            ]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)


class Printer:
    """Text output of the read commands: aligned plain text, the same columns everywhere.

    Pipes, files and scripts get it as is. A terminal gets bold headings (unless ``NO_COLOR`` is set) and the same
    text when it fits the terminal's width; only a table wider than the terminal is drawn by rich, which folds it to
    fit. rich is imported only then (~45 ms a call saved otherwise)."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.colour = self.tty and not os.environ.get("NO_COLOR")
        self._console: Console | None = None

    def _con(self) -> Console:
        if self._console is None:
            self._console = console()
        return self._console

    def _bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self.colour else text

    def heading(self, name: str, rest: str = "") -> None:
        """``name`` in bold on a terminal, then ``rest``."""
        sys.stdout.write(f"{self._bold(name)}{rest}\n")

    def line(self, text: str) -> None:
        sys.stdout.write(text + "\n")

    def grid(self, grid: Grid) -> None:
        text = grid.plain()
        if not self.tty:
            sys.stdout.write(text + "\n")
            return
        lines = text.splitlines()
        if max(map(len, lines), default=0) <= shutil.get_terminal_size().columns:
            title = 1 if grid.title else 0
            for i, line in enumerate(lines):
                sys.stdout.write((self._bold(line) if i <= title else line) + "\n")
            return
        from rich.table import Table

        t = Table(box=None, pad_edge=False, title=grid.title, title_justify="left")
        for col in grid.columns:
            t.add_column(col, justify="right" if col in grid.right else "left")
        for row in grid.rows:
            t.add_row(*row)
        self._con().print(t)
