"""The CLI's text output: plain aligned text for pipes, the same text with bold headings on a terminal where it
fits, rich only for a table wider than the terminal."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from cli.render import Grid, Printer


def grid() -> Grid:
    g = Grid(("dir", "plots", "state"), right=frozenset({"plots"}), title="drives")
    g.add_row("/mnt/farm/d0", "12", "ok")
    g.add_row("/mnt/farm/d10", "3", "full")
    return g


def terminal(monkeypatch: pytest.MonkeyPatch, columns: int, colour: bool = True) -> Printer:
    monkeypatch.setattr(shutil, "get_terminal_size", lambda *a: os.terminal_size((columns, 40)))
    p = Printer()
    p.tty, p.colour = True, colour
    return p


def test_piped_output_is_plain_aligned_text(capsys: pytest.CaptureFixture[str]) -> None:
    p = Printer()
    assert not p.tty  # pytest captures stdout: not a terminal
    p.heading("plotter-01", " (127.0.0.1:8444)")
    p.grid(grid())
    assert capsys.readouterr().out.splitlines() == [
        "plotter-01 (127.0.0.1:8444)",
        "drives",
        "dir            plots  state",
        "/mnt/farm/d0      12  ok",
        "/mnt/farm/d10      3  full",
    ]


def test_a_terminal_gets_the_same_text_with_bold_headings_when_it_fits(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    p = terminal(monkeypatch, 120)
    p.heading("plotter-01", " (127.0.0.1:8444)")
    p.grid(grid())
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "\x1b[1mplotter-01\x1b[0m (127.0.0.1:8444)"
    assert lines[1:3] == ["\x1b[1mdrives\x1b[0m", "\x1b[1mdir            plots  state\x1b[0m"]
    assert lines[3:] == ["/mnt/farm/d0      12  ok", "/mnt/farm/d10      3  full"]


def test_no_color_keeps_a_terminal_plain(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(shutil, "get_terminal_size", lambda *a: os.terminal_size((120, 40)))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # a terminal, as Printer() sees it
    assert Printer().colour  # without NO_COLOR: bold
    monkeypatch.setenv("NO_COLOR", "1")
    p = Printer()
    assert p.tty and not p.colour
    p.heading("plotter-01")
    p.grid(grid())
    out = capsys.readouterr().out
    assert "\x1b" not in out and out.splitlines()[0] == "plotter-01"


def test_a_table_wider_than_the_terminal_is_folded_by_rich(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    p = terminal(monkeypatch, 20)
    p.grid(grid())
    out = capsys.readouterr().out
    assert out.splitlines() != grid().plain().splitlines()
    for cell in ("plots", "12", "full", "drives"):
        assert cell in out
