"""Map database exceptions to API errors, by the database's error code.

Bad input that only the database notices (a type it cannot compare, a value
out of range, a required column left out) is the client's fault: 400.  A
database that is down, locked or too slow is not: 503, so that clients retry
and load balancers notice.  The SQL text and driver messages never reach the
client; the 503s are logged, at most one line every few seconds
(``_outages.OutageLog``).

The drivers do not agree on exception classes (MariaDB's "field has no
default value", error 1364, arrives as ``OperationalError``, which would
read as "database down"), so :func:`classify` goes by each database's own
code first: the SQLSTATE for PostgreSQL, the error number for MySQL/MariaDB,
the (extended) result code for SQLite.  Only an error without a known code
falls back to its class and message.
"""

from __future__ import annotations

import enum

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import exc as orm_exc

from ._errors import UNABLE_TO_CONSTRUCT, ApiError, DatabaseUnavailable
from ._outages import DATABASE_ERRORS


class Fault(enum.Enum):
    """Whose fault a database error is, which decides the HTTP status."""

    UNAVAILABLE = "unavailable"  # down, busy, timed out: 503, retry
    CONFLICT = "conflict"  # unique or primary key taken: 409 on writes
    INTEGRITY = "integrity"  # another constraint (not null, foreign key, check): 400
    CLIENT = "client"  # a value or query the database refuses: 400
    INTERNAL = "internal"  # the database or the service is broken: 500


# -- PostgreSQL: SQLSTATE ---------------------------------------------------------------

#: Classes: 08 connection exception, 53 insufficient resources, 57 operator
#: intervention (57014: statement timeout), 58 system error (I/O).
_PG_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57", "58"})
#: Serialization failure, deadlock, lock not available, read-only transaction (a standby).
_PG_UNAVAILABLE = frozenset({"40001", "40P01", "55P03", "25006"})
#: 22 data exception, 42 syntax error or access rule, 54 program limit exceeded,
#: 0A feature not supported: what the request asked for.
_PG_CLIENT_CLASSES = frozenset({"22", "42", "54", "0A"})


def _pg_fault(state: str) -> Fault | None:
    if state[:2] in _PG_UNAVAILABLE_CLASSES or state in _PG_UNAVAILABLE:
        return Fault.UNAVAILABLE
    if state == "23505":
        return Fault.CONFLICT
    if state[:2] == "23":
        return Fault.INTEGRITY
    if state[:2] in _PG_CLIENT_CLASSES:
        return Fault.CLIENT
    if state[:2] == "XX":
        return Fault.INTERNAL
    return None


# -- MySQL / MariaDB: error numbers ---------------------------------------------------

#: Server errors meaning "try again": out of disk or memory (1021, 1037, 1038,
#: 1041, 1114), shutting down (1053), network trouble (1152, 1158-1161),
#: commit/rollback failed (1180, 1181), too many connections (1040, 1203, 1226),
#: read-only (1290, 1836), lock wait timeout and deadlock (1205, 1213), statement
#: time exceeded (1969 MariaDB, 3024 MySQL), connection killed (1927), idle
#: disconnect (4031).  Client-library errors (2000-2999) are all connection trouble.
_MY_UNAVAILABLE = frozenset(
    {1021, 1037, 1038, 1040, 1041, 1053, 1114, 1152, 1158, 1159, 1160, 1161, 1180, 1181,
     1203, 1205, 1213, 1226, 1290, 1836, 1927, 1969, 3024, 4031}
)  # fmt: skip
#: Duplicate entry (1062, 1586).
_MY_CONFLICT = frozenset({1062, 1586})
#: Column cannot be null (1048), has no default (1364), NULL into NOT NULL (1263),
#: foreign key (1216, 1217, 1451, 1452), check constraint (3819; MariaDB 4025).
_MY_INTEGRITY = frozenset({1048, 1216, 1217, 1263, 1364, 1451, 1452, 3819, 4025})
#: Unknown column (1054), syntax (1064), operand/subquery shape (1241, 1242),
#: out of range, truncated or invalid values (1264, 1265, 1292, 1365, 1366, 1367,
#: 1406, 1411, 1690), collations (1267, 1270, 1271), no such function or bad
#: arguments (1305, 1582, 1583), packet too large (1153), invalid JSON (3140).
_MY_CLIENT = frozenset(
    {1054, 1064, 1153, 1241, 1242, 1264, 1265, 1267, 1270, 1271, 1292, 1305, 1365, 1366,
     1367, 1406, 1411, 1582, 1583, 1690, 3140}
)  # fmt: skip


