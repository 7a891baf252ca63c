"""Client values to column values: every way a value comes in, in one module.

A client's value reaches a column from four places, each with its own rule:

* a filter of ``q`` (:func:`filter_value`): compared with a column, so it is
  converted as SQLite's type affinity converts it, the same way on every
  database (``"5"`` finds the integer 5); a ``like`` pattern stays text; a
  value past the column's range is a legitimate bound (it is compared, not
  stored), only an integer past 64 bits is a 400;
* a request body (:func:`column_value`): stored in a column, so it must fit
  the column as PostgreSQL and MariaDB would have it fit (type, integer
  range, length, digits), or the write is a 400, on SQLite too;
* a URL segment (:func:`url_key`): a primary key within its column's range,
  or a 404;
* a cursor (:func:`cursor_value`): key values the engine wrote itself, read back.

Dates are ISO 8601 strings or any complete form ``dateutil`` reads, in all of
them, offsets converted to UTC (:func:`parse_temporal`).
"""

from __future__ import annotations

import datetime
import re
import sys
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from dateutil import tz
from dateutil.parser import parse as parse_date
from sqlalchemy import BigInteger, Double, Float, SmallInteger, String, func, literal
from sqlalchemy.types import TypeDecorator

from ._errors import BodyError, NotFound, QueryError
from ._schema import ModelInfo

#: 0.17's markers for "now" in date fields.
CURRENT_TIME_MARKERS = {
    "CURRENT_TIMESTAMP": func.current_timestamp,
    "CURRENT_DATE": func.current_date,
    "LOCALTIMESTAMP": func.localtimestamp,
}

_SCALARS = (str, int, float, bool)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
#: The largest single-precision float (what a ``REAL`` holds).
_SINGLE_MAX = float.fromhex("0x1.fffffep+127")
#: The largest double.
_DOUBLE_MAX = Decimal(repr(sys.float_info.max))
#: MariaDB's integer types with a width other than 32 bits, by class name.
_MYSQL_BITS = {"TINYINT": 8, "MEDIUMINT": 24}
#: Text that SQLite's numeric affinity turns into an integer or a real.
_INTEGER_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*")
_REAL_TEXT = re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*")
#: A primary key in a URL, for an integer column.
_INTEGER = re.compile(r"-?[0-9]+")


#: Longest date text read: no date needs more, and the parser's time grows with it.
MAX_DATE_TEXT = 64
#: Two default moments that differ in year, month and day (and agree on the time):
#: a date that reads differently with each is missing one of them.
_DEFAULTS = (datetime.datetime(2000, 1, 1), datetime.datetime(2001, 2, 2))
_UTC_NAMES = frozenset({"UTC", "GMT", "Z"})


class IncompleteDate(ValueError):
    """A date without its day, month or year (0.17 took them from today's date)."""


def _zone(name: str | None, offset: int | None) -> datetime.tzinfo | None:
    """dateutil's ``tzinfos``: numeric offsets and UTC; a zone name it cannot place is an error."""
    if name is not None and name.upper() not in _UTC_NAMES:
        raise ValueError(f"unknown time zone {name!r}")
    return None if offset is None and name is None else tz.tzoffset(None, offset or 0)


def read_moment(text: str) -> datetime.datetime:
    """A date or datetime in ISO 8601 or any other form ``dateutil`` reads, as 0.17 did.

    Unlike 0.17, which filled a missing day, month or year in from today's
    date, a date missing one of them is refused (``ValueError``).
    """
    if len(text) > MAX_DATE_TEXT:
        raise ValueError("too long for a date")
    try:
        return datetime.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        pass
    try:
        first, second = (parse_date(text, default=d, tzinfos=_zone) for d in _DEFAULTS)
    except (ValueError, OverflowError, TypeError) as e:
        raise ValueError(str(e)) from None
    if first.date() != second.date():
        raise IncompleteDate(text)
    return first


