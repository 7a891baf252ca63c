"""Mapped classes for a :class:`~._plan.Plan`, and the engine options of each.

Each served table gets a plain class mapped imperatively in a registry of
its own (nothing global is touched), with its columns under their attribute
names and its relations as ``relationship`` s with explicit joins, so that
several foreign keys between two tables never confuse SQLAlchemy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from attrs import frozen
from sqlalchemy import MetaData, and_
from sqlalchemy.orm import registry, relationship
from sqlalchemy.schema import ForeignKeyConstraint
from sqlalchemy.sql.elements import ColumnElement

from chinook_svc.models import Edition

from ._plan import MANY_TO_MANY, TO_ONE, Plan, RelationPlan, Skipped, TablePlan, to_many_names

#: What ``/`` and ``/healthz`` call a reflected database's edition.
REFLECTED = Edition("reflected")

_NOT_IDENTIFIER = re.compile(r"\W")


@frozen
class ReflectedModels:
    """The mapped classes of a reflected database, and how the engine serves each.

    Attributes:
        edition: :data:`REFLECTED`.
        metadata: the reflected tables.
        classes: collection name → mapped class, in name order.
        read_only: collection name → why it is served read-only.
        hidden: collection name → attribute names kept out of answers.
        targets: collection name → (relation name, target collection) of each relation.
        to_many: collection name → its relations holding many objects.
        inline_to_many: whether objects carry their to-many relations.
        skipped: what was not served, and why.
        relations: how many relations are served.
        views: how many of the collections are views.
    """

    edition: Edition
    metadata: MetaData
    classes: Mapping[str, Any]
    read_only: Mapping[str, str]
    hidden: Mapping[str, tuple[str, ...]]
    targets: Mapping[str, tuple[tuple[str, str], ...]]
    to_many: Mapping[str, tuple[str, ...]]
    inline_to_many: bool
    skipped: tuple[Skipped, ...]
    relations: int
    views: int

    def by_table(self) -> dict[str, Any]:
        """Collection name → mapped class."""
        return dict(self.classes)

    def api_options(self, name: str, allow_writes: bool) -> dict[str, Any]:
        """``create_api`` options for collection ``name`` beyond the service's defaults.

        Views and ``rowid`` tables are read-only, hidden columns are
        ``exclude_columns``, and to-many relations stay out of objects
        unless ``inline_to_many`` (each is served at its relation URL).
        A composite-keyed collection's instance URLs name its whole key
        (``whole_key_urls``: ``/api/playlist_track/1,3246``).
        """
        writable = allow_writes and name not in self.read_only
        options: dict[str, Any] = {
            "methods": ("GET", "POST", "PATCH", "PUT", "DELETE") if writable else ("GET",),
            "exclude_inline": () if self.inline_to_many else self.to_many.get(name, ()),
            "whole_key_urls": True,
        }
        hidden = [
            *self.hidden.get(name, ()),
            *(
                f"{relation}.{column}"
                for relation, target in self.targets.get(name, ())
                for column in self.hidden.get(target, ())
            ),
        ]
        if hidden:
            options["exclude_columns"] = tuple(hidden)
        return options


def _pairs(fk: ForeignKeyConstraint) -> list[tuple[Any, Any]]:
    """(local column, referred column) of each element of ``fk``."""
    return [(element.parent, element.column) for element in fk.elements]


def _join(fk: ForeignKeyConstraint) -> ColumnElement[bool]:
    return and_(*(local == remote for local, remote in _pairs(fk)))


def _relationship(relation: RelationPlan, classes: Mapping[str, Any]) -> Any:
    """The ``relationship`` of ``relation`` (the engine orders related rows by their key)."""
    target = classes[relation.target]
    pairs = _pairs(relation.constraint)
    common: dict[str, Any] = {"viewonly": relation.viewonly}
    if relation.back is not None:
        common["back_populates"] = relation.back
    if relation.kind == TO_ONE:
        return relationship(
            target,
            primaryjoin=_join(relation.constraint),
            foreign_keys=[local for local, _ in pairs],
            remote_side=[remote for _, remote in pairs],
            uselist=False,
            **common,
        )
    if relation.kind == MANY_TO_MANY:
        if relation.far is None:
            raise ValueError(f"many-to-many {relation.name} has no far foreign key")
        return relationship(
            target,
            secondary=relation.constraint.table,
            primaryjoin=_join(relation.constraint),
            secondaryjoin=_join(relation.far),
            **common,
        )
    return relationship(
        target,
        primaryjoin=_join(relation.constraint),
        foreign_keys=[local for local, _ in pairs],
        remote_side=[local for local, _ in pairs],
        **common,
    )


def _class_name(served: TablePlan, taken: set[str]) -> str:
    base = _NOT_IDENTIFIER.sub("_", served.table.name) or "table"
    if base[0].isdigit():
        base = "t_" + base
    name, n = base, 2
    while name.lower() in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name.lower())
    return name


def build_models(plan: Plan, metadata: MetaData, inline_to_many: bool) -> ReflectedModels:
    """Map every served table of ``plan`` (raises SQLAlchemy's errors if one cannot be)."""
    mapper_registry = registry(metadata=metadata)
    taken: set[str] = set()
    classes: dict[str, Any] = {
        key: type(_class_name(served, taken), (), {"__doc__": f"The table {served.table.name}."})
        for key, served in plan.tables.items()
    }
    for key, served in plan.tables.items():
        properties: dict[str, Any] = {
            attribute: served.table.c[column] for column, attribute in served.attributes.items()
        }
        for relation in served.relations:
            properties[relation.name] = _relationship(relation, classes)
        mapper_registry.map_imperatively(classes[key], served.table, properties=properties)
    mapper_registry.configure()
    by_name = {served.collection: classes[key] for key, served in plan.tables.items()}
    return ReflectedModels(
        edition=REFLECTED,
        metadata=metadata,
        classes=by_name,
        read_only={
            s.collection: s.read_only_reason
            for s in plan.tables.values()
            if s.read_only_reason is not None
        },
        hidden={s.collection: s.hidden for s in plan.tables.values() if s.hidden},
        targets={
            s.collection: tuple((r.name, plan.tables[r.target].collection) for r in s.relations)
            for s in plan.tables.values()
        },
        to_many={s.collection: tuple(to_many_names(s)) for s in plan.tables.values()},
        inline_to_many=inline_to_many,
        skipped=tuple(plan.skipped),
        relations=plan.relation_count(),
        views=sum(1 for s in plan.tables.values() if s.view),
    )


__all__ = ["REFLECTED", "ReflectedModels", "build_models"]
