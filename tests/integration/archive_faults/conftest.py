"""Fixtures of the archiver fault tests: real plots (made once per session by the chia stand-in) and a bed that
stops everything a test started."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.archive_bed import Bed, make_plots

#: archiver settings that keep a fault test short: quick passes and retries (the back-off rules are the engine's own,
#: only their base is small here)
QUICK: dict[str, Any] = {"polling_time_s": 0.5, "retry_base_s": 1.0, "retry_cap_s": 4.0}


@pytest.fixture(scope="session")
def real_plots(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """One real plot each of k=18 and 19 (about 4 and 8 MB), made once for the session (side by side)."""
    ks = (18, 19)
    return dict(zip(ks, make_plots(tmp_path_factory.mktemp("plots"), ks), strict=True))


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Bed]:
    b = Bed(tmp_path)
    try:
        yield b
    finally:
        b.close()