def _utc(moment: Any, aware: bool) -> Any:
    """An offset converted away: naive UTC for a column without a time zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment
    if isinstance(moment, datetime.time):
        base = datetime.datetime.combine(datetime.date(2000, 1, 1), moment)
        return _utc(base, aware).timetz()
    moment = moment.astimezone(datetime.UTC)
    return moment if aware else moment.replace(tzinfo=None)


def parse_temporal(value: Any, kind: type, *, aware: bool = False) -> Any:
    """Turn a client's date string into the Python value a temporal column holds.

    Dates and datetimes: ISO 8601 or any complete form ``dateutil`` reads
    (``"15/09/1986"``, ``"2nd Jan 1900 14:35"``), as in 0.17.  Times: ISO
    8601.  A value with an offset is converted to UTC (kept aware only for
    an ``aware`` column, one with a time zone).
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise QueryError("a date value must be a string")
    text = value.strip()
    if text == "":
        return None
    if text in CURRENT_TIME_MARKERS:
        return CURRENT_TIME_MARKERS[text]()
    try:
        if kind is datetime.time:
            return _utc(datetime.time.fromisoformat(text), aware)
        if kind is datetime.timedelta:
            return datetime.timedelta(seconds=float(text))
        moment = _utc(read_moment(text), aware)
    except IncompleteDate:
        raise QueryError(f"{value!r} is not a whole date: give its day, month and year") from None
    except (ValueError, OverflowError):
        raise QueryError(f"{value!r} is not a date") from None
    return moment.date() if kind is datetime.date else moment


def temporal_value(info: ModelInfo, name: str, value: Any, kind: type) -> Any:
    """:func:`parse_temporal` for field ``name`` (aware if its column has a time zone)."""
    coltype = info.column_types.get(name)
    return parse_temporal(value, kind, aware=bool(getattr(coltype, "timezone", False)))


def text_of(value: Any) -> str:
    """SQLite's text form of a scalar (booleans are ``1``/``0``)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


# -- filters ---------------------------------------------------------------------------


def coerce_scalar(value: Any, kind: type | None, name: str) -> Any:
    """A filter value as the type of the column it is compared with.

    SQLite converts a value to the column's type before comparing (its "type
    affinity"): ``"5"`` finds the row whose integer key is 5, and ``5`` the
    text ``"5"``.  PostgreSQL refuses such comparisons and MariaDB compares
    text with numbers as numbers, so the value is converted here, the same way
    for all of them.  Text that is not a number, compared with a number column,
    is a 400 everywhere (SQLite would quietly sort it after every number).
    """
    if kind is str:
        return text_of(value) if not isinstance(value, str) else value
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise QueryError(f"the value for {name!r} must be true or false")
    if kind in (int, float, Decimal):
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str):
            if _INTEGER_TEXT.fullmatch(value):
                value = int(value)
            elif _REAL_TEXT.fullmatch(value):
                value = float(value)
            else:
                raise QueryError(f"the value for {name!r} must be a number")
        if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
            raise QueryError(f"the value for {name!r} is out of range")
    return value


def filter_value(info: ModelInfo, name: str, value: Any, *, pattern: bool = False) -> Any:
    """A filter value for field ``name`` (a ``like`` pattern stays text); 400 if it cannot be."""
    kind = info.is_temporal(name)
    if kind is not None:
        return temporal_value(info, name, value, kind)
    if not isinstance(value, _SCALARS):
        raise QueryError(f"the value for {name!r} must be a string, number or boolean")
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        raise QueryError(f"the value for {name!r} is out of range")
    if isinstance(value, str) and "\x00" in value:
        # PostgreSQL text cannot hold NUL, so no row could match anywhere.
        raise QueryError(f"the value for {name!r} contains a NUL character")
    if pattern:
        return value if isinstance(value, str) else text_of(value)
    kind = info.python_type(name)
    value = coerce_scalar(value, kind, name)
    if kind is int and isinstance(value, int):
        # SQLAlchemy sends PostgreSQL ``value::INTEGER`` for an INTEGER column,
        # which fails past 32 bits where SQLite just finds nothing: compare as
        # BIGINT (an index on the column still serves).
        return literal(value, BigInteger())
    return value


# -- request bodies ----------------------------------------------------------------------


def _invalid(name: str, expected: str) -> BodyError:
    return BodyError(
        f"Invalid value for field '{name}'", validation_errors={name: f"expected {expected}"}
    )


def integer_bounds(coltype: Any) -> tuple[int, int]:
    """The smallest and largest value an integer column holds on PostgreSQL and MariaDB.

    ``Integer`` is 32 bits there (SQLite would store 64), ``SmallInteger`` 16,
    ``BigInteger`` 64; MariaDB's ``TINYINT`` and ``MEDIUMINT`` 8 and 24, and
    its ``UNSIGNED`` types start at 0.
    """
    coltype = _impl(coltype)
    bits = 32
    if isinstance(coltype, BigInteger):
        bits = 64
    elif isinstance(coltype, SmallInteger):
        bits = 16
    else:
        bits = _MYSQL_BITS.get(type(coltype).__name__, 32)
    if getattr(coltype, "unsigned", False):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _impl(coltype: Any) -> Any:
    while isinstance(coltype, TypeDecorator):
        coltype = coltype.impl_instance
    return coltype


def _is_single_precision(coltype: Any) -> bool:
    """A float column MariaDB or PostgreSQL keeps in 4 bytes (``REAL``; ``FLOAT`` on MariaDB)."""
    coltype = _impl(coltype)
    if isinstance(coltype, Double) or not isinstance(coltype, Float):
        return False
    precision = getattr(coltype, "precision", None)
    return precision is None or precision <= 24


def column_value(info: ModelInfo, name: str, value: Any) -> Any:
    """A body value as the Python value column ``name`` holds; 400 if it does not fit.

    It must fit the way PostgreSQL and MariaDB would have it (SQLite stores
    anything): the same refusals, with the same message, on every database.
    """
    if value is None or name not in info.columns:
        return value
    kind = info.is_temporal(name)
    if kind is not None:
        try:
            return temporal_value(info, name, value, kind)
        except QueryError:
            raise _invalid(name, "a complete date") from None
    coltype = info.column_types[name]
    python_type = info.python_type(name)
    if python_type is str:
        return _fit_text(name, value, coltype)
    if python_type is bool:
        if not isinstance(value, bool):
            raise _invalid(name, "true or false")
        return value
    if python_type is int:
        low, high = integer_bounds(coltype)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _invalid(name, f"an integer from {low} to {high}")
        return value
    if python_type in (float, Decimal):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _invalid(name, "a number")
        return _fit_number(name, value, coltype, python_type)
    return value


def is_text(value: str) -> bool:
    """Whether a string is Unicode text a database can store (no lone surrogate)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fit_text(name: str, value: Any, coltype: Any) -> str:
    if not isinstance(value, str):
        raise _invalid(name, "a string")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL: refused on every database alike.
        raise _invalid(name, "a string without NUL characters")
    if not is_text(value):
        raise _invalid(name, "a string of Unicode characters")
    length = getattr(coltype, "length", None) if isinstance(_impl(coltype), String) else None
    if length is not None and len(value) > length:
        raise _invalid(name, f"at most {length} characters")
    return value


