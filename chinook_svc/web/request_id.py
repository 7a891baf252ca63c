"""Request IDs: accepted from ``X-Request-ID`` when safe, else generated; echoed on every answer.

A client (or a proxy in front) may name its request with ``X-Request-ID``;
the service keeps that ID when it is 1 to :data:`MAX_LENGTH` characters of
:data:`SAFE` (letters, digits and ``-._:+=/@``), and otherwise makes its own
(32 hex digits of a ``uuid4``), so hostile bytes are never reflected nor
written to a log.  :class:`TracedRequest` gives every request its ID
(``request.request_id``), sends it back as ``X-Request-ID`` on every answer
the site gives (errors, 404s, 503s and ``/healthz`` included), records when
the request started (for the access log's latency), and serves the request
with :data:`chinook_svc.log_context.REQUEST_ID` set, so the log events of
that request, and the ``/aggregate`` calls it makes upstream, carry it.
"""

from __future__ import annotations

import time
from contextvars import copy_context
from typing import Any

from chinook_svc.log_context import (
    MAX_LENGTH,
    REQUEST_ID,
    SAFE,
    accept_request_id,
    new_request_id,
)

from .channel import EdgeRequest

HEADER = b"x-request-id"


#: The OpenAPI description of the header every answer carries.
HEADER_DOCUMENT = {
    "description": "the request's ID: the client's X-Request-ID when safe, else a new one",
    "schema": {"type": "string", "pattern": f"^{SAFE.pattern.decode('ascii')}$"},
}


def _with_header(response: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in response:  # described in components.responses, which get it there
        return response
    ref = {"$ref": "#/components/headers/X-Request-ID"}
    return {**response, "headers": {**response.get("headers", {}), "X-Request-ID": ref}}


def document_request_id(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (OpenAPI) with ``X-Request-ID`` on every response it describes."""
    components = dict(document.get("components", {}))
    components["headers"] = {**components.get("headers", {}), "X-Request-ID": HEADER_DOCUMENT}
    components["responses"] = {
        name: _with_header(r) for name, r in components.get("responses", {}).items()
    }
    paths = {
        path: {
            key: (
                {**op, "responses": {c: _with_header(r) for c, r in op["responses"].items()}}
                if isinstance(op, dict) and "responses" in op
                else op
            )
            for key, op in item.items()
        }
        for path, item in document.get("paths", {}).items()
    }
    return {**document, "components": components, "paths": paths}


class TracedRequest(EdgeRequest):
    """An :class:`EdgeRequest` with an ID, a start time, and its log context.

    Attributes:
        request_id: the request's ID (set as soon as it is processed).
        started_at: when processing began, in the site's clock's seconds.
    """

    request_id: str | None = None
    started_at: float | None = None

    def process(self) -> None:
        """Name the request, then serve it with its ID in the log context."""
        clock = getattr(getattr(self.channel, "site", None), "reactor", None)
        self.started_at = clock.seconds() if clock is not None else time.time()
        self.request_id = accept_request_id(self.requestHeaders.getRawHeaders(HEADER))
        copy_context().run(self._process_traced)

    def _process_traced(self) -> None:
        REQUEST_ID.set(self.request_id)
        super().process()

    def write(self, data: bytes) -> None:
        """Write, the answer's head carrying ``X-Request-ID``."""
        if not self.startedWriting and self.request_id is not None:
            self.responseHeaders.setRawHeaders(HEADER, [self.request_id.encode("ascii")])
        super().write(data)


__all__ = [
    "HEADER",
    "MAX_LENGTH",
    "SAFE",
    "TracedRequest",
    "accept_request_id",
    "document_request_id",
    "new_request_id",
]