def _mysql_fault(errno: int) -> Fault | None:
    if errno in _MY_UNAVAILABLE or 2000 <= errno < 3000:
        return Fault.UNAVAILABLE
    if errno in _MY_CONFLICT:
        return Fault.CONFLICT
    if errno in _MY_INTEGRITY:
        return Fault.INTEGRITY
    if errno in _MY_CLIENT:
        return Fault.CLIENT
    return None


# -- SQLite: result codes ---------------------------------------------------------------

#: Primary result codes: BUSY, LOCKED, NOMEM, READONLY, INTERRUPT (our statement
#: timeout), IOERR, FULL, CANTOPEN, PROTOCOL.
_SQLITE_UNAVAILABLE = frozenset({5, 6, 7, 8, 9, 10, 13, 14, 15})
#: TOOBIG, MISMATCH (a non-integer key), RANGE (bind index).
_SQLITE_CLIENT = frozenset({18, 20, 25})
#: CORRUPT, NOTADB.
_SQLITE_INTERNAL = frozenset({11, 26})
#: Extended codes of CONSTRAINT (19) that are key conflicts: PRIMARYKEY, UNIQUE.
_SQLITE_CONFLICT = frozenset({1555, 2067})
_SQLITE_CONSTRAINT = 19

#: SQLITE_ERROR (1) covers everything else; these messages of it are the query's doing.
_CLIENT_MESSAGES = (
    "too many sql variables",
    "expression tree is too large",
    "parser stack overflow",
    "too many terms in compound select",
    "string or blob too big",
    "integer overflow",
    "no such function",
    "too many arguments",
)


def _sqlite_fault(code: int, text: str) -> Fault | None:
    primary = code & 0xFF
    if primary in _SQLITE_UNAVAILABLE:
        return Fault.UNAVAILABLE
    if primary == _SQLITE_CONSTRAINT:
        return Fault.CONFLICT if code in _SQLITE_CONFLICT else Fault.INTEGRITY
    if primary in _SQLITE_CLIENT:
        return Fault.CLIENT
    if primary in _SQLITE_INTERNAL:
        return Fault.INTERNAL
    if any(marker in text for marker in _CLIENT_MESSAGES):
        return Fault.CLIENT
    return None


# -- without a code: class and message ------------------------------------------------------

#: Messages that mean "try again", for errors that come without a code.
_UNAVAILABLE_MESSAGES = (
    "database is locked",
    "database table is locked",
    "canceling statement due to statement timeout",
    "query execution was interrupted",
    "max_statement_time exceeded",
    "lost connection",
    "server has gone away",
    "connection refused",
    "could not connect",
    "connection timed out",
    "terminating connection",
    "server closed the connection",
    "consuming input failed",
    "interrupted",
    "the connection is closed",
    "connection is lost",
)
_CONFLICT_MESSAGES = (
    "unique constraint failed",
    "duplicate entry",
    "duplicate key",
    "is not unique",
)


def _by_class(exc: BaseException, text: str) -> Fault:
    if any(marker in text for marker in _UNAVAILABLE_MESSAGES):
        return Fault.UNAVAILABLE
    if isinstance(exc, sa_exc.IntegrityError):
        conflict = any(marker in text for marker in _CONFLICT_MESSAGES)
        return Fault.CONFLICT if conflict else Fault.INTEGRITY
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        if any(marker in text for marker in _CLIENT_MESSAGES):
            return Fault.CLIENT
        return Fault.UNAVAILABLE
    if isinstance(exc, (sa_exc.DataError, sa_exc.ProgrammingError, sa_exc.NotSupportedError)):
        return Fault.CLIENT
    if isinstance(exc, sa_exc.DBAPIError):  # InternalError, DatabaseError
        return Fault.INTERNAL
    # Raised before the database saw anything: a value that cannot be bound, a bad query.
    if isinstance(
        exc,
        (
            sa_exc.StatementError,
            sa_exc.ArgumentError,
            sa_exc.CompileError,
            sa_exc.InvalidRequestError,
        ),
    ):
        return Fault.CLIENT
    return Fault.INTERNAL


# -- together ----------------------------------------------------------------------------


def _orig(exc: BaseException) -> object | None:
    return getattr(exc, "orig", None)


def _sqlstate(exc: BaseException) -> str | None:
    orig = _orig(exc)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) and len(code) == 5 else None


def _errno(exc: BaseException) -> int | None:
    orig = _orig(exc)
    if type(orig).__module__.split(".")[0] not in ("pymysql", "MySQLdb", "mysql", "mariadb"):
        return None
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _sqlite_code(exc: BaseException) -> int | None:
    code = getattr(_orig(exc), "sqlite_errorcode", None)
    return code if isinstance(code, int) else None


def _text(exc: BaseException) -> str:
    orig = _orig(exc)
    return str(orig if orig is not None else exc).lower()


