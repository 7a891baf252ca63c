"""The request being served, as log events see it: its ID in a context variable.

:class:`~chinook_svc.web.request_id.TracedRequest` serves each request in a
copy of the current context with :data:`REQUEST_ID` set, so every log event
emitted while that request is handled (its handler's coroutines, the
``/aggregate`` calls they make) can name it; the JSON log observer
(:mod:`chinook_svc.log_format`) adds it to every such event.  Work done in a
database thread does not see it (threads do not inherit contexts).

It also decides what a request's ID is (:func:`accept_request_id`).  This
module imports nothing of the package, so any layer may use it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

#: The longest client-chosen request ID kept.
MAX_LENGTH = 128
#: What a client-chosen request ID may be made of.
SAFE = re.compile(rb"[A-Za-z0-9._:+=/@-]{1,%d}" % MAX_LENGTH)
#: The ID of the request being served in this context (``None``: none).
REQUEST_ID: ContextVar[str | None] = ContextVar("chinook_request_id", default=None)


def current_request_id() -> str | None:
    """The ID of the request this code runs for, if any."""
    return REQUEST_ID.get()


def request_id_of(request: Any) -> str | None:
    """The ID the service gave ``request`` (``None`` for a request it never traced)."""
    found = getattr(request, "request_id", None)
    return found if isinstance(found, str) else current_request_id()


def new_request_id() -> str:
    """A fresh request ID: 32 hex digits."""
    return uuid.uuid4().hex


def accept_request_id(given: Sequence[bytes] | None) -> str:
    """The client's ``X-Request-ID`` when it gave one, and a safe one; else a fresh ID."""
    if given is not None and len(given) == 1:
        value = given[0].strip()
        if SAFE.fullmatch(value):
            return value.decode("ascii")
    return new_request_id()


__all__ = [
    "MAX_LENGTH",
    "REQUEST_ID",
    "SAFE",
    "accept_request_id",
    "current_request_id",
    "new_request_id",
    "request_id_of",
]
