"""Each plotter module builds command lines that its own option table (through cmdline's tokenizer) reads back."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from plotter_agent.cmdline import parse_cmdline, parse_options
from plotter_agent.logparse import Plotter
from plotter_agent.plotters import bladebit, chia, madmax
from plotter_agent.plotters.options import PlotSpec

HEX48 = st.text("0123456789abcdef", min_size=96, max_size=96)
PATHS = st.lists(st.sampled_from(["mnt", "tmp 01", "plots", "ssd-a", "x"]), min_size=1, max_size=3).map(
    lambda parts: "/" + "/".join(parts)
)
OPT_INT = st.none() | st.integers(1, 512)

# (module, plotter, executable, command): every way plotboss can start each plotter
VARIANTS = [
    (chia, Plotter.CHIA, ("chia",), ("plots", "create")),
    (chia, Plotter.CHIA, ("/opt/chia/venv/bin/chia",), ("plotters", "chiapos")),
    (madmax, Plotter.MADMAX, ("chia_plot",), ()),
    (madmax, Plotter.MADMAX, ("chia",), ("plotters", "madmax")),
    (bladebit, Plotter.BLADEBIT, ("bladebit",), ("ramplot",)),
    (bladebit, Plotter.BLADEBIT, ("/usr/local/bin/bladebit",), ("diskplot",)),
    (bladebit, Plotter.BLADEBIT, ("bladebit_cuda",), ("cudaplot",)),
    (bladebit, Plotter.BLADEBIT, ("chia",), ("plotters", "bladebit", "diskplot")),
    (bladebit, Plotter.BLADEBIT, ("chia",), ("plotters", "bladebit", "ramplot")),
]


@st.composite
def specs(draw: st.DrawFn) -> tuple[object, Plotter, PlotSpec, str, str | None, str]:
    module, plotter, exe, command = draw(st.sampled_from(VARIANTS))
    pool = draw(st.sampled_from(["pk", "contract", "none"]))
    spec = PlotSpec(
        executable=exe,
        command=command,
        k=draw(st.integers(18, 34)),
        threads=draw(OPT_INT),
        buckets=draw(OPT_INT),
        buffer_mib=draw(OPT_INT) if module is chia else None,
        count=draw(st.integers(1, 9)),
        farmer_pk=draw(st.none() | HEX48),
        pool_pk=draw(HEX48) if pool == "pk" else None,
        pool_contract_address="xch1" + "q" * 58 if pool == "contract" else None,
        compression=draw(st.none() | st.integers(0, 7)) if module is bladebit else None,
        nobitfield=draw(st.booleans()) if module is chia else False,
        exclude_final_dir=draw(st.booleans()) if module is chia else False,
        alternate=draw(st.booleans()) if command[-1:] == ("diskplot",) else False,
    )
    tmp2 = draw(st.none() | PATHS)
    return module, plotter, spec, draw(PATHS), tmp2, draw(PATHS)


def _expected(module: object, spec: PlotSpec, tmp: str, tmp2: str | None, dst: str) -> dict[str, str]:
    """What the command line must say: every field the spec sets that the plotter takes (bladebit keeps ramplot and
    cudaplot plots in memory: no tmp dirs, no buckets; chia needs --override-k below k32)."""
    in_memory = module is bladebit and spec.command[-1] != "diskplot"
    want: dict[str, object] = {
        "k": spec.k,
        "count": spec.count,
        "threads": spec.threads,
        "buckets": None if in_memory else spec.buckets,
        "buffer": spec.buffer_mib,
        "tmp": None if in_memory else tmp,
        "tmp2": None if in_memory else tmp2,
        "dst": dst,
        "farmer_pk": spec.farmer_pk,
        "pool_pk": spec.pool_pk,
        "pool_contract_address": spec.pool_contract_address,
        "compression": spec.compression,
        "nobitfield": spec.nobitfield or None,
        "exclude_final_dir": spec.exclude_final_dir or None,
        "alternate": spec.alternate or None,
        "override_k": (module is chia and spec.k < 32) or None,
    }
    return {k: "1" if v is True else str(v) for k, v in want.items() if v is not None}


def _norm(values: dict[str, str]) -> dict[str, str]:
    return {k: os.path.normpath(v) if k in ("tmp", "tmp2", "dst") else v for k, v in values.items()}


@given(specs())
def test_build_argv_parses_back_unchanged(case: tuple[object, Plotter, PlotSpec, str, str | None, str]) -> None:
    module, plotter, spec, tmp, tmp2, dst = case
    argv = module.build_argv(spec, tmp, tmp2, dst)  # type: ignore[attr-defined]
    parsed = parse_options(argv)
    assert parsed is not None, argv
    got_plotter, values = parsed.plotter, parsed.values
    assert got_plotter is plotter
    assert _norm(values) == _expected(module, spec, tmp, tmp2, dst), argv
    job = parse_cmdline(argv, cwd="/elsewhere")
    assert job is not None
    assert (job.k, job.dst_dir, job.count) == (spec.k, dst, spec.count)
    if "tmp" in values:
        assert job.tmp_dir == tmp


def test_chia_build_argv_shape() -> None:
    spec = PlotSpec(executable=("chia",), command=("plots", "create"), k=20, threads=2, buckets=16, buffer_mib=200)
    argv = chia.build_argv(spec, "/mnt/tmp/00", None, "/mnt/dst/00")
    assert argv == [
        "chia", "plots", "create", "-k", "20", "--override-k", "-n", "1", "-r", "2", "-u", "16", "-b", "200",
        "-t", "/mnt/tmp/00", "-d", "/mnt/dst/00",
    ]  # fmt: skip


def test_madmax_dirs_end_with_a_slash() -> None:
    spec = PlotSpec(executable=("chia_plot",), command=(), k=32, threads=8)
    argv = madmax.build_argv(spec, "/mnt/tmp", "/mnt/ram/", "/mnt/dst")
    assert argv[argv.index("-t") + 1] == "/mnt/tmp/"
    assert argv[argv.index("-2") + 1] == "/mnt/ram/"
    assert argv[argv.index("-d") + 1] == "/mnt/dst/"


def test_bladebit_dst_is_the_last_word() -> None:
    spec = PlotSpec(executable=("bladebit",), command=("diskplot",), k=32, compression=5, buckets=256)
    argv = bladebit.build_argv(spec, "/mnt/tmp", None, "/mnt/dst")
    assert argv[-1] == "/mnt/dst"
    assert argv.index("--compress") < argv.index("diskplot") < argv.index("-t1")
