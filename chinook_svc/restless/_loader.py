"""Data access: build JSON-able objects from a page of rows, relations inlined.

Everything here is synchronous and runs in a worker thread (never on the
reactor thread).  It takes a SQLAlchemy :class:`~sqlalchemy.engine.Connection`
and the raw rows a search fetched (``_search``) and returns plain dicts and
lists, never rows or ORM objects.

The cost of a page is bounded: one ``COUNT``, one ``SELECT`` for the page
(``_search``) and one batched ``SELECT ... WHERE key IN (...)`` per inlined
relation, whatever the page size (no N+1).  Relations joined by plain column equalities are
loaded with Core; others, and hybrid properties or ``include_methods`` values
that need model instances, through the ORM in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache, partial
from typing import Any

from sqlalchemy import Integer, and_, bindparam, func, select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased, selectinload
from sqlalchemy.sql import Select

from ._instances import chunks, instance_values, key_clause, serialized
from ._prepared import PreparedCache, padded
from ._proxies import keyed_relation_value
from ._schema import RelationInfo
from ._scope import Scope, scope_of, where_in_scope
from ._serialize import Converter
from ._shape import Shape
from ._together import Planned, pipelines, run_together

Raw = dict[str, Any]
Obj = dict[str, Any]
#: the key columns a statement is built for, in bind-parameter order
Names = tuple[str, ...]

# -- relations ----------------------------------------------------------------


class RelationLoader:
    """Loads one relation for many parents at once, or pages it for one parent."""

    def __init__(self, rel: RelationInfo) -> None:
        self.rel = rel
        target = rel.target
        self.target = target
        order = [] if not rel.prop.order_by else list(rel.prop.order_by)
        self.order = [*order, *(target.columns[k] for k in target.pk_names)]
        self.key_labels = [f"_parent_key_{i}" for i in range(len(rel.pairs))]
        self.prepared = PreparedCache()
        self.names = target.column_keys

    def parent_key(self, raw: Raw) -> tuple[Any, ...] | None:
        """The values that join a parent row to its related rows."""
        local = self.rel.local_keys
        if len(local) == 1:
            value = raw[local[0]]
            return None if value is None else (value,)
        key = tuple(raw[k] for k in local)
        return None if None in key else key

    def _select(self) -> tuple[Select[Any], list[Any]]:
        """``SELECT target columns, parent key columns`` and the key columns to filter on."""
        rel = self.rel
        cols = self.target.column_exprs
        if rel.secondary is None:
            key_cols = [remote for _, remote in rel.pairs]
            from_: Any = self.target.selectable
        else:
            key_cols = [sec for _, sec in rel.pairs]
            on = and_(*(tc == sc for tc, sc in rel.secondary_target_pairs))
            from_ = self.target.selectable.join(rel.secondary, on)
        labels = (c.label(n) for c, n in zip(key_cols, self.key_labels, strict=True))
        return select(*cols, *labels).select_from(from_), key_cols

    def _batch_statement(self, size: int) -> Select[Any]:
        stmt, key_cols = self._select()
        width = len(key_cols)
        if width == 1:
            clause = key_cols[0].in_([bindparam(f"k{i}_0") for i in range(size)])
        else:
            clause = tuple_(*key_cols).in_(
                [tuple_(*(bindparam(f"k{i}_{j}") for j in range(width))) for i in range(size)]
            )
        return stmt.where(clause).order_by(*self.order)

    def for_parents(self, conn: Connection, parents: Sequence[Raw]) -> list[list[Raw]]:
        """For each parent (in order), its related rows' raw values (in the target's scope)."""
        scope = scope_of(self.target)
        if not self.rel.simple:
            return self._orm_for_parents(conn, parents, scope)
        if scope is None:
            keys, planned = self.plan(conn, parents)
            return self.collect(keys, [p.run(conn, values) for p, values in planned])
        keys = [self.parent_key(p) for p in parents]
        found: dict[tuple[Any, ...], list[Raw]] = {}
        names = self.names
        width = len(names)
        stmt, key_cols = self._select()
        for chunk in chunks(list(dict.fromkeys(k for k in keys if k is not None))):
            chunk_stmt = stmt.where(key_clause(key_cols, chunk), scope.on())
            for scoped in conn.execute(chunk_stmt.order_by(*self.order)):
                raw = dict(zip(names, scoped[:width], strict=True))
                found.setdefault(tuple(scoped[width:]), []).append(raw)
        return [found.get(k, []) if k is not None else [] for k in keys]

    def batches(self) -> bool:
        """Whether :meth:`plan` can load this relation (plain key equalities, no scope)."""
        return self.rel.simple and not self.rel.keyed and scope_of(self.target) is None

    def plan(self, conn: Connection, parents: Sequence[Raw]) -> tuple[list[Any], list[Planned]]:
        """The parents' join keys and the statements loading their related rows
        (for :meth:`collect`; a relation that :meth:`batches`)."""
        keys = [self.parent_key(p) for p in parents]
        planned: list[Planned] = []
        for chunk in chunks(list(dict.fromkeys(k for k in keys if k is not None))):
            size = padded(len(chunk))
            prepared = self.prepared.get(
                ("batch", size), conn, partial(self._batch_statement, size)
            )
            # Pad the list with its last key: a few statement sizes serve every batch.
            keys_in_order = [*chunk, *([chunk[-1]] * (size - len(chunk)))]
            values = {
                name: value
                for names_of_key, key in zip(
                    _bind_names(size, len(chunk[0])), keys_in_order, strict=True
                )
                for name, value in zip(names_of_key, key, strict=True)
            }
            planned.append((prepared, values))
        return keys, planned

    def collect(self, keys: list[Any], results: list[list[tuple[Any, ...]]]) -> list[list[Raw]]:
        """For each parent key, its related rows, out of the planned statements' rows."""
        found: dict[tuple[Any, ...], list[Raw]] = {}
        names = self.names
        width = len(names)
        for rows in results:
            for row in rows:
                raw = dict(zip(names, row[:width], strict=True))
                found.setdefault(tuple(row[width:]), []).append(raw)
        return [found.get(k, []) if k is not None else [] for k in keys]

    def _orm_values(
        self,
        conn: Connection,
        parents: Sequence[Raw],
        convert: Callable[[Any], list[Any]],
        scope: Scope | None,
    ) -> list[list[Any]]:
        """For each parent, ``convert`` of its relation's value, read through the ORM."""
        owner = self.rel.owner
        attribute = self.rel.attribute
        if scope is not None:
            attribute = attribute.and_(scope.on())
        pks = [tuple(p[k] for k in owner.pk_names) for p in parents]
        pk_cols = [getattr(owner.model, k) for k in owner.pk_names]
        by_pk: dict[tuple[Any, ...], list[Any]] = {}
        with Session(bind=conn) as session:
            for chunk in chunks(list(dict.fromkeys(pks))):
                stmt: Any = (
                    select(owner.model)
                    .where(key_clause(pk_cols, chunk))
                    .options(selectinload(attribute))
                )
                parent: Any
                for parent in session.scalars(stmt).unique():
                    key = tuple(getattr(parent, k) for k in owner.pk_names)
                    by_pk[key] = convert(getattr(parent, self.rel.name))
        return [by_pk.get(pk, []) for pk in pks]

    def _orm_for_parents(
        self, conn: Connection, parents: Sequence[Raw], scope: Scope | None
    ) -> list[list[Raw]]:
        names = self.names
        uselist = self.rel.uselist

        def rows(value: Any) -> list[Raw]:
            items = list(value) if uselist else ([] if value is None else [value])
            return [{n: getattr(item, n) for n in names} for item in items]

        return self._orm_values(conn, parents, rows, scope)

    def keys_for_parents(self, conn: Connection, parents: Sequence[Raw]) -> list[list[Any]]:
        """For each parent, the keys of a dict-keyed relation (what 0.17 emitted for it)."""
        return self._orm_values(conn, parents, keyed_relation_value, scope_of(self.target))

    def _for_parent(self, parent: Raw, scope: Scope | None) -> tuple[Select[Any], Any] | None:
        """The related rows of one parent (any relation, in the target's scope), and the
        entity their keys are on."""
        rel = self.rel
        if not rel.simple:
            # Any join condition: let the ORM join along the relation itself.
            owner = rel.owner
            alias: Any = aliased(self.target.model)
            stmt: Select[Any] = (
                select(*(getattr(alias, k) for k in self.target.column_keys))
                .select_from(owner.model)
                .join(rel.attribute.of_type(alias))
                .where(*(getattr(owner.model, k) == parent[k] for k in owner.pk_names))
            )
            return where_in_scope(stmt, scope, alias), alias
        key = self.parent_key(parent)
        if key is None:
            return None
        stmt, key_cols = self._select()
        stmt = stmt.where(*(c == v for c, v in zip(key_cols, key, strict=True)))
        return where_in_scope(stmt, scope), self.target.model

    def _one_parent_statement(self, kind: str, names: Names) -> Select[Any]:
        stmt, key_cols = self._select()
        stmt = stmt.where(*(c == bindparam(f"p{j}") for j, c in enumerate(key_cols)))
        if kind == "count":
            return select(func.count()).select_from(stmt.subquery())
        if kind == "page":
            return (
                stmt.order_by(*self.order)
                .limit(bindparam("limit", type_=Integer))
                .offset(bindparam("offset", type_=Integer))
            )
        model = self.target.model
        return stmt.where(
            *(getattr(model, n) == bindparam(f"member{j}") for j, n in enumerate(names))
        ).limit(1)

    def _one_parent(
        self, conn: Connection, kind: str, key: tuple[Any, ...], names: Names = (), **values: Any
    ) -> list[Any]:
        prepared = self.prepared.get(
            (kind, *names), conn, lambda: self._one_parent_statement(kind, names)
        )
        values.update({f"p{j}": v for j, v in enumerate(key)})
        return prepared.run(conn, values)

    def count_for(self, conn: Connection, parent: Raw) -> int:
        """How many rows the relation holds for one parent."""
        scope = scope_of(self.target)
        if self.rel.simple and scope is None:
            key = self.parent_key(parent)
            return 0 if key is None else int(self._one_parent(conn, "count", key)[0][0])
        found = self._for_parent(parent, scope)
        if found is None:
            return 0
        stmt = found[0]
        return int(conn.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())

    def page_for(self, conn: Connection, parent: Raw, start: int, size: int | None) -> list[Raw]:
        """Rows ``start .. start + size`` of the relation for one parent, paged in SQL."""
        names = self.names
        width = len(names)
        scope = scope_of(self.target)
        if self.rel.simple and size is not None and scope is None:
            key = self.parent_key(parent)
            if key is None:
                return []
            rows = self._one_parent(conn, "page", key, limit=size, offset=start)
            return [dict(zip(names, row[:width], strict=True)) for row in rows]
        found = self._for_parent(parent, scope)
        if found is None:
            return []
        stmt, entity = found
        stmt = stmt.order_by(*self._order_for(entity)).offset(start or None).limit(size)
        return [dict(zip(names, tuple(row)[:width], strict=True)) for row in conn.execute(stmt)]

    def _order_for(self, entity: Any) -> list[Any]:
        if entity is self.target.model:
            return self.order
        return [getattr(entity, k) for k in self.target.pk_names]

    def member(
        self, conn: Connection, parent: Raw, key_names: tuple[str, ...], key: tuple[Any, ...]
    ) -> Raw | None:
        """The related row whose ``key_names`` are ``key``, only if it belongs to ``parent``."""
        names = self.names
        scope = scope_of(self.target)
        if self.rel.simple and scope is None:
            parent_key = self.parent_key(parent)
            if parent_key is None:
                return None
            members = {f"member{j}": v for j, v in enumerate(key)}
            rows = self._one_parent(conn, "member", parent_key, key_names, **members)
        else:
            found = self._for_parent(parent, scope)
            if found is None:
                return None
            stmt, entity = found
            clause = [getattr(entity, n) == v for n, v in zip(key_names, key, strict=True)]
            rows = [tuple(r) for r in conn.execute(stmt.where(*clause).limit(1))]
        if not rows:
            return None
        return dict(zip(names, rows[0][: len(names)], strict=True))


