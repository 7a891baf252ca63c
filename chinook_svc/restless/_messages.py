"""The engine's messages: a request as plain data in, a response as plain data out.

:class:`ApiRequest` is what a handler needs of an HTTP request, copied on the
reactor thread (``_http.api_request``); :class:`Reply` is a finished response
(status, headers, encoded body) that ``_http.write_reply`` puts on the wire.
Reads, writes, the renderers, the token guard and the fan-out all speak these
two types, and none of them needs the others to do so (klein keeps its
``Response`` apart from its app in the same way).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attrs import field, frozen

from ._errors import ApiError
from ._serialize import encode

JSON = "application/json"


@frozen
class ApiRequest:
    """What the engine needs of an HTTP request, as plain data.

    Attributes:
        method: ``GET``, ``POST``, ...
        base_url: scheme, host and path of the request, without the query.
        args: decoded query arguments (every value of each).
        headers: request headers, names lower-cased.
        body: the request body, if any.
    """

    method: str
    base_url: str
    args: Mapping[str, Sequence[str]] = field(factory=dict)
    headers: Mapping[str, str] = field(factory=dict)
    body: bytes = b""

    def arg(self, name: str) -> str | None:
        """The first value of a query argument, as Flask's ``request.args.get``."""
        values = self.args.get(name)
        return values[0] if values else None


@frozen
class Reply:
    """A response: status, headers and an encoded body."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str | None = JSON


def json_reply(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Reply:
    """A JSON response."""
    return Reply(status, encode(obj), tuple((headers or {}).items()))


def error_reply(error: ApiError) -> Reply:
    """The JSON response for an :class:`ApiError`."""
    return json_reply(error.status, error.body(), error.headers)


__all__ = ["JSON", "ApiRequest", "Reply", "error_reply", "json_reply"]