def classify(exc: BaseException) -> Fault:
    """Whose fault a database exception is: by its code, else by its class and message."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return Fault.UNAVAILABLE
    if isinstance(exc, (sa_exc.TimeoutError, sa_exc.DisconnectionError)):
        return Fault.UNAVAILABLE
    text = _text(exc)
    fault: Fault | None = None
    state, errno, sqlite_code = _sqlstate(exc), _errno(exc), _sqlite_code(exc)
    if errno is not None:  # before the SQLSTATE: MySQL's are coarse ("23000", "HY000")
        fault = _mysql_fault(errno)
    elif state is not None:
        fault = _pg_fault(state)
    elif sqlite_code is not None:
        fault = _sqlite_fault(sqlite_code, text)
    return fault if fault is not None else _by_class(exc, text)


#: A statement that ran past its time limit: PostgreSQL's SQLSTATE, MySQL's and MariaDB's
#: error numbers (3024 max_execution_time, 1969 max_statement_time, 1317 interrupted),
#: SQLite's INTERRUPT (the progress handler of ``_engines``), and their messages.
_PG_TIMEOUT = "57014"
_MY_TIMEOUT = frozenset({1317, 1969, 3024})
_SQLITE_INTERRUPT = 9
_TIMEOUT_MESSAGES = (
    "statement timeout",
    "max_statement_time",
    "max_execution_time",
    "maximum statement execution time",
    "interrupted",
)


def error_kind(exc: BaseException) -> str:
    """What kind of database error ``exc`` is, for counting: ``"timeout"`` or a :class:`Fault`.

    ``"timeout"`` (a statement cut short by its time limit) is told apart from
    the rest of ``"unavailable"``; the other kinds are :class:`Fault`'s values
    (``"conflict"``, ``"integrity"``, ``"client"``, ``"internal"``).
    """
    fault = classify(exc)
    if fault is Fault.UNAVAILABLE and (
        _sqlstate(exc) == _PG_TIMEOUT
        or _errno(exc) in _MY_TIMEOUT
        or (_sqlite_code(exc) or 0) & 0xFF == _SQLITE_INTERRUPT
        or any(marker in _text(exc) for marker in _TIMEOUT_MESSAGES)
    ):
        return "timeout"
    return fault.value


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the database cannot serve right now."""
    return classify(exc) is Fault.UNAVAILABLE


def is_conflict(exc: sa_exc.SQLAlchemyError) -> bool:
    """Whether a database error is a unique/primary-key conflict (409) rather than 400."""
    return classify(exc) is Fault.CONFLICT


def _cause(exc: BaseException) -> str:
    """The exception's class and the first line of the driver's message (no SQL)."""
    orig = _orig(exc)
    source = orig if orig is not None else exc
    lines = str(source).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200] if lines else type(source).__name__}"


def unavailable(exc: BaseException) -> DatabaseUnavailable:
    """The 503 for ``exc``, logged (rate-limited: the first at once, then a count)."""
    DATABASE_ERRORS.note(
        "unavailable",
        "503 Database unavailable: {count} request(s) since the last report; last cause: {cause}",
        cause=_cause(exc),
    )
    return DatabaseUnavailable()


def read_error(exc: sa_exc.SQLAlchemyError) -> ApiError:
    """The API error for a database exception raised while reading."""
    fault = classify(exc)
    if fault is Fault.UNAVAILABLE:
        return unavailable(exc)
    if fault is Fault.INTERNAL:
        return ApiError(500, "Internal server error")
    return ApiError(400, UNABLE_TO_CONSTRUCT, detail="the database rejected the query")


def write_error(exc: sa_exc.SQLAlchemyError) -> ApiError:
    """The API error for a database exception raised while writing (0.17: a class name, 400).

    A constraint answers ``IntegrityError`` on every database, whatever class
    the driver chose for it (409 for a key conflict, else 400).
    """
    fault = classify(exc)
    if fault is Fault.CONFLICT:
        return ApiError(409, "IntegrityError")
    if fault is Fault.INTEGRITY:
        return ApiError(400, "IntegrityError")
    if fault is Fault.UNAVAILABLE:
        return unavailable(exc)
    if fault is Fault.CLIENT and isinstance(exc, (sa_exc.DataError, sa_exc.ProgrammingError)):
        return ApiError(400, type(exc).__name__)
    if isinstance(exc, orm_exc.StaleDataError):
        # Rows changed under the write (by another client, or by another field of the body).
        return ApiError(409, type(exc).__name__, detail="the rows changed while being written")
    if isinstance(exc, sa_exc.CircularDependencyError):
        # A body that makes a row its own related row ({"reports_to": <itself>}).
        return ApiError(400, type(exc).__name__, detail="a row cannot be related to itself")
    return read_error(exc)
