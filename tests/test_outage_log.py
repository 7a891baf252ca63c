"""503s are logged during an outage, rate-limited: the first at once, then one line per interval.

The API's 503s come from three places: a database error that means "try
again" (``dberrors``), a full queue and a missed deadline (``runner``).  Each
kind is logged with a count, never more than once per interval, so an
outage shows in the log without flooding it.
"""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from twisted.logger import LogLevel, capturedLogs, formatEvent

from chinook_svc.restless import _dberrors as dberrors
from chinook_svc.restless import create_database_engine
from chinook_svc.restless._outages import OutageLog

from . import backends


class FakeTime:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        """The time."""
        return self.now


def test_outage_log_counts_between_lines() -> None:
    """First event: a line at once; then silence for the interval, then one line with the count."""
    clock = FakeTime()
    log = OutageLog(interval=10.0, clock=clock)
    with capturedLogs() as events:
        assert log.note("down", "{count} failed") is True
        assert [log.note("down", "{count} failed") for _ in range(49)] == [False] * 49
        clock.now += 10.0
        assert log.note("down", "{count} failed") is True
        assert log.note("other", "{count} other") is True  # each kind on its own
    lines = [formatEvent(e) for e in events]
    assert lines == ["1 failed", "50 failed", "1 other"]
    assert {e["log_level"] for e in events} == {LogLevel.warn}


@pytest.fixture
def refused() -> Engine:
    """An engine on a PostgreSQL port nothing listens on."""
    engine = create_database_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", threads=1)
    yield engine
    engine.dispose()


def test_database_503s_are_logged_once_per_interval(
    refused: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 requests refused by the database: 30 answers 503, one warning naming the cause."""
    monkeypatch.setattr(dberrors, "DATABASE_ERRORS", OutageLog(interval=60.0))
    client = backends.chinook_client(refused)
    with capturedLogs() as events:
        codes = [client.get("/api/albums/1").code for _ in range(30)]
    assert codes == [503] * 30
    lines = [formatEvent(e) for e in events if "503" in formatEvent(e)]
    assert len(lines) == 1, lines
    assert "Database unavailable" in lines[0] and "OperationalError" in lines[0]
    assert "SELECT" not in lines[0]
