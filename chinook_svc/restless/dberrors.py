"""Map database exceptions to API errors.

Bad input that only the database notices (a type it cannot compare, a value
out of range) is the client's fault: 400.  A database that is down, locked
or too slow is not: 503, so that clients retry and load balancers notice.
The SQL text and driver messages never reach the client; they go to the log.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from .errors import UNABLE_TO_CONSTRUCT, ApiError, DatabaseUnavailable

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
)


def _text(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).lower()


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the database cannot serve right now."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (sa_exc.TimeoutError, sa_exc.DisconnectionError)):
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
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in _CONFLICT_CODES:
        return True
    args = getattr(orig, "args", ())
    if args and args[0] == 1062:
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
    return read_error(exc)
