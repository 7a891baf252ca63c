"""``dberrors``: database errors are classified by each database's code, not by class.

The drivers' own exception classes are built here with the codes the
servers send (the real servers' answers are checked end to end in
``test_backend_writes.py`` and ``test_db_resilience.py``); each is wrapped
the way SQLAlchemy wraps it, sometimes in a class that disagrees with the
code, as PyMySQL does for MariaDB's error 1364.
"""

from __future__ import annotations

import sqlite3

import psycopg.errors
import pymysql.err
import pytest
from sqlalchemy import exc as sa_exc

from chinook_svc.restless._dberrors import Fault, classify, read_error, write_error


def wrapped(cls: type[sa_exc.DBAPIError], orig: BaseException) -> sa_exc.DBAPIError:
    """``orig`` as SQLAlchemy hands it over, wrapped in ``cls``."""
    return cls("INSERT ...", {}, orig)


def sqlite_error(cls: type[sqlite3.Error], code: int, message: str) -> sqlite3.Error:
    """A ``sqlite3`` exception carrying an (extended) result code."""
    error = cls(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


CASES = [
    # MariaDB: "Field doesn't have a default value" comes as an OperationalError.
    (sa_exc.OperationalError, pymysql.err.OperationalError(1364, "no default"), Fault.INTEGRITY),
    (sa_exc.IntegrityError, pymysql.err.IntegrityError(1062, "Duplicate entry"), Fault.CONFLICT),
    (sa_exc.IntegrityError, pymysql.err.IntegrityError(1452, "foreign key"), Fault.INTEGRITY),
    (sa_exc.DataError, pymysql.err.DataError(1406, "Data too long"), Fault.CLIENT),
    (sa_exc.OperationalError, pymysql.err.OperationalError(1969, "max_statement_time"),
     Fault.UNAVAILABLE),
    (sa_exc.OperationalError, pymysql.err.OperationalError(2013, "Lost connection"),
     Fault.UNAVAILABLE),
    (sa_exc.OperationalError, pymysql.err.OperationalError(1205, "Lock wait timeout"),
     Fault.UNAVAILABLE),
    (sa_exc.OperationalError, psycopg.errors.lookup("57014")("canceling statement"),
     Fault.UNAVAILABLE),
    (sa_exc.OperationalError, psycopg.errors.lookup("53300")("too many connections"),
     Fault.UNAVAILABLE),
    (sa_exc.IntegrityError, psycopg.errors.lookup("23502")("not null"), Fault.INTEGRITY),
    (sa_exc.IntegrityError, psycopg.errors.lookup("23505")("unique"), Fault.CONFLICT),
    (sa_exc.DataError, psycopg.errors.lookup("22003")("out of range"), Fault.CLIENT),
    (sa_exc.InternalError, psycopg.errors.lookup("XX000")("internal"), Fault.INTERNAL),
    (sa_exc.OperationalError, sqlite_error(sqlite3.OperationalError, 5, "database is locked"),
     Fault.UNAVAILABLE),
    (sa_exc.OperationalError, sqlite_error(sqlite3.OperationalError, 9, "interrupted"),
     Fault.UNAVAILABLE),
    (sa_exc.IntegrityError, sqlite_error(sqlite3.IntegrityError, 1299, "NOT NULL failed"),
     Fault.INTEGRITY),
    (sa_exc.IntegrityError, sqlite_error(sqlite3.IntegrityError, 2067, "UNIQUE failed"),
     Fault.CONFLICT),
    (sa_exc.OperationalError, sqlite_error(sqlite3.OperationalError, 1, "too many SQL variables"),
     Fault.CLIENT),
    (sa_exc.DatabaseError, sqlite_error(sqlite3.DatabaseError, 26, "not a database"),
     Fault.INTERNAL),
]  # fmt: skip


@pytest.mark.parametrize(("cls", "orig", "fault"), CASES, ids=lambda v: repr(v)[:40])
def test_classified_by_code(
    cls: type[sa_exc.DBAPIError], orig: BaseException, fault: Fault
) -> None:
    """Each driver error is classified by its code, whatever class wraps it."""
    assert classify(wrapped(cls, orig)) is fault


def test_a_code_beats_the_class() -> None:
    """The same class means different things with different codes."""
    missing_default = wrapped(sa_exc.OperationalError, pymysql.err.OperationalError(1364, "x"))
    lost = wrapped(sa_exc.OperationalError, pymysql.err.OperationalError(2006, "gone away"))
    assert (write_error(missing_default).status, write_error(missing_default).message) == (
        400,
        "IntegrityError",
    )
    assert (write_error(lost).status, write_error(lost).headers) == (503, {"Retry-After": "1"})
    assert read_error(missing_default).status == 400
    assert read_error(lost).status == 503


def test_without_a_code_class_and_message_decide() -> None:
    """Errors without a code: disconnects and pool timeouts are 503, a bad statement 400."""
    assert classify(sa_exc.TimeoutError("pool")) is Fault.UNAVAILABLE
    refused = wrapped(sa_exc.OperationalError, ConnectionRefusedError("connection refused"))
    assert classify(refused) is Fault.UNAVAILABLE
    assert classify(sa_exc.ArgumentError("bad")) is Fault.CLIENT
    assert read_error(wrapped(sa_exc.InternalError, RuntimeError("odd"))).status == 500
