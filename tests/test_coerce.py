"""Client values to column values (``restless._coerce``), on column types Chinook lacks.

A value written to a column must fit it the way PostgreSQL and MariaDB
would have it fit, also on SQLite (which stores anything): integers within
the column type's range, strings within ``String(n)``, numbers within a
``Numeric``'s precision, floats within a single-precision ``REAL``.  A URL
key out of its column's range names no row (404).  A filter value is a
comparison, not a stored value: any 64-bit integer is fine.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    REAL,
    BigInteger,
    Boolean,
    Column,
    Double,
    Float,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase

from chinook_svc.restless._coerce import column_value, filter_value, url_key
from chinook_svc.restless._errors import BodyError, NotFound, QueryError
from chinook_svc.restless._schema import Catalog


class Base(DeclarativeBase):
    pass


class Sample(Base):
    __tablename__ = "sample"
    id = Column(Integer, primary_key=True)
    small = Column(SmallInteger)
    big = Column(BigInteger)
    tiny = Column(mysql.TINYINT)
    unsigned = Column(mysql.INTEGER(unsigned=True))
    single = Column(Float(24))
    real = Column(REAL)
    double = Column(Double)
    plain = Column(Float)
    whole = Column(Numeric(5))
    money = Column(Numeric(5, 2))
    free = Column(Numeric)
    code = Column(String(3))
    body = Column(Text)
    flag = Column(Boolean)


INFO = Catalog().info(Sample)
#: The largest single-precision float.
SINGLE = 3.4028234663852886e38


def refused(name: str, value: Any) -> str:
    """The ``validation_errors`` text for a refused body value."""
    with pytest.raises(BodyError) as caught:
        column_value(INFO, name, value)
    assert caught.value.message == f"Invalid value for field '{name}'"
    return str(caught.value.extra["validation_errors"][name])


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("id", -(2**31), 2**31 - 1),
        ("small", -(2**15), 2**15 - 1),
        ("big", -(2**63), 2**63 - 1),
        ("tiny", -(2**7), 2**7 - 1),
        ("unsigned", 0, 2**32 - 1),
    ],
)
def test_integers_within_the_column_types_range(name: str, low: int, high: int) -> None:
    """The ends of the range are taken; one past either end is a 400 that names the range."""
    assert column_value(INFO, name, low) == low
    assert column_value(INFO, name, high) == high
    message = f"expected an integer from {low} to {high}"
    assert refused(name, low - 1) == message
    assert refused(name, high + 1) == message
    assert refused(name, 1.5) == message
    assert refused(name, True) == message


def test_numeric_precision_and_scale() -> None:
    """NUMERIC(p, s): digits before the point bounded, the fraction rounded as servers do."""
    assert column_value(INFO, "money", 999.99) == Decimal("999.99")
    assert column_value(INFO, "money", 0.125) == Decimal("0.13")
    assert column_value(INFO, "money", -0.125) == Decimal("-0.13")
    assert column_value(INFO, "whole", 99999) == Decimal(99999)
    assert column_value(INFO, "whole", 2.5) == Decimal(3)
    for value in (1000, 999.995, 1e300, -1e300, 10**400):
        assert refused("money", value) == "expected at most 3 digits before the point"
    assert refused("whole", 100000) == "expected at most 5 digits before the point"
    assert column_value(INFO, "free", 10**30) == Decimal(10**30)
    assert refused("free", float("inf")) == "expected a finite number"


def test_floats() -> None:
    """A single-precision column (REAL; FLOAT on MariaDB) takes what a REAL holds; a double
    takes any finite number."""
    assert column_value(INFO, "single", 3.4e38) == 3.4e38
    assert column_value(INFO, "real", -3.4e38) == -3.4e38
    for name in ("single", "real", "plain"):
        assert refused(name, 1e39) == f"expected a number from {-SINGLE} to {SINGLE}"
    assert column_value(INFO, "double", 1e308) == 1e308
    assert refused("double", 10**400) == "expected a finite number"


def test_strings() -> None:
    """String(n) holds n characters (not bytes); Text any; never NUL or a lone surrogate."""
    assert column_value(INFO, "code", "日本語") == "日本語"
    assert refused("code", "abcd") == "expected at most 3 characters"
    assert column_value(INFO, "body", "x" * 100000) == "x" * 100000
    assert refused("body", "a\x00") == "expected a string without NUL characters"
    assert refused("body", "a\ud800") == "expected a string of Unicode characters"
    assert refused("code", 5) == "expected a string"


def test_url_keys_out_of_range_name_no_row() -> None:
    """An instance URL's key past its column's range is a 404, like any key with no row."""
    assert url_key(INFO, "id", "2147483647") == 2147483647
    for text in ("2147483648", "-2147483649", "99999999999999999999", "1e3", "01x"):
        with pytest.raises(NotFound):
            url_key(INFO, "id", text)
    assert url_key(INFO, "code", "abc") == "abc"
    for text in ("a\x00b", "a\ud800"):
        with pytest.raises(NotFound):
            url_key(INFO, "code", text)


def test_filter_values_are_comparisons() -> None:
    """A filter may name any 64-bit integer, whatever the column; past that: 400."""
    assert filter_value(INFO, "small", 2**40).value == 2**40
    assert filter_value(INFO, "money", 1e300) == 1e300
    assert filter_value(INFO, "code", "abcdef") == "abcdef"
    with pytest.raises(QueryError):
        filter_value(INFO, "small", 2**63)
