"""Plot file names and sizes by k, shared by both agents.

A final plot is named ``plot-k<k>-<yyyy>-<mm>-<dd>-<HH>-<MM>-<64 hex id>.plot`` (chia, madMAx and bladebit all use
this form), or ``plot-k<k>-c<NN>-<date>-<id>.plot`` for a compressed plot (bladebit 3 and chia 2.x
``chia plotters bladebit``, whose ``--compress`` defaults to 1; chia 2 farms them). ``plot-mmx-`` plots are not
farmed by chia and not accepted. The date must be a real one (month 1..12, a day that month has, hour 0..23,
minute 0..59).

The 64 hex digits are the plot id: two files with one id are the same plot (a farm holds each id once, whatever the
date, k or compression level in the name).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple

from plotboss.errors import InvalidArgument

MIN_K = 18
MAX_K = 50

PLOT_NAME_RE = re.compile(
    r"^plot-k(?P<k>[0-9]{2})(?:-c(?P<compression>[0-9]{2}))?"
    r"-(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2})-(?P<plot_id>[0-9a-f]{64})\.plot\Z"
)


class PlotName(NamedTuple):
    name: str
    k: int
    plot_id: str


def parse_plot_name(name: str) -> PlotName:
    """Validate a final plot file name (no directories) and return its parts; InvalidArgument if it is not one."""
    if not name or "/" in name or "\\" in name or "\x00" in name:
        raise InvalidArgument(f"plot name {name[:100]!r}: must be a bare file name without path separators")
    m = PLOT_NAME_RE.match(name)
    if m is None:
        raise InvalidArgument(
            f"plot name {name[:100]!r}: expected plot-k<k>[-c<NN>]-<yyyy-mm-dd-HH-MM>-<64 hex digits>.plot"
        )
    try:
        datetime.strptime(m["date"], "%Y-%m-%d-%H-%M")
    except ValueError:
        raise InvalidArgument(
            f"plot name {name[:100]!r}: {m['date']} is not a real date and time (yyyy-mm-dd-HH-MM)"
        ) from None
    k = int(m["k"])
    if not MIN_K <= k <= MAX_K:
        raise InvalidArgument(f"plot name {name[:100]!r}: k={k} is outside {MIN_K}..{MAX_K}")
    return PlotName(name=name, k=k, plot_id=m["plot_id"])


def is_plot_name(name: str) -> bool:
    """True when ``name`` is a valid final plot file name."""
    try:
        parse_plot_name(name)
    except InvalidArgument:
        return False
    return True


def expected_plot_size(k: int) -> int:
    """Chia's upper estimate of a plot's size in bytes: (2k+1) * 2^(k-1) (k=32: 139.6 GB; real ones are ~108.8 GB)."""
    return int((2 * k + 1) * (2 ** (k - 1)))


def max_plot_size(k: int) -> int:
    """The largest size a plot of ``k`` can plausibly have; anything above is refused as absurd."""
    return expected_plot_size(k) * 2
