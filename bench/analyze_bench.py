#!/usr/bin/env python3
"""Benchmark: `plotboss-cli analyze` over 2,000 plot logs against plotman 0.5.3's `plotman analyze` on the same logs.

Run from the repository root:  .venv/bin/python bench/analyze_bench.py   (see bench/README.md; --help for options)

Set-up (a temporary directory, removed at the end): 2,000 completed logs stamped from the real samples that both tools
read (testbed.logstamp.write_sample_logs: chia 2.7.5 k25, chiapos k18/k22, chia k32 and madMAx k33, each with its own
plot id, start time and one of 8 tmp dirs); plotman 0.5.3 in its own venv with a plotman.yaml (plotman reads its config
for every command, analyze too).

Measured, interleaved round by round: the wall time of whole processes, spawn to exit, output captured:
`plotman analyze LOG...` and `plotboss-cli analyze LOG...` on the same 2,000 file names (plotboss from the dev venv and
from a regular `pip install .`, `[pip]`), and `plotboss-cli analyze --dir DIR` (not compared: plotman has no such
form). Before the timings both tools' counts are checked: plotman's `n` column summed over its slices, plotboss's
plots summed over its groups (`--json`); every timed run's output is checked for the same count.

Target (issue 11): plotboss at most 0.2 of plotman's wall time (median).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from testbed.installs import ensure_plotman, install_plotboss, plotman_yaml
from testbed.logstamp import write_sample_logs
from testbed.stats import Run, Series

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PLOTMAN_VENV = REPO / ".bench-venvs" / "plotman"
DEFAULT_INSTALLED_VENV = REPO / ".bench-venvs" / "plotboss"
RESULTS_DIR = REPO / "bench" / "results"
VENV_BIN = Path(sys.executable).parent

TARGET_RATIO = 0.2
#: plotman takes ~25 s over 2,000 logs on a quiet 2-core machine; a loaded one has taken over 120 s
RUN_TIMEOUT_S = 900.0
#: plotman's table rows: | x-/mnt/tmp/03 | 285 | ... (the slice, then n; "3-4" when the measures' counts differ)
PLOTMAN_ROW_RE = re.compile(r"^\|\s*(\S+)\s*\|\s*(\d+)(?:-(\d+))?\s*\|", re.MULTILINE)
PLOTBOSS_HEAD_RE = re.compile(r"^local: (\d+) logs, (\d+) incomplete, (\d+) skipped", re.MULTILINE)


def plotman_count(out: bytes) -> int:
    """Plots plotman analysed: its ``n`` column summed over the slices (the upper bound where a slice gives a range)."""
    rows = PLOTMAN_ROW_RE.findall(out.decode(errors="replace"))
    return sum(int(hi or lo) for name, lo, hi in rows if name != "Slice")


def plotboss_count(out: bytes) -> int:
    """Plots plotboss analysed (``--json``): the plots of every group."""
    data = json.loads(out)
    return sum(int(g["count"]) for g in data["groups"])


def expect_count(count: Callable[[bytes], int], want: int) -> Callable[[Run], str | None]:
    def check(r: Run) -> str | None:
        try:
            got = count(r.out)
        except (ValueError, KeyError, TypeError) as e:
            return f"unreadable output: {e!r}"
        return None if got == want else f"counted {got} plots, not {want}"

    return check


def plotboss_text_count(out: bytes) -> int:
    m = PLOTBOSS_HEAD_RE.search(out.decode(errors="replace"))
    if m is None:
        raise ValueError("no 'local: N logs' heading")
    return int(m.group(1)) - int(m.group(2))


def report_table(series: list[Series], logs: int, nbytes: int, runs: int, report: dict[str, Any]) -> bool:
    """Print the timings and the ratios to plotman (``series[0]``); complete ``report``. True when every run's output
    was right and every ratio met the target."""
    print()
    print(f"{logs} logs ({nbytes / 2**20:.0f} MiB), {runs} interleaved runs each, {os.cpu_count()} CPUs,")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; whole processes (spawn to exit)")
    print()
    print(f"{'command':<36} {'median s':>9} {'min s':>9} {'max s':>9} {'cpu s':>9}  problems")
    for s in series:
        if not s.runs:
            print(f"{s.label:<36} {'-':>9} {'-':>9} {'-':>9} {'-':>9}  {len(s.problems)}: {s.problems[0]}")
            continue
        walls = [r.wall_s for r in s.runs]
        row = f"{s.label:<36} {s.median_ms() / 1000:>9.2f} {min(walls):>9.2f} {max(walls):>9.2f}"
        row += f" {s.cpu_ms() / 1000:>9.2f}"
        print(f"{row}  {len(s.problems)}: {s.problems[0]}" if s.problems else row)
    report["series"] = {
        s.label: {"wall_s": [round(r.wall_s, 3) for r in s.runs], "cpu_s": [round(r.cpu_s, 3) for r in s.runs]}
        for s in series
    }
    base = series[0]
    print()
    ok = not any(s.problems for s in series)
    ratios: dict[str, float] = {}
    for s in series[1:]:
        if "--dir" in s.label or not s.runs or not base.runs:
            continue
        ratio = s.median_ms() / base.median_ms()
        ratios[s.label] = round(ratio, 3)
        verdict = "ok" if ratio <= TARGET_RATIO else "MISSED"
        ok = ok and ratio <= TARGET_RATIO
        lo = min(r.wall_s for r in s.runs) / max(r.wall_s for r in base.runs)
        hi = max(r.wall_s for r in s.runs) / min(r.wall_s for r in base.runs)
        label = s.label[len("plotboss-cli ") :]
        print(
            f"ratio {label:<30} / plotman: {ratio:.3f}   target <= {TARGET_RATIO} {verdict}  (runs {lo:.3f}..{hi:.3f})"
        )
    report["ratios"] = ratios
    report["targets_met"] = ok
    report["loadavg_end"] = os.getloadavg()
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--logs", type=int, default=2000, help="completed logs (default 2000)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each command, interleaved (default 3)")
    ap.add_argument("--plotman-venv", type=Path, default=DEFAULT_PLOTMAN_VENV)
    ap.add_argument("--installed-venv", type=Path, default=DEFAULT_INSTALLED_VENV)
    ap.add_argument("--no-installed", action="store_true", help="time only the dev venv's plotboss-cli")
    ap.add_argument("--workdir", type=Path, default=None, help="parent of the temporary directory")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--results", type=Path, default=None, help="write results JSON here (default bench/results/)")
    args = ap.parse_args(argv)

    plotman = ensure_plotman(args.plotman_venv)
    installed_cli = None if args.no_installed else install_plotboss(args.installed_venv)
    root = Path(tempfile.mkdtemp(prefix="plotboss-analyze-bench-", dir=args.workdir))
    log_dir = root / "logs"
    state = root / "state"
    for d in (log_dir, state / "transfers", root / "tmp", root / "dst", root / "xdg-config" / "plotman"):
        d.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(XDG_CONFIG_HOME=str(root / "xdg-config"), XDG_DATA_HOME=str(root / "xdg-data"), COLUMNS="120")
    (root / "xdg-config" / "plotman" / "plotman.yaml").write_text(
        plotman_yaml([root / "tmp"], root / "dst", log_dir, state)
    )
    report: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "logs": args.logs,
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
    }
    try:
        t0 = time.monotonic()
        nbytes = write_sample_logs(log_dir, args.logs)
        files = sorted(str(p) for p in log_dir.iterdir())
        print(f"wrote {len(files)} completed logs ({nbytes / 2**20:.0f} MiB) in {time.monotonic() - t0:.1f} s")

        # the same logs counted by both, or the comparison means nothing
        pm = Series(
            "plotman analyze LOG...", [str(plotman), "analyze", *files], env, lambda r: None, timeout_s=RUN_TIMEOUT_S
        )
        pm_run = pm.once()
        pb_json = Series(
            "plotboss-cli analyze --json",
            [str(VENV_BIN / "plotboss-cli"), "analyze", "--json", *files],
            env,
            lambda r: None,
            timeout_s=RUN_TIMEOUT_S,
        )
        pb_run = pb_json.once()
        problems = [*pm.problems, *pb_json.problems]
        counts = {"plotman": plotman_count(pm_run.out), "plotboss": plotboss_count(pb_run.out)} if not problems else {}
        report["counts"] = counts
        print(
            f"plots counted: plotman {counts.get('plotman')}, plotboss {counts.get('plotboss')} (of {len(files)} logs)"
        )
        if problems or counts["plotman"] != counts["plotboss"] or counts["plotman"] != len(files):
            print(f"the tools do not count the same plots: {problems or counts}", file=sys.stderr)
            return 1
        n = counts["plotman"]

        series = [
            Series("plotman analyze LOG...", pm.cmd, env, expect_count(plotman_count, n)),
            Series(
                "plotboss-cli analyze LOG...",
                [str(VENV_BIN / "plotboss-cli"), "analyze", *files],
                env,
                expect_count(plotboss_text_count, n),
            ),
        ]
        if installed_cli is not None:
            series.append(
                Series(
                    "plotboss-cli analyze LOG... [pip]",
                    [str(installed_cli), "analyze", *files],
                    env,
                    expect_count(plotboss_text_count, n),
                )
            )
        series.append(
            Series(
                "plotboss-cli analyze --dir DIR",
                [str(VENV_BIN / "plotboss-cli"), "analyze", "--dir", str(log_dir)],
                env,
                expect_count(plotboss_text_count, n),
            )
        )
        for s in series:
            s.timeout_s = RUN_TIMEOUT_S
        for _ in range(args.runs):
            for s in series:
                s.once()

        report_table(series, len(files), nbytes, args.runs, report)
        out = args.results or RESULTS_DIR / f"analyze_bench-{dt.datetime.now():%Y%m%dT%H%M%S}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nresults: {out}")
        return 0 if not any(s.problems for s in series) else 1  # a missed target is printed, not an error
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
