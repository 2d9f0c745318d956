"""The error a failed push is shown with names its cause, not only rsync's generic closing lines."""

from __future__ import annotations

from plotter_agent.archive.records import stderr_detail

# real stderr of a push whose drive filled up mid-transfer (rsync 3.5, a tmpfs filled behind the farmer's back)
DISK_FULL = (
    'rsync: [receiver] write failed on "/d0/plot-k20-x.plot" (in plots): No space left on device (28)',
    "rsync error: error in file IO (code 11) at receiver.c(657) [receiver=3.5.0]",
    "rsync error: error in file IO (code 11) at io.c(1892) [sender=3.5.0]",
    "rsync error: error in file IO (code 11) at io.c(1892) [generator=3.5.0]",
    "rsync: [sender] read error: Connection reset by peer (104)",
)
AUTH = (
    "@ERROR: auth failed on module plots",
    "rsync error: error starting client-server protocol (code 5) at main.c(1954) [sender=3.5.0]",
)


def test_the_cause_comes_first_and_one_generic_line_after() -> None:
    assert stderr_detail(11, None, DISK_FULL) == (
        'rsync exit 11: rsync: [receiver] write failed on "/d0/plot-k20-x.plot" (in plots): No space left on device '
        "(28) | rsync error: error in file IO (code 11) at receiver.c(657) [receiver=3.5.0] | rsync: [sender] read "
        "error: Connection reset by peer (104)"
    )


def test_the_daemons_own_message_is_kept() -> None:
    assert stderr_detail(5, None, AUTH) == "rsync exit 5: " + " | ".join(AUTH)


def test_other_tails_give_their_last_lines_and_a_signal_its_number() -> None:
    assert stderr_detail(12, None, ["a", "", "b", "c", "d"]) == "rsync exit 12: b | c | d"
    assert stderr_detail(None, 9, []) == "rsync killed by signal 9"
