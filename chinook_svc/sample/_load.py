"""Materialise the bundled sample into any SQLAlchemy database, through Core.

:func:`load_sample` creates the sqlitetutorial tables from the models'
metadata, inserts every row with one ``executemany`` per table and records a
marker in ``chinook_svc_meta``, all in one transaction, together with creating
the target schema if asked (MariaDB commits DDL implicitly: there a failed load
drops the tables it created).  Loading
again is a no-op; ``replace=True`` drops the tables and loads afresh.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from enum import Enum
from types import MappingProxyType

from attrs import field, frozen
from sqlalchemy import Column, MetaData, String, Table, func, inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateSchema

from chinook_svc.models import DEFAULT, TABLES

from ._data import data_sha256, typed_rows

#: Bump when the loader's schema or the data changes in a way the checksum misses.
SAMPLE_VERSION = 1
META_TABLE = "chinook_svc_meta"

_meta_metadata = MetaData()
meta_table = Table(
    META_TABLE,
    _meta_metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)


class SampleError(Exception):
    """The sample cannot be loaded here; the message says why and what to do."""


class SampleState(Enum):
    """What a database holds, as far as the sample is concerned."""

    EMPTY = "empty"  #: none of the sample's tables
    CURRENT = "current"  #: this version of the sample
    STALE = "stale"  #: another version of the sample
    FOREIGN = "foreign"  #: tables of the same names that the loader did not make


def _read_only(rows: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(rows))


@frozen
class LoadReport:
    """What :func:`load_sample` did."""

    rows: Mapping[str, int] = field(converter=_read_only)
    """Rows per logical table (those present when it was already loaded)."""
    seconds: float
    already_loaded: bool
    schema: str | None = None

    @property
    def total_rows(self) -> int:
        """Rows over all tables."""
        return sum(self.rows.values())


def _marker() -> dict[str, str]:
    return {"sample_version": str(SAMPLE_VERSION), "data_sha256": data_sha256()}


def _tables() -> list[Table]:
    by_table = DEFAULT.by_table()
    return [by_table[name].__table__ for name in TABLES]


def sample_state(conn: Connection, schema: str | None = None) -> SampleState:
    """Whether ``conn``'s database (or ``schema``) holds the current sample."""
    present = set(inspect(conn).get_table_names(schema=schema))
    ours = {table.name for table in _tables()}
    if META_TABLE not in present:
        return SampleState.FOREIGN if present & ours else SampleState.EMPTY
    stored = dict(conn.execute(select(meta_table.c.key, meta_table.c.value)).all())
    if stored == _marker() and ours <= present:
        return SampleState.CURRENT
    return SampleState.STALE


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    """``engine.begin()``, made to cover DDL too on pysqlite.

    Python's sqlite3 module only opens a transaction before DML, so CREATE TABLE
    would be committed at once; an explicit BEGIN makes the whole load atomic.
    """
    with engine.begin() as conn:
        if (
            conn.dialect.name == "sqlite"
            and conn.dialect.driver == "pysqlite"
            and not conn.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
        ):
            conn.exec_driver_sql("BEGIN")
        yield conn


def _counts(conn: Connection) -> dict[str, int]:
    return {
        name: conn.execute(select(func.count()).select_from(table)).scalar_one()
        for name, table in zip(TABLES, _tables(), strict=True)
    }


def _insert_all(conn: Connection) -> dict[str, int]:
    counts = {}
    for name, table in zip(TABLES, _tables(), strict=True):
        attrs, rows = typed_rows(name)
        mapper = inspect(DEFAULT.by_table()[name])
        keys = [mapper.column_attrs[attr].columns[0].key for attr in attrs]
        if rows:
            conn.execute(table.insert(), [dict(zip(keys, row, strict=True)) for row in rows])
        counts[name] = len(rows)
    conn.execute(meta_table.insert(), [{"key": k, "value": v} for k, v in _marker().items()])
    return counts


