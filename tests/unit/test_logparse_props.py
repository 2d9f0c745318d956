"""Property tests: no input makes the parser raise, chunking never matters, the phase never goes backwards."""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plotter_agent.logparse import LogInfo, LogParser
from tests.unit.logsamples import ALL_LOGS

JUNK = [b"\x00", b"\x1b[32m", b"\x1b[0m", b"\x1b[", b"\xff\xfe", b"\xc3", b"\xe2\x82", b"\r", b"\n", b"\t", b"\x1b"]


@cache
def sample_bytes(i: int) -> bytes:
    return ALL_LOGS[i].read_bytes()


def feed_checked(data: bytes, cuts: list[int]) -> LogInfo:
    """Feed ``data`` split at ``cuts``; assert (plot index, phase) never goes backwards between chunks."""
    parser = LogParser()
    last = (parser.info.plot_index, parser.info.phase)
    start = 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        parser.feed(data[start:cut] if cut > start else b"")
        start = max(start, cut)
        assert (parser.info.plot_index, parser.info.phase) >= last
        last = (parser.info.plot_index, parser.info.phase)
    parser.flush()
    assert (parser.info.plot_index, parser.info.phase) >= last
    return parser.info


def whole(data: bytes) -> LogInfo:
    parser = LogParser()
    parser.feed(data)
    parser.flush()
    return parser.info


@st.composite
def mutated_sample(draw: st.DrawFn) -> bytes:
    data = bytearray(sample_bytes(draw(st.integers(0, len(ALL_LOGS) - 1))))
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[pos:pos] = draw(st.sampled_from(JUNK)) * draw(st.integers(1, 3))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 200))]
        elif kind == "truncate":
            del data[pos:]
    return bytes(data)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=4096), cuts=st.lists(st.integers(0, 4096), max_size=20))
def test_random_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    assert feed_checked(data, cuts) == whole(data)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_sample(), cuts=st.lists(st.integers(0, 300_000), max_size=30))
def test_mutated_samples_never_raise_and_chunking_does_not_matter(data: bytes, cuts: list[int]) -> None:
    info = feed_checked(data, cuts)
    assert info == whole(data)
    if info.plot_id is not None:
        assert len(info.plot_id) == 64


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "Computing table 3",
                    "Backpropagating on table 4",
                    "Compressing tables 2 and 3",
                    "Starting phase 2/4: Backpropagation into tmp files... Wed Nov 25 17:07:00 2026",
                    "Time for phase 1 = 1e999 seconds.",
                    "Time for phase 2 = 1.2.3 seconds.",
                    "Total time = nan seconds.",
                    "ID: " + "a" * 64,
                    "Plot size is: 999",
                    'Renamed final file from "" to ""',
                    "Multi-threaded pipelined Chia k99 plotter",
                    "Plot Name: plot-k32-9999-99-99-99-99-" + "b" * 64,
                    "Phase 9 took 3 sec",
                    "Creating 1 plots:",
                    "Finished Phase 1 in 1e400 seconds",
                    "Finished writing plot .",
                    "Starting phase 1/4: x... Xyz Abc 99 99:99:99 9999",
                    "2021-13-45T99:99:99.999  chia.plotting.create_plots : INFO Starting plot 1/1",
                ]
            ),
            st.text(max_size=80),
        ),
        max_size=60,
    )
)
def test_odd_lines_in_every_format_never_raise(lines: list[str]) -> None:
    data = "\n".join(lines).encode("utf-8", errors="surrogatepass")
    info = feed_checked(data, [len(data) // 3, len(data) // 2])
    for seconds in info.phase_times.values():
        assert seconds >= 0 and seconds != float("inf")


def line_by_line(data: bytes) -> LogInfo:
    """Each line fed on its own: every line goes through the parser's one-line path, never through its search over a
    block of lines (LogParser._block)."""
    parser = LogParser()
    *lines, last = data.split(b"\n")
    for line in lines:
        parser.feed(line + b"\n")
    parser.feed(last)
    parser.flush()
    return parser.info


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(mutated_sample(), st.binary(max_size=2048)))
def test_a_block_of_lines_reads_as_its_lines_one_by_one(data: bytes) -> None:
    assert whole(data) == line_by_line(data)


PAYLOADS = [
    b"ID: " + b"a" * 64,
    b"Starting plotting progress into temporary dirs: /t and /t2",
    b"Starting phase 1/4: Forward Propagation into tmp files... Wed Nov 25 17:07:00 2026",
    b"Time for phase 1 = 2.5 seconds. CPU (100%) Wed Nov 25 17:07:00 2026",
    b"Total time = 9.5 seconds. CPU (100%) Wed Nov 25 17:07:00 2026",
    b"Multi-threaded pipelined Chia k32 plotter",
    b"Phase 1 took 3 sec",
    b"Bucket 1 uniform sort.",
    b"",
]
LEADS = [b"", b" ", b"\t", b"\x0b", b"\x0c", b"\x00", b"\x1b[32m", b"\r", b"\x1c", b"\xc2\xa0"]


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.tuples(st.sampled_from(LEADS), st.sampled_from(PAYLOADS)), max_size=30))
def test_odd_leads_read_alike_in_a_block_and_line_by_line(lines: list[tuple[bytes, bytes]]) -> None:
    data = b"\n".join(lead + payload for lead, payload in lines) + b"\n"
    assert whole(data) == line_by_line(data)
