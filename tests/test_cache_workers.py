"""The response cache stays correct across the workers of one instance, on every database.

``twistd chinook --workers 2 --cache-ttl 30 --allow-writes`` (real processes,
real sockets): once every worker has the album and the tracks inlining it
in its cache, a PATCH through one worker; every read sent after its answer
arrived, each on a new connection (so both workers answer), shows the new
title: the write bumped the shared generation table before answering.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import backends
from .cache_support import READS, read_title, rename_album, start
from .test_twistd import Twistd

pytestmark = pytest.mark.slow

ROUNDS = 3
READS_AFTER = 30  # per URL and round


@pytest.fixture(params=backends.PARAMS)
def two_workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Twistd]:
    """Two workers with a 30 s response cache and writes, on a private copy of the sample."""
    cleanups: list[Callable[[], None]] = []
    try:
        url, _ = backends.served_copy(request, request.param, tmp_path, cleanups)
        server = start(url, tmp_path / "service", "--workers", "2")
        try:
            yield server
        finally:
            server.kill()
    finally:
        for cleanup in reversed(cleanups):
            cleanup()


def test_no_stale_read_after_a_patch_in_any_worker(two_workers: Twistd) -> None:
    """After each PATCH's answer, every read from either worker shows the new title (0 stale)."""
    port = two_workers.port
    stale: list[tuple[str, str, str]] = []
    for round_ in range(ROUNDS):
        for path in READS * 10:  # warm both workers' caches with the current title
            read_title(port, path)
        title = f"Renamed {round_}"
        rename_album(port, title)
        for path in READS * READS_AFTER:
            seen = read_title(port, path)
            if seen != title:
                stale.append((path, seen, title))
    assert stale == [], f"{len(stale)} stale reads of {ROUNDS * READS_AFTER * len(READS)}"
