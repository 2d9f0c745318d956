"""Finding our transfers in a process table and reading outcomes from real rsync log files."""

from __future__ import annotations

from plotter_agent.archive.recovery import find_transfers, outcome_from_log
from plotter_agent.rsync_runner import TransferSpec, build_argv

NAME = "plot-k20-2021-05-05-12-34-" + "0" * 64 + ".plot"
LOGS = "/var/lib/plotboss/logs/transfers"

# real --log-file output of rsync 3.5 (one file, appended by three runs: killed, auth failure, success)
LOG = f"""\
2026/12/01 20:40:43 [12889] building file list
2026/12/01 20:40:43 [12884] @ERROR: auth failed on module plots
2026/12/01 20:40:43 [12884] sent 0 bytes  received 0 bytes  total size 0
2026/12/01 20:40:43 [12884] rsync error: error starting client-server protocol (code 5) at main.c(1954) [sender=3.5.0]
2026/12/01 20:40:42 [12877] building file list
2026/12/01 20:40:43 [12877] <f+++++++++ {NAME}
2026/12/01 20:40:43 [12877] sent 4195499 bytes  received 44 bytes  total size 4194304
"""


def test_outcomes_by_run() -> None:
    ok = outcome_from_log(LOG)
    assert (ok.pid, ok.finished, ok.returncode) == (12877, True, 0)
    assert ok.tail[-1].startswith("sent 4195499 bytes")
    auth = outcome_from_log(LOG, 12884)
    assert (auth.finished, auth.returncode) == (True, 5)
    assert auth.tail[0] == "@ERROR: auth failed on module plots"
    killed = outcome_from_log(LOG, 12889)
    assert (killed.finished, killed.returncode, killed.tail) == (False, None, ("building file list",))
    assert outcome_from_log("", None) == outcome_from_log("garbage\n", None)
    assert not outcome_from_log("").finished
    assert outcome_from_log(LOG, 1).tail == ()


def test_find_transfers_picks_our_rsyncs_only() -> None:
    spec = TransferSpec(f"/mnt/dst/{NAME}", "rsync://farmer-01:873/plots/d0/", "a" * 32, LOGS)
    procs = [
        (300, build_argv(spec, "/usr/bin/rsync")),
        (200, ["rsync", "-av", spec.source, spec.url]),
        (100, ["python3", "chia", "plots", "create"]),
        (50, build_argv(TransferSpec(spec.source, spec.url, "b" * 32, "/other/agent"))),
    ]
    found = find_transfers(procs, LOGS)
    assert [(pid, t.reservation_id, t.plot_name) for pid, t in found] == [(300, "a" * 32, NAME)]
