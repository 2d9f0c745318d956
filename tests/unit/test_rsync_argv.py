"""rsync_runner's pure parts: the command line, the environment, recognising our transfers, parsing progress."""

from __future__ import annotations

import pytest

from plotboss.errors import FailedPrecondition, InvalidArgument
from plotter_agent.rsync_runner import (
    PARTIAL_DIR,
    Progress,
    RsyncTransfer,
    TransferSpec,
    build_argv,
    build_env,
    parse_argv,
    parse_progress,
)

NAME = "plot-k32-2021-05-05-12-34-" + "ab" * 32 + ".plot"
RID = "0123456789abcdef" * 2


def spec(**kw: object) -> TransferSpec:
    base: dict[str, object] = {
        "source": f"/mnt/dst/00/{NAME}",
        "url": "rsync://farmer-01:873/plots/d0/",
        "reservation_id": RID,
        "log_dir": "/var/lib/plotboss/logs/transfers",
    }
    return TransferSpec(**{**base, **kw})  # type: ignore[arg-type]


def test_argv_has_temp_names_partial_dir_bwlimit_and_the_marker_but_no_password() -> None:
    s = spec(user="plotter", password="s3cret-pass", bwlimit_kbps=5000)
    argv = build_argv(s)
    assert argv == [
        "rsync",
        "--info=progress2",
        "--timeout=60",
        "--contimeout=20",
        f"--partial-dir={PARTIAL_DIR}",
        "--bwlimit=5000",
        f"--log-file=/var/lib/plotboss/logs/transfers/{NAME}.{RID}.rsync.log",
        f"/mnt/dst/00/{NAME}",
        "rsync://plotter@farmer-01:873/plots/d0/",
    ]
    assert not any("s3cret" in a for a in argv)
    assert not any(a in ("--inplace", "--partial", "-P", "--append") for a in argv)
    assert build_argv(spec(resume=False, bwlimit_kbps=0))[4].startswith("--log-file=")


def test_password_only_in_the_childs_environment() -> None:
    inherited = {"PATH": "/usr/bin", "RSYNC_PASSWORD": "someone-elses"}
    assert build_env(spec(password="s3cret-pass"), inherited) == {"PATH": "/usr/bin", "RSYNC_PASSWORD": "s3cret-pass"}
    assert build_env(spec(), inherited) == {"PATH": "/usr/bin"}


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"source": NAME}, "absolute"),
        ({"source": "/mnt/dst/x.plot"}, "plot name"),
        ({"url": "farmer-01::plots/d0/"}, "rsync://"),
        ({"url": "rsync://farmer-01/plots/d0"}, "rsync://"),
        ({"reservation_id": "xyz"}, "reservation id"),
        ({"user": "a b"}, "rsync user"),
        ({"bwlimit_kbps": -1}, "bwlimit"),
    ],
)
def test_bad_specs_are_refused(kw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument, match=field):
        spec(**kw)


def test_parse_argv_recognises_our_transfers_only() -> None:
    s = spec(user="plotter")
    got = parse_argv(["/usr/bin/rsync", *build_argv(s)[1:]], "/var/lib/plotboss/logs/transfers/")
    assert got is not None
    assert (got.plot_name, got.reservation_id, got.source, got.url) == (NAME, RID, s.source, s.target_url)
    assert parse_argv(build_argv(s), "/elsewhere") is None  # another agent's transfers dir
    assert parse_argv(["rsync", "-av", s.source, s.url], s.log_dir) is None  # an rsync started by hand
    assert parse_argv(["cp", *build_argv(s)[1:]], s.log_dir) is None
    other = [a if not a.startswith("--log-file") else f"--log-file={s.log_dir}/x.log" for a in build_argv(s)]
    assert parse_argv(other, s.log_dir) is None


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("         32,768   0%    0.00kB/s    0:00:00  ", Progress(32768, 0, 0.0, 0.0, False)),
        ("      3,309,568  41%    2.94MB/s    0:00:01  ", Progress(3309568, 41, 2.94 * 2**20, 1.0, False)),
        (
            "      8,000,000 100%    2.97MB/s    0:00:02 (xfr#1, to-chk=0/1)",
            Progress(8000000, 100, 2.97 * 2**20, None, True),
        ),
        ("  1,000,000,000  10%  110.12GB/s    1:02:03:04", Progress(10**9, 10, 110.12 * 2**30, 93784.0, False)),
        ("          1,024   0%    1.00B/s    ??:??:??", Progress(1024, 0, 1.0, None, False)),
        ("sending incremental file list", None),
        ("", None),
    ],
)
def test_parse_progress(line: str, want: Progress | None) -> None:
    assert parse_progress(line) == want


def test_a_missing_rsync_is_a_clear_error(tmp_path: object) -> None:
    t = RsyncTransfer(spec(log_dir=str(tmp_path)), rsync="/nonexistent/bin/rsync")
    with pytest.raises(FailedPrecondition, match="cannot start /nonexistent/bin/rsync: No such file"):
        t.start()
    assert t.pid is None
