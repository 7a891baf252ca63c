"""Statements compiled once and run on the DBAPI cursor: the engine's hot path.

Building and compiling a SQLAlchemy statement for every request costs far
more than running it.  A :class:`Prepared` statement is compiled once per
dialect; each execution only binds parameters, runs the SQL on the raw DBAPI
cursor of a SQLAlchemy connection (same transaction) and converts the rows
with the column types' result processors.

Errors are turned into SQLAlchemy's exception classes, and a disconnect
invalidates the connection, as SQLAlchemy's own execution path does.  When
the engine has cursor-execute listeners (statement counting in tests, say),
execution goes through SQLAlchemy instead, so that they see every statement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Executable

Processor = Callable[[Any], Any] | None


class Prepared:
    """One statement compiled for one dialect.

    Args:
        stmt: a statement whose varying values are named ``bindparam`` s.
        dialect: the dialect to compile for.
    """

    def __init__(self, stmt: Executable, dialect: Dialect) -> None:
        compiled: Any = stmt.compile(dialect=dialect)  # type: ignore[attr-defined]
        self.statement = stmt
        self.sql: str = compiled.string
        self.positional = bool(dialect.positional)
        self.names: Sequence[str] = tuple(compiled.positiontup or ())
        self.bind_processors: Mapping[str, Any] = dict(compiled._bind_processors)
        self.defaults: Mapping[str, Any] = {
            name: bind.value for name, bind in compiled.binds.items() if bind.value is not None
        }
        self.result_processors: list[Processor] = [
            column.type._cached_result_processor(dialect, None)
            for column in compiled._result_columns
        ]
        self.dialect = dialect

    def _parameters(self, values: Mapping[str, Any]) -> Any:
        params = {**self.defaults, **values} if self.defaults else dict(values)
        for name, process in self.bind_processors.items():
            if name in params:
                params[name] = process(params[name])
        if self.positional:
            return tuple(params[name] for name in self.names)
        return params

    def run(
        self, conn: Connection, values: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Execute with ``values`` and return every row, result processors applied."""
        values = values or {}
        if conn._has_events or conn.engine._has_events:
            rows = [tuple(r) for r in conn.execute(self.statement, values)]
            return rows
        params = self._parameters(values)
        dbapi_conn: Any = conn.connection.driver_connection
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        except self.dialect.loaded_dbapi.Error as e:
            self._raise(conn, e, params, cursor)
        finally:
            cursor.close()
        processors = self.result_processors
        if any(processors):
            return [
                tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
                for row in rows
            ]
        return rows  # type: ignore[no-any-return,unused-ignore]

    def scalar(self, conn: Connection, values: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row."""
        return self.run(conn, values)[0][0]

    def _raise(self, conn: Connection, error: Any, params: Any, cursor: Any) -> None:
        disconnect = self.dialect.is_disconnect(error, conn.connection.dbapi_connection, cursor)
        wrapped = sa_exc.DBAPIError.instance(
            self.sql,
            params,
            error,
            self.dialect.loaded_dbapi.Error,
            connection_invalidated=disconnect,
            dialect=self.dialect,
        )
        if disconnect:
            conn.invalidate(wrapped)
        raise wrapped from error


class PreparedCache:
    """Prepared statements of one engine, built on first use by a factory."""

    def __init__(self) -> None:
        self._statements: dict[Any, Prepared] = {}

    def get(self, key: Any, dialect: Dialect, build: Callable[[], Executable]) -> Prepared:
        """The statement for ``key`` (built and compiled on first use)."""
        prepared = self._statements.get((key, dialect.name))
        if prepared is None:
            prepared = self._statements[(key, dialect.name)] = Prepared(build(), dialect)
        return prepared


def padded(count: int) -> int:
    """The IN-list size a batch of ``count`` keys uses (few distinct statements)."""
    size = 1
    while size < count:
        size *= 2
    return size
