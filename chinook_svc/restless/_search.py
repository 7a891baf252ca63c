"""The SQL of searches: count the rows a compiled ``q`` selects, fetch a page of them.

Runs in a worker thread on a SQLAlchemy :class:`~sqlalchemy.engine.Connection`
and returns raw column values (dicts), never rows or ORM objects; the loader
(``_loader``) turns them into JSON-able objects.  Statements that every
request shares (the plain page, the count, a row by key) and those of the
searches clients send most (bounded) are compiled once (``_prepared``).  A
model's own ``query`` (``_scope``) limits every search to its rows; a scoped
search is built for each request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from ._compile import RECENT_SEARCHES, CompiledSearch
from ._prepared import Prepared, PreparedCache
from ._schema import ModelInfo
from ._scope import Scope, where_in_scope
from ._together import pipelines, run_together

Raw = dict[str, Any]


def base_select(info: ModelInfo) -> Select[Any]:
    """``SELECT <every column> FROM <model>``."""
    return select(*info.column_exprs).select_from(info.selectable)


class SearchQueries:
    """The SQL of one model's searches: count, pages, keyset pages, one row by key."""

    def __init__(self, info: ModelInfo) -> None:
        self.info = info
        self.prepared = PreparedCache()
        #: statements of searches clients sent (bounded: clients choose the keys)
        self.searches = PreparedCache(max_entries=2 * RECENT_SEARCHES)
        self.keys = info.column_keys

    def _filtered(
        self, stmt: Select[Any], compiled: CompiledSearch, scope: Scope | None = None
    ) -> Select[Any]:
        info = self.info
        stmt = where_in_scope(stmt, scope)
        if compiled.where:
            stmt = stmt.where(*compiled.where)
        if compiled.group_by:
            if len(info.pk_names) == 1:
                # One row per group, the one with the smallest key (what SQLite
                # returns for 0.17's bare GROUP BY), on every database.
                pk = info.columns[info.pk_names[0]]
                firsts = where_in_scope(select(func.min(pk)).select_from(info.selectable), scope)
                if compiled.where:
                    firsts = firsts.where(*compiled.where)
                stmt = stmt.where(pk.in_(firsts.group_by(*compiled.group_by)))
            else:
                stmt = stmt.group_by(*compiled.group_by)
        return stmt

    def _pk_order(self) -> list[Any]:
        return [self.info.columns[k].asc() for k in self.info.pk_names]

    def count(self, conn: Connection, compiled: CompiledSearch, scope: Scope | None = None) -> int:
        """The number of rows the search yields (after its own limit/offset)."""
        if scope is not None:
            return int(conn.execute(self._count_statement(compiled, scope)).scalar_one())
        prepared = self._prepared_count(conn, compiled)
        if prepared is not None:
            return int(prepared.scalar(conn))
        return int(conn.execute(self._count_statement(compiled)).scalar_one())

    def _prepared_count(self, conn: Connection, compiled: CompiledSearch) -> Prepared | None:
        info = self.info
        if compiled.plain and compiled.limit is None and compiled.offset is None:
            return self.prepared.get(
                ("count",), conn, lambda: select(func.count()).select_from(info.selectable)
            )
        if compiled.key is not None:
            return self.searches.get(
                ("count", compiled.key), conn, lambda: self._count_statement(compiled)
            )
        return None

    def _prepared_page(self, conn: Connection, compiled: CompiledSearch) -> Prepared | None:
        if compiled.plain:
            return self.prepared.get(
                ("page",),
                conn,
                lambda: (
                    base_select(self.info)
                    .order_by(*self._pk_order())
                    .limit(bindparam("limit", type_=Integer))
                    .offset(bindparam("offset", type_=Integer))
                ),
            )
        if compiled.key is not None:
            return self.searches.get(
                ("page", compiled.key),
                conn,
                lambda: (
                    self._ordered(self._filtered(base_select(self.info), compiled), compiled)
                    .limit(bindparam("limit", type_=Integer))
                    .offset(bindparam("offset", type_=Integer))
                ),
            )
        return None

    def count_and_rows(
        self, conn: Connection, compiled: CompiledSearch, scope: Scope | None
    ) -> Callable[[int, int], tuple[int, list[Raw]]] | None:
        """The count and a page fetched together (one round trip where the driver
        pipelines, ``_together``), or ``None`` where they cannot be.

        The returned function takes the page's start and size and gives the
        count and up to ``size`` rows from ``start``.
        """
        if scope is not None or compiled.limit is not None or compiled.offset is not None:
            return None
        if not pipelines(conn):
            return None
        count = self._prepared_count(conn, compiled)
        page = self._prepared_page(conn, compiled)
        if count is None or page is None:
            return None
        count_statement, page_statement = count, page

        def both(start: int, size: int) -> tuple[int, list[Raw]]:
            counted, found = run_together(
                conn, [(count_statement, {}), (page_statement, {"limit": size, "offset": start})]
            )
            keys = self.keys
            return int(counted[0][0]), [dict(zip(keys, row, strict=True)) for row in found]

        return both

    def _count_statement(self, compiled: CompiledSearch, scope: Scope | None = None) -> Select[Any]:
        info = self.info
        pk_exprs = [info.columns[k] for k in info.pk_names]
        if compiled.limit is not None or compiled.offset is not None:
            inner = self._filtered(select(*pk_exprs).select_from(info.selectable), compiled, scope)
            inner = self._ordered(inner, compiled).limit(compiled.limit).offset(compiled.offset)
            stmt = select(func.count()).select_from(inner.subquery())
        elif compiled.group_by and len(info.pk_names) != 1:
            inner = self._filtered(
                select(*compiled.group_by).select_from(info.selectable), compiled, scope
            )
            stmt = select(func.count()).select_from(inner.subquery())
        else:
            stmt = self._filtered(
                select(func.count()).select_from(info.selectable), compiled, scope
            )
        return stmt

    def _ordered(self, stmt: Select[Any], compiled: CompiledSearch) -> Select[Any]:
        for alias, onclause in compiled.joins:
            stmt = stmt.outerjoin(alias, onclause)
        return stmt.order_by(*compiled.order_by)

    def rows(
        self,
        conn: Connection,
        compiled: CompiledSearch,
        start: int,
        size: int | None,
        scope: Scope | None = None,
    ) -> list[Raw]:
        """Raw column values of ``size`` rows from position ``start`` of the search."""
        offset = (compiled.offset or 0) + start
        if size is None and compiled.limit is not None:
            size = max(compiled.limit - start, 0)
        keys = self.keys
        if scope is not None:
            stmt = self._ordered(self._filtered(base_select(self.info), compiled, scope), compiled)
            stmt = stmt.limit(size).offset(offset or None)
            return [dict(zip(keys, row, strict=True)) for row in conn.execute(stmt)]
        prepared = self._prepared_page(conn, compiled) if size is not None else None
        if prepared is not None:
            found = prepared.run(conn, {"limit": size, "offset": offset})
            return [dict(zip(keys, row, strict=True)) for row in found]
        stmt = self._ordered(self._filtered(base_select(self.info), compiled), compiled)
        if size is not None:
            stmt = stmt.limit(size)
        if offset:
            stmt = stmt.offset(offset)
        return [dict(zip(keys, row, strict=True)) for row in conn.execute(stmt)]

    def rows_after(
        self,
        conn: Connection,
        compiled: CompiledSearch,
        condition: Any,
        size: int,
        scope: Scope | None = None,
    ) -> list[Raw]:
        """Up to ``size`` rows of the search that also meet ``condition`` (keyset paging)."""
        stmt = self._ordered(self._filtered(base_select(self.info), compiled, scope), compiled)
        if condition is not None:
            stmt = stmt.where(condition)
        return [dict(zip(self.keys, row, strict=True)) for row in conn.execute(stmt.limit(size))]

    def by_key(
        self,
        conn: Connection,
        names: tuple[str, ...],
        values: tuple[Any, ...],
        scope: Scope | None = None,
    ) -> Raw | None:
        """The raw values of the first row whose columns ``names`` equal ``values``, or ``None``."""
        model = self.info.model
        if scope is not None:
            clause = [getattr(model, n) == v for n, v in zip(names, values, strict=True)]
            stmt = base_select(self.info).where(*clause)
            first = conn.execute(where_in_scope(stmt, scope).limit(1)).first()
            return None if first is None else dict(zip(self.keys, first, strict=True))
        prepared = self.prepared.get(
            ("by_key", *names),
            conn,
            lambda: (
                base_select(self.info)
                .where(*(getattr(model, n) == bindparam(f"key{j}") for j, n in enumerate(names)))
                .limit(1)
            ),
        )
        found = prepared.run(conn, {f"key{j}": v for j, v in enumerate(values)})
        return dict(zip(self.keys, found[0], strict=True)) if found else None
