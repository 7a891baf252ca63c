"""Several prepared statements in one round trip to the database, where the driver can.

A page costs a count, the page's rows and one batch per inlined relation.
On a database server each statement sent and waited for is a network round
trip.  With psycopg 3 (PostgreSQL), :func:`run_together` sends the
statements that do not depend on each other in one pipeline
(`psycopg's pipeline mode
<https://www.psycopg.org/psycopg3/docs/advanced/pipeline.html>`_): every
statement goes out, one ``Sync`` follows, and the answers come back
together, one round trip for all.  Elsewhere (SQLite in process, MariaDB's
drivers without a pipeline) they run one after another, as before.

Reads on PostgreSQL run in autocommit (:func:`reading`): no ``BEGIN`` before
the first statement and no ``ROLLBACK`` when the connection goes back to the
pool, two round trips fewer per request.  The statements of one pipeline
still share a snapshot (the server runs everything up to a ``Sync`` as one
implicit transaction); statements in different round trips see what was
committed in between, as they did under ``READ COMMITTED`` in one
transaction.  A page on PostgreSQL is then two round trips: the count with
the page's rows, then every relation's batch (``_loader``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack, suppress
from typing import Any

from sqlalchemy.engine import Connection

from ._prepared import Prepared, traced

#: One statement to run: the prepared statement and its values.
Planned = tuple[Prepared, Mapping[str, Any]]


def pipelines(conn: Connection) -> bool:
    """Whether statements on ``conn`` can share a round trip (psycopg 3, no listeners)."""
    return conn.dialect.driver == "psycopg" and not traced(conn)


def reading(conn: Connection) -> Connection:
    """``conn`` set up for reads: autocommit where that saves round trips (psycopg)."""
    if conn.dialect.driver == "psycopg":
        conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


def run_together(conn: Connection, planned: Sequence[Planned]) -> list[list[tuple[Any, ...]]]:
    """Every statement's rows, in order; in one round trip where :func:`pipelines`."""
    if len(planned) < 2 or not pipelines(conn):
        return [prepared.run(conn, values) for prepared, values in planned]
    dbapi_conn: Any = conn.connection.driver_connection
    error = conn.dialect.loaded_dbapi.Error
    params = [prepared.parameters(values) for prepared, values in planned]
    cursors: list[Any] = []
    sql = planned[0][0].sql
    try:
        with ExitStack() as closing:
            with dbapi_conn.pipeline():
                for (prepared, _), values in zip(planned, params, strict=True):
                    cursor = dbapi_conn.cursor()
                    closing.callback(_close, cursor, error)
                    cursors.append(cursor)
                    sql = prepared.sql
                    cursor.execute(sql, values)
            # Leaving the pipeline sent the Sync and fetched every answer.
            return [
                prepared.converted(cursor.fetchall(), cursor.description)
                for (prepared, _), cursor in zip(planned, cursors, strict=True)
            ]
    except error as e:
        # SQLAlchemy's own handler: wraps the error; a disconnect invalidates the pool.
        conn._handle_dbapi_exception(e, sql, None, None, None)
        raise  # not reached: the handler raises


def _close(cursor: Any, error: type[Exception]) -> None:
    with suppress(error):
        cursor.close()
