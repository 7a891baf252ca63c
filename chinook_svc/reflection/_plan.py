"""Which reflected tables are served, under which names, with which relations.

:func:`plan` reads a reflected :class:`~sqlalchemy.MetaData` and decides,
without touching the database:

* which tables and views are served (``--tables``, ``--exclude-tables``;
  two names equal but for case: the first in name order is served);
* each one's key: its primary key; a view's first column; a SQLite table
  without a primary key its ``rowid``; any other table without one is
  skipped (views and ``rowid`` tables are read-only);
* its columns' attribute names (``_naming``) and the hidden ones
  (``--exclude-columns table.column``);
* its relations, from the foreign keys between served tables.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from attrs import define, field, fields, frozen
from sqlalchemy import Column, Integer, MetaData, PrimaryKeyConstraint, Table
from sqlalchemy.schema import ForeignKeyConstraint

from ._naming import Names, column_names, snake, to_one_name

#: Relation kinds.
TO_ONE = "to-one"
TO_MANY = "to-many"
MANY_TO_MANY = "many-to-many"
#: Why a SQLite table without a primary key is read-only.
ROWID = "no primary key (served by rowid)"


@frozen
class Choice:
    """Which tables to serve and how to name them (the reflection options)."""

    naming: str = "keep"
    reflect_tables: tuple[str, ...] = ()
    exclude_tables: tuple[str, ...] = ()
    schema: str | None = None
    exclude_columns: tuple[str, ...] = ()
    inline_to_many: bool = False

    @classmethod
    def of(cls, settings: Any) -> Choice:
        """The reflection options of ``settings`` (each is the setting of the same name)."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


@frozen
class RelationPlan:
    """One relation of a served table.

    Attributes:
        name: its attribute name.
        kind: :data:`TO_ONE`, :data:`TO_MANY` or :data:`MANY_TO_MANY`.
        target: the served table it leads to (its ``Table.key``).
        constraint: the foreign key it follows (for a many-to-many: the
            association table's key to this table).
        far: a many-to-many's other foreign key (to ``target``).
        back: the name of the relation going the other way (``None``: none).
        viewonly: read through, never written (an association table's to-ones).
    """

    name: str
    kind: str
    target: str
    constraint: ForeignKeyConstraint
    far: ForeignKeyConstraint | None = None
    back: str | None = None
    viewonly: bool = False


@define
class TablePlan:
    """How one table or view is served."""

    table: Table
    collection: str
    attributes: dict[str, str]  # column key -> attribute name
    view: bool = False
    rowid: bool = False
    read_only_reason: str | None = None
    hidden: tuple[str, ...] = ()
    relations: list[RelationPlan] = field(factory=list)
    names: Names = field(factory=Names)


@frozen
class Skipped:
    """A table, column or relation not served, and why."""

    what: str
    reason: str


@define
class Plan:
    """Everything :func:`plan` decided."""

    tables: dict[str, TablePlan]  # Table.key -> plan, in name order
    skipped: list[Skipped] = field(factory=list)

    def relation_count(self) -> int:
        """How many relations are served (each direction counts once)."""
        return sum(len(t.relations) for t in self.tables.values())


def _wanted(name: str, choice: Choice) -> str | None:
    """Why ``name`` is left out by the options (``None``: it is wanted)."""
    lowered = name.lower()
    if choice.reflect_tables and lowered not in {t.lower() for t in choice.reflect_tables}:
        return "not in --tables"
    if lowered in {t.lower() for t in choice.exclude_tables}:
        return "in --exclude-tables"
    return None


def _keyed(table: Table, view: bool, dialect: str) -> str | None:
    """Give ``table`` a key if it has none; the reason it is read-only, or raise ``LookupError``."""
    if view:
        if not table.primary_key.columns:
            table.append_constraint(PrimaryKeyConstraint(next(iter(table.columns))))
        return "a view"
    if table.primary_key.columns:
        return None
    if dialect == "sqlite" and "rowid" not in {c.name.lower() for c in table.columns}:
        table.append_column(Column("rowid", Integer, primary_key=True))
        return ROWID
    raise LookupError("no primary key, and no stable row identity on this database")


def _hidden(table: Table, attributes: dict[str, str], choice: Choice) -> tuple[str, ...]:
    wanted = {c.lower() for c in choice.exclude_columns}
    return tuple(
        attributes[c.key] for c in table.columns if f"{table.name}.{c.name}".lower() in wanted
    )


