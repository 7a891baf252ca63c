"""Metrics of what the service calls: SQL statements and their errors, ``/aggregate`` upstreams.

Statements run on real databases (a SQLite file; PostgreSQL for a server's
statement timeout); the upstreams are the aggregate tests' fake, in memory,
behind an agent that refuses connections to one host as a closed port does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from treq.testing import RequestTraversalAgent, StubTreq
from twisted.internet.defer import Deferred, ensureDeferred, fail
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.web.iweb import IAgent
from zope.interface import implementer

from chinook_svc.aggregate import AggregateRoutes, AggregateSettings
from chinook_svc.metrics import ServiceMetrics
from chinook_svc.metrics.statements import time_statements
from chinook_svc.restless import create_database_engine

from .aggregate_upstream import FakeUpstream
from .metrics_support import of, total
from .test_aggregate_routes import Root

UP = "http://upstream.test"
DOWN = "http://down.test"


def failing(engine: Any, sql: str) -> None:
    """Run ``sql``; it must fail."""
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(text(sql))


def test_sqlite_statements_and_errors_by_kind(tmp_path: Path) -> None:
    """Every statement is timed; integrity, conflict, timeout and unavailable errors counted."""
    engine = create_database_engine(
        f"sqlite:///{tmp_path / 'x.db'}", threads=2, statement_timeout=0.2
    )
    metrics = ServiceMetrics()
    time_statements(engine, metrics)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
        conn.execute(text("INSERT INTO t VALUES (1, 'a')"))
    failing(engine, "INSERT INTO t VALUES (2, NULL)")  # integrity
    failing(engine, "INSERT INTO t VALUES (1, 'b')")  # conflict
    # Runs for seconds without the statement timeout (the progress handler interrupts it).
    failing(
        engine,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
        "SELECT count(*) FROM n WHERE i < 100000000",
    )
    samples = of(metrics.registry)
    kinds = {"integrity": 1, "conflict": 1, "timeout": 1}
    for kind, count in kinds.items():
        assert total(samples, "chinook_db_errors_total", kind=kind) == count, kind
    assert total(samples, "chinook_db_errors_total") == 3
    timed = total(samples, "chinook_db_statement_duration_seconds_count")
    assert timed >= 5  # the two good statements and the three failed ones
    assert total(samples, "chinook_db_statement_duration_seconds_sum") >= 0.15  # the timeout's
    engine.dispose()
    missing = create_database_engine(
        f"sqlite:///file:{tmp_path / 'no' / 'x.db'}?mode=ro&uri=true", threads=1
    )
    time_statements(missing, metrics)
    with pytest.raises(DBAPIError):
        missing.connect()
    assert total(of(metrics.registry), "chinook_db_errors_total", kind="unavailable") == 1
    missing.dispose()


@pytest.mark.postgres
def test_postgres_statement_timeout_is_a_timeout(postgres_url: str) -> None:
    """PostgreSQL's ``statement_timeout`` (SQLSTATE 57014) counts as ``timeout``."""
    engine = create_database_engine(postgres_url, threads=2, statement_timeout=0.1)
    metrics = ServiceMetrics()
    time_statements(engine, metrics)
    failing(engine, "SELECT pg_sleep(2)")
    samples = of(metrics.registry)
    assert total(samples, "chinook_db_errors_total", kind="timeout") == 1
    assert total(samples, "chinook_db_errors_total") == 1
    engine.dispose()


@implementer(IAgent)
class RefusingAgent:
    """The in-memory agent, but connections to ``down.test`` are refused."""

    def __init__(self, agent: RequestTraversalAgent) -> None:
        self.agent = agent

    def request(self, method: bytes, uri: bytes, headers: Any = None, body: Any = None) -> Any:
        """Refuse ``down.test``; pass the rest on."""
        if uri.startswith(DOWN.encode()):
            return fail(ConnectionRefusedError())
        return self.agent.request(method, uri, headers, body)


def test_aggregate_calls_by_source_and_outcome() -> None:
    """Each upstream call counted by source and outcome, timed; refusals counted by reason."""
    clock = Clock()
    upstream = FakeUpstream(clock)
    http = RequestTraversalAgent(upstream)
    table = {
        "sources": {
            "ok": UP + "/json?ms=30",
            "status": UP + "/status/500",
            "big": UP + "/bytes/5000",
            "slow": UP + "/hang",
            "down": DOWN + "/json",
        },
        "max_bytes": 1000,
        "timeout": 1.0,
        "deadline": 2.0,
        "max_in_flight": 5,
    }
    metrics = ServiceMetrics()
    routes = AggregateRoutes(
        AggregateSettings.from_table(table), RefusingAgent(http), clock, observer=metrics
    )
    client = StubTreq(Root(routes).app.resource())

    def get() -> Deferred[Any]:
        async def go() -> Any:
            response = await client.get("http://svc.test/aggregate")
            return response.code, await response.content()

        return ensureDeferred(go())

    first = get()
    for _ in range(4):
        http.flush()
        client.flush()
        clock.advance(0.03)
    refused = get()  # every upstream slot is taken by the first request
    client.flush()
    clock.advance(0.88)  # the hanging call times out, 1 s after it started
    http.flush()
    client.flush()
    assert first.result[0] == 200
    assert refused.result[0] == 503
    samples = of(metrics.registry)
    name = "chinook_aggregate_calls_total"
    for source, outcome in [
        ("ok", "ok"), ("status", "bad_status"), ("big", "too_large"),
        ("slow", "timeout"), ("down", "connect"),
    ]:  # fmt: skip
        assert total(samples, name, source=source, outcome=outcome) == 1, source
    assert total(samples, name) == 5
    seconds = "chinook_aggregate_call_duration_seconds"
    assert total(samples, seconds + "_count") == 5
    assert total(samples, seconds + "_sum", source="ok") == pytest.approx(0.03, abs=0.011)
    assert total(samples, seconds + "_sum", source="slow") == pytest.approx(1.0, abs=0.1)
    assert total(samples, "chinook_aggregate_refused_total", reason="overloaded") == 1
