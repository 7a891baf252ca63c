"""Reflect a database once, at start-up, in a thread of its own, and say what was found.

:func:`reflect_models` reads the schema (``MetaData.reflect``, views too),
plans what is served (``_plan``), maps it (``_mapping``) and logs a summary:
how many tables, views and relations, and each thing skipped with why.
It runs in a short-lived thread and waits for it, so that it is never the
reactor's thread that reads the catalogue, wherever it is called from.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Engine
from twisted.logger import Logger

from chinook_svc.models import Timestamp

from ._mapping import ReflectedModels, build_models
from ._plan import Choice, plan

log = Logger()


class ReflectionError(LookupError):
    """Nothing in the database can be served."""


def _sqlite_datetimes(metadata: MetaData) -> None:
    """SQLite keeps datetimes as text: read and write them in the reference files' format."""
    for table in metadata.tables.values():
        for column in table.columns:
            if type(column.type).__name__ in {"DATETIME", "TIMESTAMP", "DateTime"}:
                column.type = Timestamp


def reflect_now(engine: Engine, choice: Choice) -> ReflectedModels:
    """Reflect and map ``engine``'s schema in the calling thread (blocking).

    Raises:
        ReflectionError: no table or view can be served.
        sqlalchemy.exc.SQLAlchemyError: the database cannot be read.
    """
    started = time.monotonic()
    metadata = MetaData()
    with engine.connect() as conn:
        metadata.reflect(conn, schema=choice.schema, views=True)
        views = set(inspect(conn).get_view_names(schema=choice.schema))
    if engine.dialect.name == "sqlite":
        _sqlite_datetimes(metadata)
    decided = plan(metadata, views, engine.dialect.name, choice)
    if not decided.tables:
        skipped = "; ".join(f"{s.what}: {s.reason}" for s in decided.skipped) or "no tables"
        raise ReflectionError(f"nothing to serve in this database ({skipped})")
    models = build_models(decided, metadata, choice.inline_to_many)
    _summary(models, engine, time.monotonic() - started)
    return models


def _summary(models: ReflectedModels, engine: Engine, seconds: float) -> None:
    log.info(
        "Reflected {tables} tables and {views} views with {relations} relations "
        "({read_only} collections read-only, {skipped} things skipped) from {database} "
        "in {seconds:.2f} s",
        tables=len(models.classes) - models.views,
        views=models.views,
        relations=models.relations,
        read_only=len(models.read_only),
        skipped=len(models.skipped),
        database=engine.url.render_as_string(hide_password=True),
        seconds=seconds,
        collections=sorted(models.classes),
    )
    for skipped in models.skipped:
        log.warn("Reflection skipped {what}: {reason}", what=skipped.what, reason=skipped.reason)


def reflect_models(engine: Engine, choice: Choice) -> ReflectedModels:
    """:func:`reflect_now` in a thread of its own; waits for it and gives its result."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="chinook-reflection") as thread:
        return thread.submit(reflect_now, engine, choice).result()


__all__ = ["ReflectionError", "reflect_models", "reflect_now"]
