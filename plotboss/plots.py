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

import functools
import re
from datetime import datetime
from typing import NamedTuple

from plotboss.errors import InvalidArgument

MIN_K = 18
MAX_K = 50

#: The dir (in the target dir) where the archiver's rsync (``--partial-dir``) keeps the partial file of a killed push,
#: as ``<drive>/PARTIAL_DIR/NAME``; the farmer counts and removes it as a temp file of plot NAME on that drive.
PARTIAL_DIR = ".plotboss-partial"

PLOT_NAME_RE = re.compile(
    r"^plot-k(?P<k>[0-9]{2})(?:-c(?P<compression>[0-9]{2}))?"
    r"-(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2})-(?P<plot_id>[0-9a-f]{64})\.plot\Z"
)


class PlotName(NamedTuple):
    name: str
    k: int
    plot_id: str
    compression: int = 0


@functools.lru_cache(maxsize=16384)
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
    compression = int(m["compression"]) if m["compression"] is not None else 0
    if compression > MAX_COMPRESSION:
        raise InvalidArgument(
            f"plot name {name[:100]!r}: compression level c{compression:02d} is above c{MAX_COMPRESSION:02d}"
        )
    return PlotName(name=name, k=k, plot_id=m["plot_id"], compression=compression)


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


# --- Sizes by k and compression level --------------------------------------------------------------------------------
# Chia's documented figures (docs.chia.net "K Sizes"): a C0 plot is about ((2k+1) * 2^(k-1)) * 0.78005 bytes
# (k32: 108.8 GB = 101.4 GiB), and a compressed plot of level N is the k32 figure below relative to C0. C8 is not in
# the table; it is taken halfway between C7 and C9. Measured with the test-bed stand-in (chiapos 2.0.12): k18 3.85 MB,
# k19 8.58 MB, k20 17.04 MB, k22 73.86 MB, i.e. 0.3 %..7.6 % above the formula.
PLOT_SIZE_FACTOR = 0.78005
MAX_COMPRESSION = 9
_K32_GIB_BY_COMPRESSION: tuple[float, ...] = (101.4, 87.5, 86.0, 84.5, 82.9, 81.3, 79.6, 78.0, 76.6, 75.2)
# A final file smaller than this fraction of its expected size is not a whole plot (a copy cut short, a stray file).
PLAUSIBLE_MIN_FRACTION = 0.85


def _compression_ratio(compression: int) -> float:
    if not 0 <= compression <= MAX_COMPRESSION:
        raise InvalidArgument(f"compression level {compression}: expected 0..{MAX_COMPRESSION}")
    return _K32_GIB_BY_COMPRESSION[compression] / _K32_GIB_BY_COMPRESSION[0]


def plot_size(k: int, compression: int = 0) -> int:
    """Chia's documented size of a finished plot of ``k`` at ``compression`` level, in bytes (k32 C0: 101.4 GiB)."""
    return int((2 * k + 1) * (2 ** (k - 1)) * PLOT_SIZE_FACTOR * _compression_ratio(compression))


def plausible_plot_size_range(k: int, compression: int = 0) -> tuple[int, int]:
    """The sizes a whole plot of ``k``/``compression`` can have: from 85 % of its documented size up to Chia's upper
    estimate ``expected_plot_size(k)`` (28 % above the C0 size). A file named like a plot outside it is suspect."""
    return int(plot_size(k, compression) * PLAUSIBLE_MIN_FRACTION), expected_plot_size(k)


def is_plausible_plot_size(size_bytes: int, k: int, compression: int = 0) -> bool:
    """True when ``size_bytes`` is a size a whole plot of ``k``/``compression`` can have."""
    lo, hi = plausible_plot_size_range(k, compression)
    return lo <= size_bytes <= hi


# Peak temporary space one job needs, as a multiple of its final C0 plot size, from each plotter's documented k32
# figures: chiapos 239 GiB with the bitfield (332 GiB with -e), madMAx 220 GiB tmpdir + 110 GiB tmpdir2 (< 256 GiB
# together), bladebit diskplot ~480 GiB (390 GiB with --alternate); bladebit ramplot and cudaplot keep it all in RAM.
# For the split between tmp and tmp2 the whole peak is charged to tmp unless the plotter puts part of it in tmp2.
# Measured with the test-bed stand-in (chiapos 2.0.12, 16 buckets, stripe 4000, tmp2 = tmp; du of the tmp dir every
# 50 ms): k20 peak 40.49 MB for a 17.20 MB plot, k21 83.37 MB for 35.45 MB, i.e. 2.35x the real plot as at k32
# (239/101.4 = 2.36x); against plot_size() (below the real size at small k) the charge is 2.5 % (k20) and 0.6 %
# (k21) under the measured peak, so tests at small k leave that much slack.
_TMP_FACTOR: dict[tuple[str, str], tuple[float, float]] = {
    # (plotter, mode): (tmp factor, tmp2 factor), relative to plot_size(k, 0)
    ("chia", ""): (239 / 101.4, 0.0),
    ("chia", "nobitfield"): (332 / 101.4, 0.0),
    ("madmax", ""): (220 / 101.4, 110 / 101.4),
    ("bladebit", "diskplot"): (480 / 101.4, 0.0),
    ("bladebit", "diskplot-alternate"): (390 / 101.4, 0.0),
    ("bladebit", "ramplot"): (0.0, 0.0),
    ("bladebit", "cudaplot"): (0.0, 0.0),
}


def peak_tmp_bytes(plotter: str, mode: str, k: int, *, separate_tmp2: bool = False) -> tuple[int, int]:
    """Peak bytes (in tmp, in tmp2) one job of ``plotter``/``mode`` at ``k`` writes; with ``separate_tmp2`` False the
    tmp2 share is added to tmp. An unknown (plotter, mode) is charged as chia's, the most common."""
    tmp_f, tmp2_f = _TMP_FACTOR.get((plotter, mode), _TMP_FACTOR[("chia", "")])
    base = plot_size(k, 0)
    if separate_tmp2:
        return int(base * tmp_f), int(base * tmp2_f)
    return int(base * (tmp_f + tmp2_f)), 0