@lru_cache(maxsize=64)
def _bind_names(size: int, width: int) -> tuple[tuple[str, ...], ...]:
    """The bind parameter names of a batch statement, per key."""
    return tuple(tuple(f"k{i}_{j}" for j in range(width)) for i in range(size))


# -- objects ------------------------------------------------------------------

#: A shape's columns: those emitted as they are, and those with a converter.
Emitters = tuple[tuple[str, ...], tuple[tuple[str, Converter], ...]]


class ObjectLoader:
    """Builds the JSON-able objects of one manager's APIs, relations inlined.

    It keeps a :class:`RelationLoader` per relation and the emitters of each
    shape it has built: state of one manager (its models, its shapes), so it
    lives as long as the manager and no longer.
    """

    def __init__(self) -> None:
        self._relations: dict[RelationInfo, RelationLoader] = {}
        self._emitters: dict[Shape, Emitters] = {}

    def relation(self, rel: RelationInfo) -> RelationLoader:
        """The :class:`RelationLoader` of a relation (made on first use)."""
        loader = self._relations.get(rel)
        if loader is None:
            loader = self._relations[rel] = RelationLoader(rel)
        return loader

    def _emitters_of(self, shape: Shape) -> Emitters:
        found = self._emitters.get(shape)
        if found is None:
            converters = shape.info.converters
            found = self._emitters[shape] = (
                tuple(k for k in shape.columns if converters[k] is None),
                tuple((k, c) for k in shape.columns if (c := converters[k]) is not None),
            )
        return found

    @staticmethod
    def _emit(
        plain: tuple[str, ...], converted: tuple[tuple[str, Converter], ...], raw: Raw
    ) -> Obj:
        obj: Obj = {key: raw[key] for key in plain}
        for key, conv in converted:
            obj[key] = conv(raw[key])
        return obj

    def build(self, conn: Connection, shape: Shape, raws: Sequence[Raw]) -> list[Obj]:
        """JSON-able objects for rows of ``shape.info``, with their relations inlined.

        With a ``serializer`` the objects are what it makes of each row's instance.
        """
        if shape.serializer is not None:
            return serialized(conn, shape, raws)
        plain, converted = self._emitters_of(shape)  # once: hashing a shape is not free
        objs = [self._emit(plain, converted, raw) for raw in raws]
        if not raws:
            return objs
        if shape.needs_instances:
            instance_values(conn, shape, raws, objs)
        loaded = self._together(conn, shape, raws)
        for name, rel_shape in shape.relations:
            rel = shape.info.relations[name]
            if rel.keyed:
                keys = self.relation(rel).keys_for_parents(conn, raws)
                for obj, mine in zip(objs, keys, strict=True):
                    obj[name] = mine
                continue
            per_parent = loaded.get(name)
            if per_parent is None:
                per_parent = self.relation(rel).for_parents(conn, raws)
            flat = [r for rows in per_parent for r in rows]
            related = self.build(conn, rel_shape, flat)
            position = 0
            for obj, rows in zip(objs, per_parent, strict=True):
                mine = related[position : position + len(rows)]
                position += len(rows)
                obj[name] = mine if rel.uselist else (mine[0] if mine else None)
        return objs

    def _together(
        self, conn: Connection, shape: Shape, raws: Sequence[Raw]
    ) -> dict[str, list[list[Raw]]]:
        """Every batched relation's rows per parent, all in one round trip where the
        driver pipelines (``_together``); ``{}`` elsewhere."""
        if not pipelines(conn):
            return {}
        plans = {}
        for name, _ in shape.relations:
            loader = self.relation(shape.info.relations[name])
            if loader.batches():
                plans[name] = (loader, *loader.plan(conn, raws))
        planned = [one for _, _, statements in plans.values() for one in statements]
        results = run_together(conn, planned)
        loaded = {}
        for name, (loader, keys, statements) in plans.items():
            loaded[name] = loader.collect(keys, results[: len(statements)])
            results = results[len(statements) :]
        return loaded
