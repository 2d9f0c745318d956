"""Plot file names: the forms chia farms are accepted, everything else is refused with a clear error."""

from __future__ import annotations

import pytest

from plotboss.errors import InvalidArgument
from plotboss.plots import is_plot_name, parse_plot_name

ID = "ab" * 32


@pytest.mark.parametrize(
    ("name", "k"),
    [
        (f"plot-k32-2021-05-05-12-34-{ID}.plot", 32),
        (f"plot-k25-2026-11-25-17-10-{ID}.plot", 25),
        (f"plot-k32-c05-2023-06-01-10-00-{ID}.plot", 32),  # bladebit compressed (chia 2 `--compress`)
        (f"plot-k32-c01-2023-06-01-10-00-{ID}.plot", 32),
    ],
)
def test_final_plot_names(name: str, k: int) -> None:
    p = parse_plot_name(name)
    assert (p.k, p.plot_id) == (k, ID) and is_plot_name(name)


@pytest.mark.parametrize(
    "date",
    [
        "2021-13-05-12-34",
        "2021-02-30-12-34",
        "2023-02-29-12-34",
        "2021-05-05-24-00",
        "2021-05-05-12-60",
        "0000-01-01-00-00",
    ],
)
def test_the_date_field_must_be_a_real_date(date: str) -> None:
    for name in (f"plot-k32-{date}-{ID}.plot", f"plot-k32-c01-{date}-{ID}.plot"):
        assert not is_plot_name(name)
        with pytest.raises(InvalidArgument, match=f"{date} is not a real date"):
            parse_plot_name(name)
    assert parse_plot_name(f"plot-k32-2024-02-29-23-59-{ID}.plot").plot_id == ID  # a leap day is one


@pytest.mark.parametrize(
    "name",
    [
        f"plot-k32-2021-05-05-12-34-{ID}.plot.tmp",
        f"plot-k32-2021-05-05-12-34-{ID}.plot.2.tmp",
        f"plot-k32-c5-2021-05-05-12-34-{ID}.plot",
        f"plot-mmx-k32-2021-05-05-12-34-{ID}.plot",
        f"plot-k32-2021-05-05-12-34-{ID}.plot\n",
        f"plot-k17-2021-05-05-12-34-{ID}.plot",
        f"../plot-k32-2021-05-05-12-34-{ID}.plot",
        "",
    ],
)
def test_not_final_plot_names(name: str) -> None:
    assert not is_plot_name(name)
    with pytest.raises(InvalidArgument, match="plot name"):
        parse_plot_name(name)


def test_documented_sizes_by_k_and_compression() -> None:
    from plotboss.plots import plot_size

    gib = 1024**3
    assert round(plot_size(32) / gib, 1) == 101.4
    assert round(plot_size(32) / 1e9, 1) == 108.9  # docs: 108.88 GB
    assert round(plot_size(32, 1) / gib, 1) == 87.5
    assert round(plot_size(32, 7) / gib, 1) == 78.0
    assert round(plot_size(33) / gib) == 209  # docs: 208.8 GiB
    assert plot_size(32, 9) < plot_size(32, 7) < plot_size(32, 1) < plot_size(32)


@pytest.mark.parametrize(
    ("k", "size"),
    # real plots made by the test-bed stand-in (chiapos 2.0.12) on 2026-12-01
    [(18, 3_845_671), (19, 8_580_369), (20, 17_043_896), (22, 73_859_960)],
)
def test_real_small_plots_are_plausible(k: int, size: int) -> None:
    from plotboss.plots import is_plausible_plot_size

    assert is_plausible_plot_size(size, k)
    assert not is_plausible_plot_size(size, k + 1)  # one k up is twice the size: not this plot
    assert not is_plausible_plot_size(6, k)  # a 6-byte file named like a plot


def test_compression_parsed_and_bounded() -> None:
    assert parse_plot_name(f"plot-k32-c05-2023-06-01-10-00-{ID}.plot").compression == 5
    assert parse_plot_name(f"plot-k32-2023-06-01-10-00-{ID}.plot").compression == 0
    with pytest.raises(InvalidArgument, match="c10"):
        parse_plot_name(f"plot-k32-c10-2023-06-01-10-00-{ID}.plot")


def test_peak_tmp_bytes() -> None:
    from plotboss.plots import peak_tmp_bytes

    gib = 1024**3
    assert round(peak_tmp_bytes("chia", "", 32)[0] / gib) == 239
    assert peak_tmp_bytes("madmax", "", 32, separate_tmp2=True)[1] > 0
    assert peak_tmp_bytes("bladebit", "ramplot", 32) == (0, 0)
