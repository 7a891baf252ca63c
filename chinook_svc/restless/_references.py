"""Rows that refer to rows about to be deleted: refused with a 409, never silently changed.

Deleting a row through the ORM quietly changes the rows that refer to it:
a one-to-many relation gets its foreign keys set to NULL (1,297 tracks lose
their genre when a genre goes), a many-to-many relation loses its link rows,
and where a column cannot be NULL the database refuses with an integrity
error.  None of that is what a client asking to delete one row means.  So
before any delete (``DELETE`` of an instance, a bulk ``DELETE``, a PATCH
``remove`` with ``__delete__``) the engine counts, for every foreign key that
points at the model's table, the rows that still refer to the rows going
away; if there are any, :func:`check_deletable` raises a 409 naming each
relation (or ``table.column`` for a foreign key no relation covers) and how
many rows hold it.  Nothing is changed.

What the model declares is done as declared:

* a relationship with ``cascade="delete"`` deletes its rows with the parent;
  those rows are checked the same way in turn (reported as ``notes.replies``);
* a foreign key with ``ondelete`` (``CASCADE``, ``SET NULL``, ``SET DEFAULT``)
  is the database's business;
* a row that refers to itself (or to another row deleted with it) does not
  count.

The counts run in the request's transaction, just before the delete.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from attrs import frozen
from sqlalchemy import ColumnElement, and_, false, func, not_, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import UnmappedColumnError
from sqlalchemy.orm.interfaces import ONETOMANY
from sqlalchemy.sql.schema import Column, ForeignKeyConstraint, Table

from ._errors import ApiError
from ._schema import ModelInfo, RelationInfo

Key = tuple[Any, ...]

#: Rows per ``IN (...)`` list.
_CHUNK = 500
#: How deep cascades are followed (a deeper chain is left to the database).
_MAX_DEPTH = 16
_DECLARED = frozenset({"CASCADE", "SET NULL", "SET DEFAULT"})


@frozen
class Reference:
    """One foreign key pointing at a model's table.

    Attributes:
        name: what the 409 calls it: the relation's name, else ``table.column``.
        table: the referring table.
        columns: its foreign-key columns.
        referred: the columns of the model's table they hold.
        relation: the model's relation over this key, if there is one.
        declared: the foreign key's ``ondelete`` says what happens.
    """

    name: str
    table: Table
    columns: tuple[Column[Any], ...]
    referred: tuple[Column[Any], ...]
    relation: RelationInfo | None
    declared: bool

    @property
    def cascade(self) -> RelationInfo | None:
        """The relation whose ORM cascade deletes the referring rows (or their targets), if any."""
        rel = self.relation
        if rel is not None and not rel.prop.viewonly and rel.prop.cascade.delete:
            return rel
        return None


def _relation_over(info: ModelInfo, fk: ForeignKeyConstraint) -> RelationInfo | None:
    columns = set(fk.columns)
    found = []
    for rel in info.relations.values():
        if rel.secondary is None:
            if rel.prop.direction is ONETOMANY and {rc for _, rc in rel.pairs} == columns:
                found.append(rel)
        elif rel.secondary is fk.table and {sc for _, sc in rel.pairs} == columns:
            found.append(rel)
    found.sort(key=lambda r: (bool(r.prop.viewonly), r.name))
    return found[0] if found else None


def references(info: ModelInfo) -> list[Reference]:
    """Every foreign key of the model's metadata that points at its table."""
    own = set(info.mapper.tables)
    metadata = info.mapper.registry.metadata
    found = []
    for table in metadata.sorted_tables:
        for fk in sorted(table.foreign_key_constraints, key=lambda c: [k.name for k in c.columns]):
            if fk.referred_table not in own:
                continue
            rel = _relation_over(info, fk)
            columns = tuple(fk.columns)
            name = (
                rel.name
                if rel is not None
                else f"{table.name}." + ",".join(c.name for c in columns)
            )
            found.append(
                Reference(
                    name=name,
                    table=table,
                    columns=columns,
                    referred=tuple(element.column for element in fk.elements),
                    relation=rel,
                    declared=(fk.ondelete or "").upper() in _DECLARED,
                )
            )
    return found


def _pk(info: ModelInfo) -> list[Any]:
    return [info.columns[name] for name in info.pk_names]


def _matches(columns: Sequence[Any], keys: Sequence[Key]) -> ColumnElement[bool]:
    """``columns`` equal to one of ``keys``."""
    if not keys:
        return false()
    if len(columns) == 1:
        return columns[0].in_([k[0] for k in keys])
    return tuple_(*columns).in_([tuple(k) for k in keys])


