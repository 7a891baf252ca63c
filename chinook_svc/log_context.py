"""The request being served, as log events see it: its ID in a context variable.

:class:`~chinook_svc.web.request_id.TracedRequest` serves each request in a
copy of the current context with :data:`REQUEST_ID` set, so every log event
emitted while that request is handled (its handler's coroutines, the
``/aggregate`` calls they make) can name it; the JSON log observer
(:mod:`chinook_svc.log_format`) adds it to every such event.  Work done in a
database thread does not see it (threads do not inherit contexts).

This module imports nothing of the package, so any layer may use it.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

#: The ID of the request being served in this context (``None``: none).
REQUEST_ID: ContextVar[str | None] = ContextVar("chinook_request_id", default=None)


def current_request_id() -> str | None:
    """The ID of the request this code runs for, if any."""
    return REQUEST_ID.get()


def request_id_of(request: Any) -> str | None:
    """The ID the service gave ``request`` (``None`` for a request it never traced)."""
    found = getattr(request, "request_id", None)
    return found if isinstance(found, str) else current_request_id()


__all__ = ["REQUEST_ID", "current_request_id", "request_id_of"]