def _fit_number(name: str, value: float, coltype: Any, python_type: type) -> Any:
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise _invalid(name, "a finite number")
    if isinstance(_impl(coltype), Float):
        if abs(number) > _DOUBLE_MAX:
            raise _invalid(name, "a finite number")
        if _is_single_precision(coltype) and abs(number) > _SINGLE_MAX:
            raise _invalid(name, f"a number from {-_SINGLE_MAX} to {_SINGLE_MAX}")
        return float(number) if python_type is float else number
    precision, scale = getattr(coltype, "precision", None), getattr(coltype, "scale", None)
    if precision is not None:
        digits = precision - (scale or 0)  # NUMERIC(p) is NUMERIC(p, 0)
        if number.adjusted() >= digits:
            raise _invalid(name, f"at most {digits} digits before the point")
        # Rounded half away from zero, as PostgreSQL and MariaDB round.
        number = number.quantize(Decimal(1).scaleb(-(scale or 0)), rounding=ROUND_HALF_UP)
        if number.adjusted() >= digits:
            raise _invalid(name, f"at most {digits} digits before the point")
    return number if python_type is Decimal else float(number)


# -- URLs and cursors ----------------------------------------------------------------------


def url_key(info: ModelInfo, name: str, text: str) -> Any:
    """A URL segment as a value of primary-key column ``name`` (404 if it cannot be one)."""
    if info.python_type(name) is int:
        if not _INTEGER.fullmatch(text) or len(text) > 20:
            raise NotFound()
        low, high = integer_bounds(info.column_types[name])
        if not low <= int(text) <= high:
            raise NotFound()  # no row can have it
        return int(text)
    if "\x00" in text or not is_text(text):
        raise NotFound()  # no database can hold it
    return text


def cursor_value(info: ModelInfo, name: str, value: Any) -> Any:
    """A key value read back from a cursor, typed like its column (400 if it is not one)."""
    try:
        return column_value(info, name, _decimal_text(info, name, value))
    except (BodyError, InvalidOperation):
        raise QueryError("invalid cursor") from None


def _decimal_text(info: ModelInfo, name: str, value: Any) -> Any:
    """Decimals travel as strings (every digit kept); read them back."""
    if isinstance(value, str) and info.python_type(name) is Decimal:
        number = Decimal(value)
        if not number.is_finite():
            raise InvalidOperation(value)
        if len(number.as_tuple().digits) > 15:
            raise InvalidOperation(value)  # not a value our NUMERIC columns hold
        return float(number)
    return value