def _reset_sequences(conn: Connection, schema: str | None) -> None:
    """Point PostgreSQL's serial sequences past the loaded ids."""
    preparer = conn.dialect.identifier_preparer
    for table in _tables():
        column = table.autoincrement_column
        if column is None:
            continue
        qualified = preparer.quote(table.name)
        if schema is not None:
            qualified = f"{preparer.quote_schema(schema)}.{qualified}"
        next_id = conn.execute(select(func.coalesce(func.max(column), 0) + 1)).scalar_one()
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence(:table, :column), :next_id, false)"),
            {"table": qualified, "column": column.name, "next_id": next_id},
        )


def _drop(conn: Connection) -> None:
    DEFAULT.metadata.drop_all(conn, tables=_tables(), checkfirst=True)
    _meta_metadata.drop_all(conn, checkfirst=True)


def _in_schema(engine: Engine, schema: str | None) -> Engine:
    """``engine``, writing unqualified tables into ``schema``."""
    if schema is None:
        return engine
    if engine.dialect.name not in ("postgresql", "mysql", "mariadb"):
        raise SampleError(
            f"--schema needs PostgreSQL or MariaDB/MySQL; {engine.dialect.name} has no schemas"
        )
    return engine.execution_options(schema_translate_map={None: schema})


def _check(conn: Connection, *, replace: bool, schema: str | None) -> bool:
    """Whether the sample must be (re)loaded; raise if that would destroy other data."""
    if schema is not None:
        conn.execute(CreateSchema(schema, if_not_exists=True))
    state = sample_state(conn, schema)
    if replace or state is SampleState.EMPTY:
        return True
    if state is SampleState.CURRENT:
        return False
    if state is SampleState.STALE:
        problem = "holds another version of the Chinook sample"
    else:
        problem = "already has tables named like the sample's (albums, ...) that it did not load"
    raise SampleError(
        f"the database {problem}; replace=True (chinook-svc load-sample --replace) "
        "drops them and loads the sample"
    )


def _fill(conn: Connection, *, replace: bool, schema: str | None) -> dict[str, int]:
    if replace:
        _drop(conn)
    DEFAULT.metadata.create_all(conn, tables=_tables())
    _meta_metadata.create_all(conn)
    counts = _insert_all(conn)
    if conn.dialect.name == "postgresql":
        _reset_sequences(conn, schema)
    return counts


def load_sample(engine: Engine, *, replace: bool = False, schema: str | None = None) -> LoadReport:
    """Load the bundled Chinook sample into ``engine``'s database.

    Args:
        engine: any SQLAlchemy engine (tested on SQLite, PostgreSQL, MariaDB).
        replace: drop the sample's tables first (also when they hold other data).
        schema: a PostgreSQL schema or MariaDB database to load into, created
            if missing; ``None`` is the connection's default.

    Returns:
        The rows per table, the time taken and whether it was already loaded.

    Raises:
        SampleError: ``schema`` on a database without schemas, or tables of the
            same names that are not the current sample (without ``replace``).
        sqlalchemy.exc.SQLAlchemyError: the database refused or is unreachable.
    """
    started = time.perf_counter()
    target = _in_schema(engine, schema)
    filling = False
    try:
        with _transaction(target) as conn:
            if _check(conn, replace=replace, schema=schema):
                filling = True
                counts = _fill(conn, replace=replace, schema=schema)
            else:
                counts = _counts(conn)
    except Exception:
        if filling and engine.dialect.name in ("mysql", "mariadb"):
            _drop_after_failure(target)
        raise
    return LoadReport(
        rows=counts,
        seconds=time.perf_counter() - started,
        already_loaded=not filling,
        schema=schema,
    )


def _drop_after_failure(engine: Engine) -> None:
    """MariaDB commits DDL at once: drop what a failed load created (best effort)."""
    with suppress(SQLAlchemyError), engine.begin() as conn:
        _drop(conn)
