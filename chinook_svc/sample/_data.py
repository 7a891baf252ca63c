"""The bundled sample data file: its format, and reading it back as Python values.

``data/chinook.json.gz`` is one gzip'd JSON document written by
``scripts/build_sample.py``::

    {"format": 1, "source": "...",
     "tables": {"artists": {"columns": ["artist_id", "name"],
                            "rows": [[1, "AC/DC"], ...]}, ...}}

Tables are the logical names of :data:`chinook_svc.models.TABLES`, columns the
models' attribute names.  Values are dialect-neutral JSON: integers, strings,
``null``, numbers for ``Numeric`` columns (``0.99``) and ``"YYYY-MM-DD HH:MM:SS"``
text for ``DateTime`` columns.  :func:`typed_rows` turns them into ``Decimal``
and ``datetime`` values, so every database receives the same Python data.
``data/chinook.json.gz.sha256`` holds the file's SHA-256, checked on reading.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from importlib import resources
from typing import Any

from sqlalchemy import inspect

from chinook_svc.models import DEFAULT, TABLES

#: Version of the JSON layout above.
FORMAT = 1
#: Name of the data file inside ``chinook_svc/sample/data/``.
DATA_FILE = "chinook.json.gz"
#: Name of the file holding the data file's SHA-256.
CHECKSUM_FILE = DATA_FILE + ".sha256"


class SampleDataError(ValueError):
    """The bundled data file is missing, corrupt or in an unknown format."""


def columns_of(table: str) -> list[tuple[str, Any]]:
    """``(attribute name, Column)`` pairs of a logical table, in model order.

    Raises:
        SampleDataError: ``table`` is not a Chinook table.
    """
    if table not in TABLES:
        raise SampleDataError(f"unknown Chinook table {table!r}; expected one of {TABLES}")
    mapper = inspect(DEFAULT.by_table()[table])
    return [(attr.key, attr.columns[0]) for attr in mapper.column_attrs]


def _parse_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _parse_decimal(value: float | int | str) -> Decimal:
    return Decimal(str(value))


def value_kind(column: Any) -> str | None:
    """``"datetime"``, ``"money"`` or ``None``: how a column's values are stored in the file.

    Judged by the Python type of the column's values, so that a
    ``TypeDecorator`` over ``DateTime`` counts as a datetime.
    """
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return None
    if python_type is datetime:
        return "datetime"
    if python_type is Decimal:
        return "money"
    return None


def _converter(column: Any) -> Callable[[Any], Any] | None:
    kind = value_kind(column)
    if kind == "datetime":
        return _parse_datetime
    if kind == "money":
        return _parse_decimal
    return None


def _data_file(name: str) -> resources.abc.Traversable:
    return resources.files("chinook_svc.sample").joinpath("data").joinpath(name)


def data_sha256() -> str:
    """The recorded SHA-256 of the bundled data file (hex)."""
    return _data_file(CHECKSUM_FILE).read_text().split()[0]


@functools.cache
def _payload() -> dict[str, Any]:
    try:
        blob = _data_file(DATA_FILE).read_bytes()
    except OSError as exc:
        raise SampleDataError(f"the bundled sample data is missing: {exc}") from None
    if hashlib.sha256(blob).hexdigest() != data_sha256():
        raise SampleDataError(f"the bundled sample data {DATA_FILE} does not match its checksum")
    payload: dict[str, Any] = json.loads(gzip.decompress(blob))
    if payload.get("format") != FORMAT:
        raise SampleDataError(f"unknown sample data format {payload.get('format')!r}")
    return payload


def source() -> str:
    """Where the bundled data came from, as recorded by the build script."""
    return str(_payload()["source"])


def typed_rows(table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The attribute names and rows of one table, values converted to Python types.

    ``DateTime`` columns become naive :class:`~datetime.datetime` objects and
    ``Numeric`` ones :class:`~decimal.Decimal` values.

    Raises:
        SampleDataError: the table is unknown or the data file does not fit the models.
    """
    columns = columns_of(table)
    stored = _payload()["tables"][table]
    names = [name for name, _ in columns]
    if stored["columns"] != names:
        raise SampleDataError(f"sample data columns of {table} {stored['columns']} != {names}")
    converters = [_converter(column) for _, column in columns]
    rows = [
        tuple(
            value if convert is None or value is None else convert(value)
            for convert, value in zip(converters, row, strict=True)
        )
        for row in stored["rows"]
    ]
    return names, rows


def read_rows(table: str) -> list[dict[str, Any]]:
    """The bundled rows of a logical table (e.g. ``"albums"``), keyed by attribute name.

    Values are the Python values the loader inserts (``Decimal``, ``datetime``, ...).

    Raises:
        SampleDataError: the table is unknown or the data file is damaged.
    """
    names, rows = typed_rows(table)
    return [dict(zip(names, row, strict=True)) for row in rows]
