"""Databases for the reflection tests, built on any of the three backends.

* :func:`build_odd_schema`: a schema written to be awkward: composite
  primary keys (of integers; of strings holding ``,`` and ``%``), a string
  key holding ``,``, a self-reference through a nullable foreign key, a view, a
  table without a primary key, a many-to-many, mixed-case and reserved-word
  names (``"Order"``, ``"select"``), a column with a space, a column to
  hide, and a table of 100,000 rows.
* :func:`copy_database`: the tables and rows of one database copied into
  another (e.g. the lerocha SQLite file into a PostgreSQL schema), with the
  same names, keys and foreign keys, types made generic.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    insert,
    select,
)
from sqlalchemy.engine import Engine

BIG_ROWS = 100_000
PEOPLE = [
    {"id": 1, "name": "Ada", "manager_id": None, "password_hash": "h1"},
    {"id": 2, "name": "Bob", "manager_id": 1, "password_hash": "h2"},
    {"id": 3, "name": "Cy", "manager_id": 1, "password_hash": "h3"},
]

#: Label's composite key holds strings with "," and "%" (percent-encoded in its URLs).
LABELS = [
    {"code": "a,b", "lang": "en", "text": "comma"},
    {"code": "50%", "lang": "fr", "text": "percent"},
    {"code": "x", "lang": "en", "text": "plain"},
]


def odd_metadata(schema: str | None) -> MetaData:
    """The awkward schema's tables, in ``schema`` (``None``: the default one)."""
    metadata = MetaData(schema=schema)
    Table(
        "Person", metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String(50), nullable=False),
        Column("manager_id", Integer, ForeignKey("Person.id"), nullable=True),
        Column("password_hash", String(60)),
    )  # fmt: skip
    Table(
        "Order", metadata,
        Column("OrderId", Integer, primary_key=True, autoincrement=False),
        Column("person_id", Integer, ForeignKey("Person.id"), nullable=True),
        Column("select", String(20)),
        Column("unit price", Numeric(10, 2)),
    )  # fmt: skip
    Table(
        "Tag", metadata,
        Column("tag_id", Integer, primary_key=True, autoincrement=False),
        Column("label", String(20)),
    )  # fmt: skip
    Table(
        "order_tag", metadata,
        Column("OrderId", Integer, ForeignKey("Order.OrderId"), primary_key=True),
        Column("tag_id", Integer, ForeignKey("Tag.tag_id"), primary_key=True),
    )  # fmt: skip
    Table(
        "Line", metadata,
        Column("order_id", Integer, ForeignKey("Order.OrderId"), primary_key=True),
        Column("line_no", Integer, primary_key=True, autoincrement=False),
        Column("qty", Integer),
    )  # fmt: skip
    Table(
        "Label", metadata,
        Column("code", String(20), primary_key=True),
        Column("lang", String(10), primary_key=True),
        Column("text", String(40)),
    )  # fmt: skip
    Table("Word", metadata, Column("word", String(20), primary_key=True))
    Table("Reading", metadata, Column("sensor", String(10)), Column("value", Integer))
    Table(
        "big", metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("n", Integer),
    )  # fmt: skip
    return metadata


def build_odd_schema(engine: Engine, schema: str | None) -> None:
    """Create and fill the awkward schema, its view included."""
    metadata = odd_metadata(schema)
    metadata.create_all(engine)
    t = {table.name: table for table in metadata.tables.values()}
    quote = engine.dialect.identifier_preparer
    prefix = "" if schema is None else quote.quote_schema(schema) + "."
    with engine.begin() as conn:
        conn.execute(insert(t["Person"]), PEOPLE)
        conn.execute(
            insert(t["Order"]),
            [
                {"OrderId": 1, "person_id": 2, "select": "x", "unit price": Decimal("1.50")},
                {"OrderId": 2, "person_id": None, "select": "y", "unit price": Decimal("2.25")},
            ],
        )
        conn.execute(
            insert(t["Tag"]), [{"tag_id": 1, "label": "red"}, {"tag_id": 2, "label": "blue"}]
        )
        conn.execute(
            insert(t["order_tag"]),
            [{"OrderId": 1, "tag_id": 1}, {"OrderId": 1, "tag_id": 2}, {"OrderId": 2, "tag_id": 2}],
        )
        conn.execute(
            insert(t["Line"]),
            [
                {"order_id": 1, "line_no": 1, "qty": 5},
                {"order_id": 1, "line_no": 2, "qty": 7},
                {"order_id": 2, "line_no": 1, "qty": 3},
            ],
        )
        conn.execute(insert(t["Label"]), LABELS)
        conn.execute(insert(t["Word"]), [{"word": "a,b"}, {"word": "50%"}])
        conn.execute(
            insert(t["Reading"]), [{"sensor": "a", "value": 1}, {"sensor": "b", "value": 2}]
        )
        for start in range(0, BIG_ROWS, 20_000):
            rows = [{"id": i + 1, "n": (i + 1) % 7} for i in range(start, start + 20_000)]
            conn.execute(insert(t["big"]), rows)
        conn.exec_driver_sql(
            f"CREATE VIEW {prefix}person_names AS "
            f"SELECT id, name FROM {prefix}{quote.quote('Person')}"
        )


def copy_database(source: Engine, target: Engine, schema: str | None) -> int:
    """Copy every table of ``source`` (names, keys, foreign keys, rows) into ``target``.

    Returns the number of rows copied.
    """
    found = MetaData()
    found.reflect(source)
    copied = MetaData(schema=schema)
    for table in found.sorted_tables:
        Table(
            table.name,
            copied,
            *(
                Column(c.name, c.type.as_generic(), primary_key=c.primary_key, autoincrement=False)
                for c in table.columns
            ),
            *(
                ForeignKeyConstraint(
                    list(fk.column_keys),
                    [f"{fk.referred_table.name}.{e.column.name}" for e in fk.elements],
                )
                for fk in table.foreign_key_constraints
            ),
        )
    copied.create_all(target)
    rows = 0
    with source.connect() as reading, target.begin() as writing:
        for table in found.sorted_tables:
            values = [dict(r._mapping) for r in reading.execute(select(table))]
            if values:
                writing.execute(
                    insert(
                        copied.tables[table.key if schema is None else f"{schema}.{table.name}"]
                    ),
                    values,
                )
            rows += len(values)
    return rows
