"""The reflection's naming and choosing rules, on schemas declared here (no database).

:func:`chinook_svc.reflection.plan` only reads a ``MetaData``: these tests
declare one and check which tables are served and what everything is called.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, create_engine

from chinook_svc.reflection import Choice, Plan, ReflectionError, plan, reflect_now, snake
from chinook_svc.reflection._naming import strip_key


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AlbumId", "album_id"),
        ("BillingPostalCode", "billing_postal_code"),
        ("unit price", "unit_price"),
        ("HTTPStatus", "http_status"),
        ("already_snake", "already_snake"),
        ("select", "select"),
        ("___", "___"),
    ],
)
def test_snake(name: str, expected: str) -> None:
    """snake_case as ``--naming snake`` makes it."""
    assert snake(name) == expected


def test_key_suffixes() -> None:
    """``Id``, ``ID``, ``_id`` and ``_fk`` are key suffixes; a bare suffix is a name."""
    names = ("ArtistId", "artist_id", "ARTIST_ID", "OwnerID", "buyer_fk")
    assert [strip_key(n) for n in names] == ["Artist", "artist", "ARTIST", "Owner", "buyer"]
    assert strip_key("ReportsTo") is None and strip_key("id") is None and strip_key("Id") is None


def relations(decided: Plan, table: str) -> dict[str, tuple[str, str]]:
    """Relation name -> (kind, target table) of ``table``."""
    served = next(t for t in decided.tables.values() if t.table.name == table)
    return {r.name: (r.kind, decided.tables[r.target].table.name) for r in served.relations}


def shop() -> MetaData:
    """Two foreign keys to one table, a self-reference without key suffix, a reserved name."""
    metadata = MetaData()
    Table("users", metadata, Column("id", Integer, primary_key=True), Column("query", String(9)))
    Table(
        "orders", metadata,
        Column("id", Integer, primary_key=True),
        Column("buyer_id", Integer, ForeignKey("users.id")),
        Column("seller_id", Integer, ForeignKey("users.id")),
        Column("users", String(10)),
    )  # fmt: skip
    Table(
        "staff", metadata,
        Column("StaffId", Integer, primary_key=True),
        Column("Boss", Integer, ForeignKey("staff.StaffId")),
    )  # fmt: skip
    return metadata


def test_relation_names() -> None:
    """Several keys to one table: ``<table>_by_<to-one>``; a clash takes the other table's name."""
    decided = plan(shop(), (), "sqlite", Choice(naming="snake"))
    assert relations(decided, "orders") == {
        "buyer": ("to-one", "users"),
        "seller": ("to-one", "users"),
    }
    assert relations(decided, "users") == {
        "orders_by_buyer": ("to-many", "orders"),
        "orders_by_seller": ("to-many", "orders"),
    }
    # Boss has no key suffix: under snake the column is "boss", so the to-one is "boss_staff".
    assert relations(decided, "staff") == {
        "boss_staff": ("to-one", "staff"),
        "staff": ("to-many", "staff"),
    }
    keep = plan(shop(), (), "sqlite", Choice())
    assert set(relations(keep, "staff")) == {"boss", "staff"}
    users = next(t for t in keep.tables.values() if t.table.name == "users")
    assert users.attributes == {"id": "id", "query": "query_"}  # the engine keeps "query"


def test_the_same_names_every_time() -> None:
    """Names do not depend on the order tables were declared or reflected in."""
    first = plan(shop(), (), "sqlite", Choice(naming="snake"))
    reordered = MetaData()
    for table in reversed(list(shop().sorted_tables)):
        table.to_metadata(reordered)
    second = plan(reordered, (), "sqlite", Choice(naming="snake"))
    for name in ("users", "orders", "staff"):
        assert relations(first, name) == relations(second, name)


def test_choosing_tables() -> None:
    """--tables and --exclude-tables ignore case; relations to tables left out are dropped."""
    decided = plan(shop(), (), "sqlite", Choice(reflect_tables=("ORDERS", "Staff")))
    assert sorted(t.collection for t in decided.tables.values()) == ["orders", "staff"]
    assert relations(decided, "orders") == {}
    assert {s.reason for s in decided.skipped} == {"refers to users, which is not served"}
    decided = plan(shop(), (), "sqlite", Choice(exclude_tables=("users",)))
    assert sorted(t.collection for t in decided.tables.values()) == ["orders", "staff"]
    assert ("users", "in --exclude-tables") in {(s.what, s.reason) for s in decided.skipped}


def test_names_equal_but_for_case() -> None:
    """Two tables whose names differ only by case: the first in name order is served."""
    metadata = MetaData()
    Table("Items", metadata, Column("id", Integer, primary_key=True))
    Table("items", metadata, Column("id", Integer, primary_key=True))
    decided = plan(metadata, (), "postgresql", Choice())
    assert [t.collection for t in decided.tables.values()] == ["Items"]
    assert [(s.what, s.reason) for s in decided.skipped] == [
        ("items", "its name differs only by case")
    ]


def test_nothing_to_serve(tmp_path: Path) -> None:
    """A database with nothing to serve is a one-line error, not an empty service."""
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(ReflectionError, match="nothing to serve"):
        reflect_now(engine, Choice())
    metadata = MetaData()
    Table("t", metadata, Column("id", Integer, primary_key=True))
    metadata.create_all(engine)
    with pytest.raises(ReflectionError, match="t: in --exclude-tables"):
        reflect_now(engine, Choice(exclude_tables=("t",)))
    models = reflect_now(engine, Choice(exclude_columns=("t.nope",)))
    assert [(s.what, s.reason) for s in models.skipped] == [
        ("t.nope", "--exclude-columns names no served column")
    ]
    engine.dispose()
