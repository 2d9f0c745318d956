"""What the per-plotter option tables are made of, and the plotter-neutral description of a job to start.

Each plotter module (chia, madmax, bladebit) holds its option tables (spellings -> field) beside its log handlers and
a ``build_argv(spec, tmp, tmp2, dst)`` that writes a command line :func:`plotter_agent.cmdline.parse_options` reads
back to the same fields (as plotman keeps ``create_command_line`` beside its parser).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Opt:
    """One option spelling: the field it sets ('' = skipped), and whether it takes a value (else it is a flag,
    recorded as ``"1"`` when it has a field)."""

    field: str
    takes_value: bool = True


def table(
    spec: dict[str, tuple[str, ...]], flags: Sequence[str] = (), flag_fields: dict[str, str] | None = None
) -> dict[str, Opt]:
    """An option table: ``spec`` maps a field to its value-taking spellings; ``flags`` take no value (their field
    from ``flag_fields``, by spelling, else none)."""
    out: dict[str, Opt] = {}
    for field, names in spec.items():
        for n in names:
            out[n] = Opt(field)
    for n in flags:
        out[n] = Opt((flag_fields or {}).get(n, ""), takes_value=False)
    return out


@dataclass(frozen=True)
class PlotSpec:
    """A job to start, plotter-neutral: what ``plotting:`` in plotter.yaml says, ready for a ``build_argv``.

    ``command`` is how the plotter is invoked after the executable: chia ``plots create`` or ``plotters chiapos``;
    chia 2.x ``plotters madmax`` / ``plotters bladebit ramplot|diskplot|cudaplot``; '' for madMAx's own ``chia_plot``;
    ``ramplot``/``diskplot``/``cudaplot`` for bladebit's own executable.
    """

    executable: tuple[str, ...]
    command: tuple[str, ...]
    k: int
    threads: int | None = None
    buckets: int | None = None
    buffer_mib: int | None = None
    count: int = 1
    farmer_pk: str | None = None
    pool_pk: str | None = None
    pool_contract_address: str | None = None
    compression: int | None = None
    #: chia: -e (no bitfield); bladebit diskplot: --alternate
    nobitfield: bool = False
    alternate: bool = False
    exclude_final_dir: bool = False
    override_k: bool = False
    extra_args: tuple[str, ...] = ()


def opt(flag: str, value: object | None) -> list[str]:
    """``[flag, str(value)]``, or nothing when value is None."""
    return [] if value is None else [flag, str(value)]