def _chunks(keys: Sequence[Key]) -> Iterator[Sequence[Key]]:
    for start in range(0, len(keys), _CHUNK):
        yield keys[start : start + _CHUNK]


def _holding(
    ref: Reference, info: ModelInfo, keys: Sequence[Key], going: Sequence[Key] = ()
) -> ColumnElement[bool]:
    """Rows of ``ref.table`` whose foreign key holds one of the rows ``keys`` name.

    On the model's own table, the rows ``going`` (deleted too) do not count.
    """
    referred = select(*ref.referred).where(_matches(_pk(info), keys))
    condition: ColumnElement[bool]
    if len(ref.columns) == 1:
        condition = ref.columns[0].in_(referred.scalar_subquery())
    else:
        condition = tuple_(*ref.columns).in_(referred)
    if ref.table in info.mapper.tables:
        # A row referring to itself, or to another row going too, does not count.
        condition = and_(condition, not_(_matches(_pk(info), going or keys)))
    return condition


def _cascaded(
    conn: Any, ref: Reference, rel: RelationInfo, info: ModelInfo, keys: Sequence[Key]
) -> list[Key]:
    """The keys of the rows ``rel``'s cascade deletes with the rows ``keys`` name."""
    target = rel.target
    condition = _holding(ref, info, keys)
    if rel.secondary is not None:
        links = select(*[sc for _, sc in rel.secondary_target_pairs]).where(condition)
        targets = [tc for tc, _ in rel.secondary_target_pairs]
        condition = (
            targets[0].in_(links.scalar_subquery())
            if len(targets) == 1
            else tuple_(*targets).in_(links)
        )
    rows = conn.execute(select(*_pk(target)).where(condition)).all()
    return [tuple(row) for row in rows]


def blocking(conn: Any, info: ModelInfo, keys: Sequence[Key], depth: int = 0) -> Counter[str]:
    """Rows that would be changed, by relation, if the rows ``keys`` name were deleted."""
    counts: Counter[str] = Counter()
    if not keys or depth > _MAX_DEPTH:
        return counts
    for ref in references(info):
        if ref.declared:
            continue
        for chunk in _chunks(keys):
            cascade = ref.cascade
            if cascade is not None:
                children = _cascaded(conn, ref, cascade, info, chunk)
                inner = blocking(conn, cascade.target, children, depth + 1)
                counts.update({f"{ref.name}.{name}": n for name, n in inner.items()})
            else:
                statement = select(func.count()).select_from(ref.table)
                holding = _holding(ref, info, chunk, keys)
                found = conn.execute(statement.where(holding)).scalar_one()
                if found:
                    counts[ref.name] += int(found)
    return counts


def _rows(counts: Counter[str]) -> str:
    parts = [f"{n} row{'s' if n != 1 else ''} of {name!r}" for name, n in sorted(counts.items())]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def check_deletable(session: Session, info: ModelInfo, instances: Sequence[Any]) -> None:
    """Raise a 409 if other rows refer to any of ``instances``; else make them deletable.

    Self-references among the rows going away are cleared first (the ORM
    cannot order the delete of a row that refers to itself).
    """
    keys = [tuple(getattr(i, name) for name in info.pk_names) for i in instances]
    counts = blocking(session.connection(), info, keys)
    if counts:
        raise ApiError(
            409, f"Cannot delete: referred to by {_rows(counts)}", references=dict(counts)
        )
    _release_self_references(session, info, instances)


def _release_self_references(session: Session, info: ModelInfo, instances: Sequence[Any]) -> None:
    mapper = info.mapper
    released = False
    for ref in references(info):
        if ref.table not in mapper.tables or ref.declared:
            continue
        fk_keys = _attribute_keys(mapper, ref.columns)
        referred_keys = _attribute_keys(mapper, ref.referred)
        if fk_keys is None or referred_keys is None:
            continue  # columns not mapped as attributes: left to the ORM
        by_referred = {tuple(getattr(i, k) for k in referred_keys): i for i in instances}
        for instance in instances:
            value = tuple(getattr(instance, k) for k in fk_keys)
            if value in by_referred:
                for k in fk_keys:
                    setattr(instance, k, None)
                released = True
    if released:
        session.flush()


def _attribute_keys(mapper: Any, columns: Sequence[Column[Any]]) -> list[str] | None:
    try:
        return [mapper.get_property_by_column(c).key for c in columns]
    except UnmappedColumnError:
        return None


__all__ = ["Reference", "blocking", "check_deletable", "references"]
