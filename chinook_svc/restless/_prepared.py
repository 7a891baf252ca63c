"""Statements compiled once and run on the DBAPI cursor: the engine's hot path.

Building and compiling a SQLAlchemy statement for every request costs far
more than running it.  A :class:`Prepared` statement is compiled once per
dialect; each execution only binds parameters, runs the SQL on the raw DBAPI
cursor of a SQLAlchemy connection (same transaction) and converts the rows
with the column types' result processors.

Errors are turned into SQLAlchemy's exception classes by SQLAlchemy's own
handler, so that a disconnect invalidates the connection and the rest of the
pool exactly as on SQLAlchemy's execution path.  A connection's
``schema_translate_map`` (a database served from a named schema) is compiled
into the statement; statements are cached per dialect, driver, server
version and schema map.  When
the engine has statement listeners (statement counting in tests, say),
execution goes through SQLAlchemy instead, so that they see every statement.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Executable

#: SQLAlchemy's result processor of one column: a driver value in, a Python value out.
ResultConverter = Callable[[Any], Any] | None


class Prepared:
    """One statement compiled for one dialect.

    Args:
        stmt: a statement whose varying values are named ``bindparam`` s.
        dialect: the dialect to compile for.
        schema_translate_map: schema names to render in place of the tables' own.
    """

    def __init__(
        self,
        stmt: Executable,
        dialect: Dialect,
        schema_translate_map: Mapping[str | None, str | None] | None = None,
    ) -> None:
        compiled: Any = stmt.compile(  # type: ignore[attr-defined]
            dialect=dialect,
            schema_translate_map=schema_translate_map,
            render_schema_translate=bool(schema_translate_map),
        )
        self.statement = stmt
        self.sql: str = compiled.string
        self.positional = bool(dialect.positional)
        self.names: Sequence[str] = tuple(compiled.positiontup or ())
        self.bind_processors: Mapping[str, Any] = dict(compiled._bind_processors)
        variable = {
            name
            for name, bind in compiled.binds.items()
            if bind.value is None and bind.callable is None
        }
        self.defaults: Mapping[str, Any] = {
            name: bind.value for name, bind in compiled.binds.items() if name not in variable
        }
        if compiled.post_compile_params:
            self._expand(compiled, variable)
        self.result_types = [column.type for column in compiled._result_columns]
        # Built on the first run: some drivers' processors depend on the type
        # the cursor reports (psycopg's NUMERIC, say).
        self.result_processors: list[ResultConverter] | None = None
        self.dialect = dialect

    def _expand(self, compiled: Any, variable: set[str]) -> None:
        """Render ``IN`` lists (SQLAlchemy expands them per execution) once, for good.

        Only the values named by ``variable`` may change between executions,
        and they must not be expanded or rendered as literals.
        """
        expanded_names = {b.key for b in compiled.post_compile_params}
        if expanded_names & variable:
            raise ValueError("a variable parameter cannot be expanded once for good")
        params = compiled.construct_params(dict.fromkeys(variable, 0))
        expanded = compiled._process_parameters_for_postcompile(params, _populate_self=False)
        self.sql = expanded.statement
        self.names = tuple(expanded.positiontup or ())
        self.bind_processors = {**self.bind_processors, **(expanded.processors or {})}
        self.defaults = {k: v for k, v in expanded.parameters.items() if k not in variable}

    def _processors(self, description: Sequence[Any] | None) -> list[ResultConverter]:
        codes = [d[1] for d in description or ()] or [None] * len(self.result_types)
        processors = [
            t._cached_result_processor(self.dialect, code)
            for t, code in zip(self.result_types, codes, strict=True)
        ]
        self.result_processors = processors
        return processors

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The DBAPI parameters of one execution with ``values`` (bind processors applied)."""
        params = {**self.defaults, **values} if self.defaults else dict(values)
        for name, process in self.bind_processors.items():
            if name in params:
                params[name] = process(params[name])
        if self.positional:
            return tuple(params[name] for name in self.names)
        return params

    def converted(
        self, rows: list[Any], description: Sequence[Any] | None
    ) -> list[tuple[Any, ...]]:
        """Rows a DBAPI cursor fetched for this statement, result processors applied."""
        processors = self.result_processors or self._processors(description)
        if any(processors):
            return [
                tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
                for row in rows
            ]
        return rows

    def run(
        self, conn: Connection, values: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Execute with ``values`` and return every row, result processors applied."""
        values = values or {}
        if traced(conn):
            return [tuple(r) for r in conn.execute(self.statement, values)]
        params = self.parameters(values)
        dbapi_conn: Any = conn.connection.driver_connection
        cursor = None
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
            description = cursor.description
        except self.dialect.loaded_dbapi.Error as e:
            # SQLAlchemy's own handler: wraps the error, and on a disconnect
            # invalidates this connection and every older one in the pool.
            conn._handle_dbapi_exception(e, self.sql, params, cursor, None)
        finally:
            if cursor is not None:
                with suppress(self.dialect.loaded_dbapi.Error):
                    cursor.close()
        return self.converted(rows, description)

    def scalar(self, conn: Connection, values: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row."""
        return self.run(conn, values)[0][0]


def traced(conn: Connection) -> bool:
    """Whether ``conn`` has statement listeners: statements then go through SQLAlchemy.

    Only listeners that see statements count (``before_cursor_execute`` and
    the like): others, such as ``engine_disposed`` (``_held``) or
    ``handle_error`` (which the raw path calls too), leave the fast path on.
    """
    if not (conn._has_events or conn.engine._has_events):
        return False
    dispatch: Any = conn.dispatch
    return any(getattr(dispatch, name) for name in _STATEMENT_EVENTS)


#: Connection events that see each statement (the raw path would hide it from them).
_STATEMENT_EVENTS = (
    "before_execute",
    "after_execute",
    "before_cursor_execute",
    "after_cursor_execute",
)


def compilation_key(conn: Connection) -> tuple[Any, ...]:
    """What the compiled form of a statement depends on, besides the statement."""
    d = conn.dialect
    schemas = conn.get_execution_options().get("schema_translate_map")
    return (
        d.name,
        d.driver,
        d.paramstyle,
        d.server_version_info,
        tuple(sorted(schemas.items(), key=repr)) if schemas else (),
    )


class PreparedCache:
    """Prepared statements, built on first use by a factory, per :func:`compilation_key`.

    Args:
        max_entries: least recently used statements beyond this many are
            dropped (``None``: keep all; only for keys the code chooses, never
            for keys a client can vary).
    """

    def __init__(self, max_entries: int | None = None) -> None:
        self._statements: OrderedDict[Any, Prepared] = OrderedDict()
        self.max_entries = max_entries
        self._lock = threading.Lock()

    def get(self, key: Any, conn: Connection, build: Callable[[], Executable]) -> Prepared:
        """The statement for ``key`` on ``conn`` (built and compiled on first use)."""
        full_key = (key, compilation_key(conn))
        prepared = self._statements.get(full_key)
        if prepared is None:
            schemas = conn.get_execution_options().get("schema_translate_map")
            prepared = Prepared(build(), conn.dialect, schemas)
            with self._lock:
                self._statements[full_key] = prepared
                if self.max_entries is not None and len(self._statements) > self.max_entries:
                    self._statements.popitem(last=False)
        elif self.max_entries is not None:
            with self._lock, suppress(KeyError):
                self._statements.move_to_end(full_key)
        return prepared


def padded(count: int) -> int:
    """The IN-list size a batch of ``count`` keys uses (few distinct statements)."""
    size = 1
    while size < count:
        size *= 2
    return size
