"""Map database exceptions to API errors.

Bad input that only the database notices (a type it cannot compare, a value
out of range) is the client's fault: 400.  A database that is down, locked
or too slow is not: 503, so that clients retry and load balancers notice.
The SQL text and driver messages never reach the client; they go to the log.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import exc as orm_exc

from ._errors import UNABLE_TO_CONSTRUCT, ApiError, DatabaseUnavailable

#: SQLite/MariaDB/PostgreSQL messages that mean "the query asked too much",
#: which are the client's doing even though the driver calls them operational.
_CLIENT_OPERATIONAL = (
    "too many sql variables",
    "expression tree is too large",
    "parser stack overflow",
    "too many terms in compound select",
    "string or blob too big",
    "integer overflow",
    "no such function",
    "too many arguments",
)

#: Messages that mean "try again": the database is busy, gone or timed out.
_UNAVAILABLE = (
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

#: SQLSTATE classes and codes that mean "try again": 08 connection exceptions,
#: 57 operator intervention (57014: statement timeout), 53 insufficient
#: resources (too many connections), 40001/40P01 serialization failure/deadlock.
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "57", "53")
_UNAVAILABLE_SQLSTATES = ("40001", "40P01")

#: MySQL/MariaDB error numbers that mean the same: 1969 max_statement_time
#: exceeded (MariaDB), 3024 max_execution_time exceeded (MySQL), 1040 too many
#: connections, 1205 lock wait timeout, 1213 deadlock, 2002/2003/2006/2013/2055
#: cannot connect or lost the connection.
_UNAVAILABLE_ERRNOS = frozenset({1969, 3024, 1040, 1205, 1213, 2002, 2003, 2006, 2013, 2055})


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) else None


def _errno(exc: BaseException) -> int | None:
    args = getattr(getattr(exc, "orig", None), "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _text(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).lower()


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the database cannot serve right now."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (sa_exc.TimeoutError, sa_exc.DisconnectionError)):
        return True
    state = _sqlstate(exc)
    if state is not None and (
        state[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or state in _UNAVAILABLE_SQLSTATES
    ):
        return True
    if _errno(exc) in _UNAVAILABLE_ERRNOS:
        return True
    text = _text(exc)
    return any(marker in text for marker in _UNAVAILABLE)


def read_error(exc: sa_exc.SQLAlchemyError) -> ApiError:
    """The API error for a database exception raised while reading."""
    if is_unavailable(exc):
        return DatabaseUnavailable()
    if isinstance(exc, sa_exc.OperationalError):
        text = _text(exc)
        if any(marker in text for marker in _CLIENT_OPERATIONAL):
            return ApiError(400, UNABLE_TO_CONSTRUCT, detail="the database rejected the query")
        return DatabaseUnavailable()
    if isinstance(
        exc,
        (
            sa_exc.DataError,
            sa_exc.ProgrammingError,
            sa_exc.StatementError,
            sa_exc.ArgumentError,
            sa_exc.CompileError,
            sa_exc.InvalidRequestError,
        ),
    ):
        return ApiError(400, UNABLE_TO_CONSTRUCT, detail="the database rejected the query")
    return ApiError(500, "Internal server error")


#: Driver signs of a unique or primary-key conflict (PostgreSQL SQLSTATE 23505,
#: MySQL/MariaDB error 1062, SQLite's message).
_CONFLICT_CODES = ("23505",)
_CONFLICT_MESSAGES = (
    "unique constraint failed",
    "duplicate entry",
    "duplicate key",
    "is not unique",
)


def is_conflict(exc: sa_exc.IntegrityError) -> bool:
    """Whether an integrity error is a unique/primary-key conflict (409) rather than 400."""
    if _sqlstate(exc) in _CONFLICT_CODES or _errno(exc) == 1062:
        return True
    return any(marker in _text(exc) for marker in _CONFLICT_MESSAGES)


def write_error(exc: sa_exc.SQLAlchemyError) -> ApiError:
    """The API error for a database exception raised while writing (0.17: class name, 400)."""
    if isinstance(exc, sa_exc.IntegrityError):
        return ApiError(409 if is_conflict(exc) else 400, "IntegrityError")
    if is_unavailable(exc):
        return DatabaseUnavailable()
    if isinstance(exc, (sa_exc.DataError, sa_exc.ProgrammingError)):
        return ApiError(400, type(exc).__name__)
    if isinstance(exc, orm_exc.StaleDataError):
        # Rows changed under the write (by another client, or by another field of the body).
        return ApiError(409, type(exc).__name__, detail="the rows changed while being written")
    if isinstance(exc, sa_exc.CircularDependencyError):
        # A body that makes a row its own related row ({"reports_to": <itself>}).
        return ApiError(400, type(exc).__name__, detail="a row cannot be related to itself")
    return read_error(exc)
