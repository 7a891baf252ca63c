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

import re
import time
import uuid
from collections.abc import Sequence
from contextvars import copy_context

from chinook_svc.log_context import REQUEST_ID

from .channel import EdgeRequest

HEADER = b"x-request-id"
#: The longest client-chosen ID kept.
MAX_LENGTH = 128
#: What a client-chosen ID may be made of.
SAFE = re.compile(rb"[A-Za-z0-9._:+=/@-]{1,%d}" % MAX_LENGTH)


def new_request_id() -> str:
    """A fresh ID: 32 hex digits."""
    return uuid.uuid4().hex


def accept_request_id(given: Sequence[bytes] | None) -> str:
    """The client's ID when there is exactly one and it is safe, else a fresh one."""
    if given is not None and len(given) == 1:
        value = given[0].strip()
        if SAFE.fullmatch(value):
            return value.decode("ascii")
    return new_request_id()


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


__all__ = ["HEADER", "MAX_LENGTH", "TracedRequest", "accept_request_id", "new_request_id"]
