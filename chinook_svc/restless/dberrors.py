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
