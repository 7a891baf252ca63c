"""Time every SQL statement of an engine and count its errors by kind, from SQLAlchemy's events.

Nothing in the engine changes: :func:`time_statements` listens to the
engine's ``before_cursor_execute`` / ``after_cursor_execute`` (the time a
statement took, in the database thread that ran it) and ``handle_error``
events (the failed statement's time, and its kind by
``restless.error_kind``: ``timeout``, ``unavailable``, ``conflict``,
``integrity``, ``client``, ``internal``; errors while connecting count too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from chinook_svc.restless import error_kind

from .families import ServiceMetrics

#: The attribute of an execution context holding its statement's start.
_STARTED = "_chinook_started"


def time_statements(
    engine: Engine, metrics: ServiceMetrics, timer: Callable[[], float] = time.perf_counter
) -> None:
    """Observe every statement ``engine`` runs, and every error it meets, in ``metrics``."""
    observe = metrics.statement_seconds.observe

    def before(conn: Any, cursor: Any, sql: Any, params: Any, context: Any, many: Any) -> None:
        if context is not None:
            setattr(context, _STARTED, timer())

    def after(conn: Any, cursor: Any, sql: Any, params: Any, context: Any, many: Any) -> None:
        started = getattr(context, _STARTED, None)
        if started is not None:
            observe(timer() - started)

    def failed(exception_context: Any) -> None:
        started = getattr(exception_context.execution_context, _STARTED, None)
        if started is not None:
            observe(timer() - started)
        exc = exception_context.sqlalchemy_exception or exception_context.original_exception
        metrics.statement_error(error_kind(exc))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)


__all__ = ["time_statements"]
