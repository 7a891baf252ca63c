"""Time every SQL statement of an engine and count its errors by kind, from SQLAlchemy's events.

Nothing in the engine changes: :func:`time_statements` listens to the
dialect's ``do_execute`` / ``do_executemany`` / ``do_execute_no_params``
events, and runs the statement itself, timed (the documented way for such a
listener: it calls the dialect's own method and answers ``True``, "done").
It does not use ``before_cursor_execute``/``after_cursor_execute``: any
connection-level listener moves every statement to SQLAlchemy's slower path
with events (about 12 µs more per statement, measured), while dialect-level
ones cost a function call.  The statements the engine runs itself on the
DBAPI cursor (its prepared statements and PostgreSQL pipelines, which no
event sees) it times itself, for the observer given to
``restless.time_raw_statements``.  Failed statements are timed too; their errors,
and those met while connecting, are counted by ``handle_error`` by kind
(``restless.error_kind``: ``timeout``, ``unavailable``, ``conflict``,
``integrity``, ``client``, ``internal``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from chinook_svc.restless import error_kind, time_raw_statements

from .families import ServiceMetrics


def time_statements(
    engine: Engine, metrics: ServiceMetrics, timer: Callable[[], float] = time.perf_counter
) -> None:
    """Observe every statement ``engine`` runs, and every error it meets, in ``metrics``."""
    observe = metrics.statement_seconds.observe
    dialect = engine.dialect

    def execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        started = timer()
        try:
            dialect.do_execute(cursor, statement, parameters, context)
        finally:
            observe(timer() - started)
        return True

    def execute_many(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        started = timer()
        try:
            dialect.do_executemany(cursor, statement, parameters, context)
        finally:
            observe(timer() - started)
        return True

    def execute_no_params(cursor: Any, statement: str, context: Any) -> bool:
        started = timer()
        try:
            dialect.do_execute_no_params(cursor, statement, context)
        finally:
            observe(timer() - started)
        return True

    def failed(exception_context: Any) -> None:
        exc = exception_context.sqlalchemy_exception or exception_context.original_exception
        metrics.statement_error(error_kind(exc))

    # The engine's prepared statements run on the DBAPI cursor, past the events.
    time_raw_statements(engine, observe)
    event.listen(engine, "do_execute", execute)
    event.listen(engine, "do_executemany", execute_many)
    event.listen(engine, "do_execute_no_params", execute_no_params)
    event.listen(engine, "handle_error", failed)


__all__ = ["time_statements"]
