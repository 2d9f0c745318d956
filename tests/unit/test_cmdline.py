"""Command lines of plot jobs as they show in the process table (many shapes, after plotman's test examples)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plotter_agent.cmdline import JobCommand, is_candidate, parse_cmdline
from plotter_agent.logparse import Plotter

C, M, B = Plotter.CHIA, Plotter.MADMAX, Plotter.BLADEBIT


def J(plotter: Plotter, k: int | None, tmp: str | None, tmp2: str | None, dst: str | None, **kw: object) -> JobCommand:
    return JobCommand(plotter=plotter, k=k, tmp_dir=tmp, tmp2_dir=tmp2, dst_dir=dst, **kw)  # type: ignore[arg-type]


CHIA_DEFAULTS = {"threads": 2, "buckets": 128, "buffer_mib": 3389}
MADMAX_DEFAULTS = {"threads": 4, "buckets": 256}

EXAMPLES: list[tuple[list[str], str | None, JobCommand]] = [
    # chia plots create through the interpreter (what a venv's console script looks like)
    (
        ["python", "chia", "plots", "create"],
        "/cwd",
        J(C, 32, "/cwd", None, "/cwd", **CHIA_DEFAULTS),
    ),
    (
        [
            "/usr/bin/python3.11",
            "/home/u/chia-blockchain/venv/bin/chia",
            "plots",
            "create",
            "-k",
            "32",
            "-r",
            "4",
            "-u",
            "128",
            "-b",
            "4000",
            "-t",
            "/mnt/tmp/00",
            "-2",
            "/mnt/tmp2",
            "-d",
            "/mnt/dst/00",
            "-x",
        ],
        "/home/u",
        J(C, 32, "/mnt/tmp/00", "/mnt/tmp2", "/mnt/dst/00", threads=4, buckets=128, buffer_mib=4000),
    ),
    # long options, --opt=value and relative paths against the cwd
    (
        [
            "python3",
            "-u",
            "/opt/chia/bin/chia",
            "plots",
            "create",
            "--size=33",
            "--num",
            "2",
            "--tmp_dir",
            "tmp",
            "--tmp2_dir=../t2",
            "--final_dir",
            "./dst/",
            "--num_threads",
            "8",
            "--buckets",
            "64",
            "--buffer",
            "6000",
            "--override-k",
            "-e",
        ],
        "/farm/work",
        J(C, 33, "/farm/work/tmp", "/farm/t2", "/farm/work/dst", threads=8, buckets=64, buffer_mib=6000, count=2),
    ),
    # a frozen chia binary without the interpreter in argv
    (
        [
            "/usr/lib/chia-blockchain/resources/app.asar.unpacked/daemon/chia",
            "plots",
            "create",
            "-k",
            "25",
            "-t",
            "/t",
            "-d",
            "/d",
            "-f",
            "abc",
            "-c",
            "xch1xyz",
        ],
        None,
        J(C, 25, "/t", None, "/d", **CHIA_DEFAULTS),
    ),
    # the test-bed stand-in's shape
    (
        [
            "/work/.venv/bin/python",
            "/work/tests/testbed/chia",
            "plots",
            "create",
            "-k",
            "20",
            "--override-k",
            "-u",
            "16",
            "-b",
            "200",
            "-r",
            "2",
            "-t",
            "/tmp/a",
            "-d",
            "/tmp/b",
            "-x",
        ],
        "/",
        J(C, 20, "/tmp/a", None, "/tmp/b", threads=2, buckets=16, buffer_mib=200),
    ),
    # relative paths with no known cwd stay as given
    (["chia", "plots", "create", "-t", "tmp", "-d", "dst"], None, J(C, 32, "tmp", None, "dst", **CHIA_DEFAULTS)),
    # chia 2.x plotters
    (
        [
            "/venv/bin/python",
            "/venv/bin/chia",
            "plotters",
            "chiapos",
            "-k",
            "32",
            "-t",
            "/t0",
            "-2",
            "/t2",
            "-d",
            "/d0",
            "-r",
            "6",
            "-u",
            "128",
            "-b",
            "5000",
        ],
        "/",
        J(C, 32, "/t0", "/t2", "/d0", threads=6, buckets=128, buffer_mib=5000),
    ),
    (
        [
            "chia",
            "plotters",
            "madmax",
            "-k",
            "32",
            "-n",
            "1",
            "-r",
            "16",
            "-u",
            "512",
            "-t",
            "/nvme/",
            "-2",
            "/ram/",
            "-d",
            "/hdd/d1/",
            "-c",
            "xch1abc",
            "-f",
            "b0a3",
        ],
        "/",
        J(M, 32, "/nvme", "/ram", "/hdd/d1", threads=16, buckets=512, wrapper=True),
    ),
    (
        [
            "chia",
            "plotters",
            "bladebit",
            "diskplot",
            "-r",
            "8",
            "-d",
            "/dst",
            "-t",
            "/tmp1",
            "-2",
            "/tmp2",
            "-u",
            "256",
            "--cache",
            "64G",
            "-f",
            "ab",
            "-c",
            "xch1",
        ],
        "/",
        J(B, 32, "/tmp1", "/tmp2", "/dst", threads=8, buckets=256, wrapper=True, mode="disk"),
    ),
    (
        ["chia", "plotters", "bladebit", "ramplot", "-d", "final", "-n", "3", "--compress", "7"],
        "/home/p",
        J(B, 32, None, None, "/home/p/final", count=3, wrapper=True, mode="ram"),
    ),
    (
        ["chia", "plotters", "bladebit", "cudaplot", "--final_dir=/d", "--device", "0", "--disk_128"],
        "/",
        J(B, 32, None, None, "/d", wrapper=True, mode="cuda"),
    ),
    # madMAx
    (
        [
            "./chia_plot",
            "--count",
            "1",
            "--threads",
            "8",
            "--buckets",
            "256",
            "--buckets3",
            "256",
            "--tmpdir",
            "/farm/yards/902/",
            "--tmpdir2",
            "/farm/yards/902/fake_tmp2/",
            "--finaldir",
            "/farm/yards/902/fake_dst/",
            "--contract",
            "xch1u8ll2",
            "--farmerkey",
            "b0a37484",
            "--rmulti2",
            "2",
        ],
        "/home/u/chia-plotter/build",
        J(M, 32, "/farm/yards/902", "/farm/yards/902/fake_tmp2", "/farm/yards/902/fake_dst", threads=8, buckets=256),
    ),
    (
        [
            "/usr/local/bin/chia_plot_k34",
            "-k",
            "34",
            "-n",
            "-1",
            "-r",
            "32",
            "-u",
            "256",
            "-t",
            "/a/",
            "-d",
            "/b/",
            "-w",
            "-G",
            "-p",
            "poolkey",
            "-f",
            "farmerkey",
        ],
        "/",
        J(M, 34, "/a", None, "/b", threads=32, buckets=256, count=-1),  # -1: until stopped
    ),
    (["chia_plot"], "/x", J(M, 32, "/x", None, "/x", **MADMAX_DEFAULTS)),
    # bladebit RAM (v1) and v2 ramplot/diskplot/cudaplot
    (["bladebit"], "/cwd", J(B, 32, None, None, "/cwd", mode="ram")),
    (["here/there/bladebit", "final/dir"], "/cwd", J(B, 32, None, None, "/cwd/final/dir", mode="ram")),
    (
        ["bladebit", "-v", "-t", "30", "-n", "1", "-f", "abc", "-p", "def", "/farm/dst/dir"],
        "/",
        J(B, 32, None, None, "/farm/dst/dir", threads=30, mode="ram"),
    ),
    (
        [
            "/opt/bladebit/bladebit",
            "--threads",
            "16",
            "--pool-contract",
            "xch123",
            "--farmer-key",
            "abc",
            "ramplot",
            "/mnt/dst",
        ],
        "/",
        J(B, 32, None, None, "/mnt/dst", threads=16, mode="ram"),
    ),
    (
        [
            "bladebit",
            "-v",
            "-n",
            "1",
            "-f",
            "fk",
            "-c",
            "pc",
            "diskplot",
            "-t1",
            "/farm/tmp/dir",
            "-t2",
            "/farm/tmp2/dir",
            "-b",
            "128",
            "--cache",
            "32G",
            "-a",
            "/farm/dst/dir",
        ],
        "/",
        J(B, 32, "/farm/tmp/dir", "/farm/tmp2/dir", "/farm/dst/dir", buckets=128, mode="disk"),
    ),
    (
        ["bladebit", "diskplot", "an_output_directory/"],
        "/w",
        J(B, 32, None, None, "/w/an_output_directory", mode="disk"),
    ),
    (
        ["bladebit_cuda", "-f", "fk", "-c", "pc", "-z", "7", "cudaplot", "--disk-128", "-t1", "/t1", "/dst"],
        "/",
        J(B, 32, "/t1", None, "/dst", mode="cuda"),
    ),
]


@pytest.mark.parametrize(("argv", "cwd", "expected"), EXAMPLES, ids=[" ".join(e[0])[:60] for e in EXAMPLES])
def test_parses(argv: list[str], cwd: str | None, expected: JobCommand) -> None:
    assert is_candidate(argv)
    assert parse_cmdline(argv, cwd) == expected


NOT_JOBS = [
    [],
    [""],
    ["python"],
    ["python3", "-m", "http.server"],
    ["chia", "start", "farmer"],
    ["chia", "plots", "check"],
    ["/venv/bin/python", "/venv/bin/chia", "plots", "show"],
    ["chia", "plotters", "version"],
    ["chia", "plotters", "bladebit"],
    ["bash", "-c", "chia plots create -k 32 -t /t -d /d > /var/log/x.log"],
    ["sh", "-c", "chia_plot -t /t -d /d"],
    ["vim", "chia_plot"],
    ["plotman", "plot"],
    ["python3", "/usr/bin/plotman", "interactive"],
    ["tail", "-f", "/var/log/plots/bladebit.log"],
    ["chia_plot_helper"],
    ["mybladebit"],
]


@pytest.mark.parametrize("argv", NOT_JOBS, ids=[" ".join(a)[:50] or "empty" for a in NOT_JOBS])
def test_not_a_job(argv: list[str]) -> None:
    assert parse_cmdline(argv, "/") is None


@pytest.mark.parametrize(
    "argv",
    [
        ["chia", "plots", "create", "--help"],
        ["chia", "plots", "create", "-k", "32", "-h"],
        ["chia_plot", "--help"],
        ["bladebit", "--version"],
        ["bladebit", "diskplot", "-h"],
    ],
)
def test_help_and_version_are_not_jobs(argv: list[str]) -> None:
    assert parse_cmdline(argv, "/") is None


def test_bad_numbers_do_not_raise() -> None:
    cmd = parse_cmdline(["chia", "plots", "create", "-k", "thirty", "-r", "", "-u", "x"], "/")
    assert cmd is not None and cmd.k is None and cmd.threads is None and cmd.buckets is None


def test_option_without_value_at_end() -> None:
    cmd = parse_cmdline(["chia", "plots", "create", "-k", "32", "-t"], "/c")
    assert cmd is not None and cmd.k == 32 and cmd.tmp_dir == "/c"


@pytest.mark.parametrize(
    ("argv", "count"),
    [
        (["bladebit", "-f", "F", "-c", "C", "-n", "0", "ramplot", "/dst"], 0),  # plots until stopped
        (["bladebit", "--count", "0", "/dst"], 0),
        (["bladebit", "-n", "3", "diskplot", "-t1", "/t", "/dst"], 3),
        (["bladebit", "/dst"], 1),
        (["chia", "plotters", "bladebit", "cudaplot", "-d", "/d", "-n", "0"], 0),  # chia passes -n on to bladebit
        (["chia_plot", "-n", "-1", "-t", "/t/", "-d", "/d/"], -1),  # madMAx: until stopped
        (["chia_plot", "--count=-1", "-t", "/t/", "-d", "/d/"], -1),
        (["chia_plot", "-n", "0", "-t", "/t/", "-d", "/d/"], 1),  # madMAx -n 0 makes none and exits
        (["chia", "plots", "create", "-n", "0"], 1),  # chia: at least one
        (["chia", "plots", "create", "-n", "-1"], 1),
        (["chia", "plots", "create", "--num", "4"], 4),
        (["chia", "plots", "create", "-n", "x"], 1),
    ],
)
def test_plot_count(argv: list[str], count: int) -> None:
    cmd = parse_cmdline(argv, "/")
    assert cmd is not None and cmd.count == count


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # click (chia plots create) and cxxopts (madMAx) read -k33 as -k 33
        (
            ["chia", "plots", "create", "-k25", "-t/mnt/tmp/00", "-2/mnt/t2", "-d/mnt/dst/00", "-r4", "-n2", "-u64"],
            J(C, 25, "/mnt/tmp/00", "/mnt/t2", "/mnt/dst/00", threads=4, buckets=64, buffer_mib=3389, count=2),
        ),
        (
            ["chia", "plots", "create", "-xk26", "-etrel", "-b6000", "-fabc", "-d", "/d"],  # flags grouped before it
            J(C, 26, "/home/u/rel", None, "/d", threads=2, buckets=128, buffer_mib=6000),
        ),
        (
            ["chia_plot", "-k33", "-t/t/", "-2/t2/", "-d/d/", "-r16", "-u512", "-n-1", "-v128", "-ffarmerkey"],
            J(M, 33, "/t", "/t2", "/d", threads=16, buckets=512, count=-1),
        ),
        (["chia_plot", "-wt", "/t/", "-Gd/d/"], J(M, 32, "/t", None, "/d", threads=4, buckets=256)),
        # bladebit: -t1/-t2 are options of their own, never -t 1 / -t 2
        (
            ["bladebit", "-t8", "-n2", "diskplot", "-t1", "/t1", "-t2", "/t2", "-b128", "/dst"],
            J(B, 32, "/t1", "/t2", "/dst", threads=8, buckets=128, count=2, mode="disk"),
        ),
        (["bladebit", "-t1", "/t1", "-t", "4", "/dst"], J(B, 32, "/t1", None, "/dst", threads=4, mode="ram")),
        (
            ["chia", "plotters", "bladebit", "diskplot", "-t/t", "-2/t2", "-d/d", "-r8", "-n0"],
            J(B, 32, "/t", "/t2", "/d", threads=8, count=0, wrapper=True, mode="disk"),
        ),
        # not groups: an unknown letter, flags only, a lone dash
        (["chia_plot", "-Q33", "-wG", "-", "-t", "/t/"], J(M, 32, "/t", None, "/t", threads=4, buckets=256)),
    ],
)
def test_attached_short_values(argv: list[str], expected: JobCommand) -> None:
    assert parse_cmdline(argv, "/home/u") == expected


def test_unknown_options_are_tolerated() -> None:
    cmd = parse_cmdline(["chia_plot", "--newflag", "--newopt=7", "-t", "/t", "-d", "/d"], "/")
    assert cmd is not None and (cmd.tmp_dir, cmd.dst_dir) == ("/t", "/d")


def test_undecodable_and_odd_words() -> None:
    cmd = parse_cmdline(["chia", "plots", "create", "-t", "/t\ufffd", "-d", "~/dst"], "/")
    assert cmd is not None and cmd.tmp_dir == "/t\ufffd" and cmd.dst_dir is not None and cmd.dst_dir.endswith("/dst")


_WORDS = st.sampled_from(
    ["chia", "plots", "create", "plotters", "madmax", "bladebit", "diskplot", "chia_plot", "python3", "-k", "-t",
     "-d", "-2", "-n", "-r", "-u", "-b", "-t1", "-t2", "--tmp_dir=x", "--", "-h", "32", "x", "", "/a", "rel"]
)  # fmt: skip


@given(st.lists(st.one_of(_WORDS, st.text(max_size=12)), max_size=14), st.one_of(st.none(), st.just("/cwd")))
def test_any_command_line_parses_or_is_refused_without_raising(argv: list[str], cwd: str | None) -> None:
    cmd = parse_cmdline(argv, cwd)
    assert cmd is None or (cmd.plotter in (C, M, B) and (cmd.count != 0 or cmd.plotter is B))
    assert cmd is None or cmd.plotter is not C or cmd.count >= 1
    assert is_candidate(argv) or cmd is None


@pytest.mark.parametrize(
    ("argv", "mode"),
    [
        (["bladebit", "-f", "F", "-c", "C", "/dst"], "ram"),  # bladebit 1.x: no subcommand, RAM
        (["bladebit", "-n", "2", "ramplot", "/dst"], "ram"),
        (["bladebit", "-t", "8", "diskplot", "-t1", "/t", "/dst"], "disk"),
        (["bladebit_cuda", "-z", "7", "cudaplot", "/dst"], "cuda"),
        (["bladebit", "cudaplot", "diskplot"], "cuda"),  # the first subcommand word picks the plotter
        (["chia", "plotters", "bladebit", "cudaplot", "-d", "/d"], "cuda"),
        (["python3", "/venv/bin/chia", "plotters", "bladebit", "diskplot", "-d", "/d", "-t", "/t"], "disk"),
        (["chia", "plotters", "bladebit", "ramplot", "-d", "/d"], "ram"),
        (["chia", "plots", "create", "-k", "32"], None),  # chia and madMAx have one mode
        (["chia", "plotters", "chiapos", "-k", "32"], None),
        (["chia_plot", "-t", "/t/", "-d", "/d/"], None),
    ],
)
def test_mode(argv: list[str], mode: str | None) -> None:
    cmd = parse_cmdline(argv, "/")
    assert cmd is not None and cmd.mode == mode


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # chia plots create's own defaults (click)
        (["chia", "plots", "create", "-t", "/t", "-d", "/d"], J(C, 32, "/t", None, "/d", **CHIA_DEFAULTS)),
        # chia plotters chiapos passes 0 and chiapos uses its own: 4608 MiB, 2 threads, 128 buckets
        (
            ["chia", "plotters", "chiapos", "-t", "/t", "-d", "/d"],
            J(C, 32, "/t", None, "/d", threads=2, buckets=128, buffer_mib=4608),
        ),
        # chia plotters madmax: 4 threads, 256 buckets; -t and -d are required (no "." default)
        (["chia", "plotters", "madmax", "-d", "/d"], J(M, 32, None, None, "/d", threads=4, buckets=256, wrapper=True)),
        # madMAx itself: the final dir defaults to the tmp dir
        (["chia_plot", "-t", "/t/"], J(M, 32, "/t", None, "/t", **MADMAX_DEFAULTS)),
        # bladebit through chia: threads default to all cores, so unknown
        (["chia", "plotters", "bladebit", "ramplot", "-d", "/d"], J(B, 32, None, None, "/d", wrapper=True, mode="ram")),
    ],
)
def test_each_command_has_its_own_defaults(argv: list[str], expected: JobCommand) -> None:
    assert parse_cmdline(argv, "/home/u") == expected
