"""The exceptions the engine raises and the messages flask-restless 0.17 used.

Handlers raise; one place (``_api.answer``) turns an :class:`ApiError` into
a JSON response.  The message strings are part of the
wire contract: clients of flask-restless 0.17 match on them, so never reword
the constants below.
"""

from __future__ import annotations

from typing import Any

#: 0.17's message strings (``docs/protocol.md``, "Errors").
UNABLE_TO_DECODE = "Unable to decode data"
UNABLE_TO_CONSTRUCT = "Unable to construct query"
NO_RESULT = "No result found"
MULTIPLE_RESULTS = "Multiple results found"
EMPTY_QUERY = "Empty query parameter"
NEED_JSON = 'Request must have "Content-Type: application/json" header'
INTERNAL = "Internal server error"


class ApiError(Exception):
    """An error with an HTTP status and a JSON body ``{"message": ..., **extra}``."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON-able body of the error response."""
        return {**self.extra, "message": self.message}


class QueryError(ApiError):
    """The ``q`` parameter could not be turned into a query: 400."""

    def __init__(self, detail: str, message: str = UNABLE_TO_CONSTRUCT) -> None:
        super().__init__(400, message, detail=detail)
        self.detail = detail


class BodyError(ApiError):
    """A request body that cannot become a row: 400."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(400, message, **extra)


class NotFound(ApiError):
    """No such collection, instance or relation: 404."""

    def __init__(self, message: str = NO_RESULT) -> None:
        super().__init__(404, message)


class ProcessingException(Exception):
    """Raised by a pre- or postprocessor to stop a request (0.17's hook).

    Args:
        description: the ``message`` of the JSON error body.
        code: the HTTP status of the response.
    """

    def __init__(self, description: str = "", code: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.code = code


class ValidationError(Exception):
    """A request body could not be turned into a row (0.17's name)."""


class IllegalArgumentError(ValueError):
    """``create_api`` options that cannot work together (0.17's name), raised at set-up."""


class DatabaseUnavailable(ApiError):
    """The database did not answer (down, overloaded or too slow): 503."""

    def __init__(self, message: str = "Database unavailable") -> None:
        super().__init__(503, message, headers={"Retry-After": "1"})
