"""Python values to JSON: per-column converters and the response encoder.

Values follow ``docs/protocol.md``: dates, times and datetimes as naive ISO
8601 strings (``"2009-01-01T00:00:00"``), UUIDs as strings, ``Decimal`` as a
JSON number with the same digits, keys sorted.  No Twisted imports here.
"""

from __future__ import annotations

import base64
import datetime
import enum
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.types import TypeEngine

Converter = Callable[[Any], Any]


def _iso(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _text(value: Any) -> Any:
    return None if value is None else str(value)


def _seconds(value: Any) -> Any:
    return None if value is None else value.total_seconds()


def converter_for(coltype: TypeEngine[Any]) -> Converter | None:
    """The function that turns a column's values into JSON-able ones (``None``: as is)."""
    try:
        python_type = coltype.python_type
    except NotImplementedError:
        return plain_value
    if python_type in (datetime.datetime, datetime.date, datetime.time):
        return _iso
    if python_type is uuid.UUID:
        return _text
    if python_type is datetime.timedelta:
        return _seconds
    if python_type in (int, str, float, bool, Decimal):
        return None
    return plain_value


def plain_value(value: Any) -> Any:
    """A JSON-able form of any value a column, hybrid or method may produce."""
    if value is None or isinstance(value, (str, int, float, bool, Decimal)):
        return value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return plain_value(value.value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain_value(v) for v in value]
    return str(value)


def _decimal(value: Decimal) -> Any:
    if not value.is_finite():
        return None
    as_float = float(value)
    # Same digits as the database gave: a float when it round-trips, else raw digits.
    if Decimal(repr(as_float)) == value:
        return as_float
    return orjson.Fragment(format(value, "f"))


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _decimal(value)
    return plain_value(value)


_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _fallback_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    return plain_value(value)


def encode(obj: Any) -> bytes:
    """Encode a response body: compact JSON, keys sorted."""
    try:
        return orjson.dumps(obj, default=_default, option=_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        # orjson refuses integers beyond 64 bits; the standard library does not.
        return json.dumps(
            obj, default=_fallback_default, sort_keys=True, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
