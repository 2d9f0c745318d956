#!/usr/bin/env python3
"""Run every benchmark script in bench/ (`make bench`): each `*.py` here except this one and `_*.py` helpers.

Each script runs as its own process with this interpreter, one after the other (they would skew each other's timings),
with its output passed through and its default arguments; at the end, each script's exit status and time, and its
verdict lines (those that name a target: `ratio ... target <= 0.2 ok`) again, together. Exit status: 0 if every script
exited 0 (a missed target is a verdict, not a failure), else 1.
`--only NAME` (repeatable) picks scripts by file stem, e.g. `.venv/bin/python bench/run_all.py --only status_bench`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
VERDICT_RE = re.compile(r"(?:\btarget\b|<=).*\b(?:ok|MISSED)\b")


def scripts() -> list[Path]:
    return sorted(p for p in BENCH.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--only", action="append", default=[], metavar="NAME", help="run only bench/NAME.py (repeatable)")
    args = ap.parse_args(argv)
    chosen = [p for p in scripts() if not args.only or p.stem in args.only]
    if not chosen:
        print(f"no benchmark scripts in {BENCH}" + (f" named {args.only}" if args.only else ""), file=sys.stderr)
        return 1
    failed: list[str] = []
    summary: list[tuple[str, int, float]] = []
    verdicts: list[str] = []
    for script in chosen:
        print(f"==> {script.relative_to(BENCH.parent)}", flush=True)
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, str(script)], cwd=BENCH.parent, stdout=subprocess.PIPE, text=True, errors="replace"
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if VERDICT_RE.search(line):
                verdicts.append(f"{script.stem}: {line.strip()}")
        rc = proc.wait()
        summary.append((script.name, rc, time.monotonic() - t0))
        if rc != 0:
            failed.append(script.name)
        print(flush=True)
    for name, rc, secs in summary:
        print(f"{name:<28} {'ok' if rc == 0 else f'exit {rc}':<8} {secs:6.0f} s")
    if verdicts:
        print()
        print("\n".join(verdicts))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