def plan(metadata: MetaData, views: Iterable[str], dialect: str, choice: Choice) -> Plan:
    """Decide what is served of ``metadata`` (its tables may get a key added).

    Args:
        metadata: the reflected tables and views.
        views: the names of the views among them.
        dialect: the database's dialect name (``sqlite``, ``postgresql``...).
        choice: the options.
    """
    view_names = set(views)
    result = Plan(tables={})
    collections: set[str] = set()
    for table in sorted(metadata.tables.values(), key=lambda t: (t.name, t.key)):
        if choice.schema is not None and table.schema not in (None, choice.schema):
            continue  # a table of another schema a foreign key led to
        left_out = _wanted(table.name, choice)
        if left_out is not None:
            if not choice.reflect_tables:
                result.skipped.append(Skipped(table.name, left_out))
            continue
        if table.name.lower() in collections:
            result.skipped.append(Skipped(table.name, "its name differs only by case"))
            continue
        view = table.name in view_names
        try:
            read_only = _keyed(table, view, dialect)
        except LookupError as e:
            result.skipped.append(Skipped(table.name, str(e)))
            continue
        attributes = column_names((c.key for c in table.columns), choice.naming)
        served = TablePlan(
            table,
            table.name,
            attributes,
            view=view,
            rowid=read_only == ROWID,
            read_only_reason=read_only,
            hidden=_hidden(table, attributes, choice),
            names=Names(attributes.values()),
        )
        collections.add(table.name.lower())
        result.tables[table.key] = served
    _unknown_columns(result, choice)
    _relations(result)
    return result


def _unknown_columns(result: Plan, choice: Choice) -> None:
    known = {
        f"{t.table.name}.{c.name}".lower() for t in result.tables.values() for c in t.table.columns
    }
    for entry in choice.exclude_columns:
        if entry.lower() not in known:
            result.skipped.append(Skipped(entry, "--exclude-columns names no served column"))


def _constraints(served: TablePlan) -> list[ForeignKeyConstraint]:
    return sorted(served.table.foreign_key_constraints, key=lambda fk: tuple(fk.column_keys))


def is_association(served: TablePlan, plans: dict[str, TablePlan]) -> bool:
    """A pure association table: two foreign keys to two other tables, and nothing else."""
    fks = _constraints(served)
    if served.view or len(fks) != 2:
        return False
    targets = [fk.referred_table.key for fk in fks]
    columns = [set(fk.column_keys) for fk in fks]
    own = {c.key for c in served.table.columns} - ({"rowid"} if served.rowid else set())
    return (
        all(t in plans for t in targets)
        and len(set(targets)) == 2
        and served.table.key not in targets
        and not columns[0] & columns[1]
        and columns[0] | columns[1] == own
    )


def _relations(result: Plan) -> None:
    plans = result.tables
    to_ones: list[tuple[TablePlan, ForeignKeyConstraint, str]] = []
    for served in plans.values():
        for fk in _constraints(served):
            if fk.referred_table.key not in plans:
                result.skipped.append(
                    Skipped(
                        f"{served.table.name}({', '.join(fk.column_keys)})",
                        f"refers to {fk.referred_table.name}, which is not served",
                    )
                )
                continue
            names = [fk.parent.c[k].name for k in fk.column_keys]
            wanted = to_one_name(names, fk.referred_table.name)
            name = served.names.claim(wanted, fk.referred_table.name)
            to_ones.append((served, fk, name))
    associations = {t.table.key for t in plans.values() if is_association(t, plans)}
    per_pair = Counter((s.table.key, fk.referred_table.key) for s, fk, _ in to_ones)
    for served, fk, name in to_ones:
        target = plans[fk.referred_table.key]
        if served.table.key in associations:
            served.relations.append(RelationPlan(name, TO_ONE, target.table.key, fk, viewonly=True))
            continue
        several = per_pair[(served.table.key, target.table.key)] > 1
        wanted = f"{snake(served.table.name)}_by_{name}" if several else snake(served.table.name)
        back = target.names.claim(wanted, served.table.name)
        served.relations.append(RelationPlan(name, TO_ONE, target.table.key, fk, back=back))
        target.relations.append(RelationPlan(back, TO_MANY, served.table.key, fk, back=name))
    for key in sorted(associations, key=lambda k: plans[k].table.name):
        _many_to_many(plans, plans[key])


def _many_to_many(plans: dict[str, TablePlan], association: TablePlan) -> None:
    first, second = _constraints(association)
    left, right = plans[first.referred_table.key], plans[second.referred_table.key]
    qualifier = association.table.name
    left_name = left.names.claim(snake(right.table.name), qualifier)
    right_name = right.names.claim(snake(left.table.name), qualifier)
    left.relations.append(
        RelationPlan(left_name, MANY_TO_MANY, right.table.key, first, second, back=right_name)
    )
    right.relations.append(
        RelationPlan(right_name, MANY_TO_MANY, left.table.key, second, first, back=left_name)
    )


def to_many_names(served: TablePlan) -> Sequence[str]:
    """The relations of ``served`` that hold many objects."""
    return tuple(r.name for r in served.relations if r.kind != TO_ONE)


__all__ = [
    "MANY_TO_MANY",
    "TO_MANY",
    "TO_ONE",
    "Choice",
    "Plan",
    "RelationPlan",
    "Skipped",
    "TablePlan",
    "is_association",
    "plan",
    "to_many_names",
]
