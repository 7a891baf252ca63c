"""Bearer-token protection for a resource: writes always, reads optionally.

The Chinook service is read-only by default.  When writes are enabled every
write request must carry ``Authorization: Bearer <token>``; with
``protect_reads`` reads must too.  The token is compared in constant time,
and a refusal is a JSON 401 with ``WWW-Authenticate: Bearer``.  The token
itself is never logged or echoed.

A :class:`TokenCheck` works on a method and headers alone, so that the HTTP
edge can refuse a request as soon as its head has arrived, before reading its
body; :class:`TokenGuard` applies it to a resource.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from attrs import field, frozen
from twisted.web.http_headers import Headers
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from zope.interface import implementer

from .restless import json_reply, render_reply

#: Methods that never change anything.
SAFE_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS"})


#: Shortest token accepted.
MIN_TOKEN_LENGTH = 16


class TokenError(ValueError):
    """The token file is missing, unreadable or empty."""


def read_token(path: Path) -> bytes:
    """The API token stored in ``path`` (surrounding whitespace stripped)."""
    try:
        token = path.read_bytes().strip()
    except OSError as e:
        raise TokenError(f"cannot read the API token file {path}: {e.strerror}") from None
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenError(f"the API token in {path} must be at least {MIN_TOKEN_LENGTH} characters")
    return token


def bearer_token(headers: Headers) -> bytes | None:
    """The token of an ``Authorization: Bearer`` header, if any (the last one)."""
    values = headers.getRawHeaders(b"authorization")
    if not values:
        return None
    scheme, _, token = values[-1].partition(b" ")
    if scheme.lower() != b"bearer" or not token.strip():
        return None
    return token.strip()


@frozen
class TokenCheck:
    """Which requests need the token, and whether a request carries it.

    Attributes:
        token: the shared secret; ``None``: no request needs one.
        protect_reads: whether GET/HEAD/OPTIONS need it too.
    """

    token: bytes | None = field(repr=False)
    protect_reads: bool = False

    def needs_token(self, method: bytes) -> bool:
        """Whether a request with this method must present the token."""
        if self.token is None:
            return False
        return self.protect_reads or method not in SAFE_METHODS

    def allows(self, method: bytes, headers: Headers) -> bool:
        """Whether a request with this method and these headers may go on (constant time)."""
        if not self.needs_token(method):
            return True
        given = bearer_token(headers)
        return (
            given is not None and self.token is not None and hmac.compare_digest(given, self.token)
        )


def refuse(request: IRequest) -> bytes:
    """Answer ``request`` with the JSON 401 (and ``WWW-Authenticate``); return the body."""
    request.setHeader(b"www-authenticate", b'Bearer realm="chinook_svc"')
    return render_reply(request, json_reply(401, {"message": "Missing or invalid bearer token"}))


@implementer(IResource)
class TokenGuard:
    """Wraps a leaf resource (a Klein app's) and refuses unauthenticated requests.

    Args:
        wrapped: the resource to protect; it renders the whole remaining path.
        token: the shared secret, or ``None`` when no request needs one.
        protect_reads: whether GET/HEAD/OPTIONS need the token too.
    """

    isLeaf = True

    def __init__(
        self, wrapped: IResource, token: bytes | None, protect_reads: bool = False
    ) -> None:
        self.wrapped = wrapped
        self.check = TokenCheck(token, protect_reads)

    def render(self, request: IRequest) -> bytes | int:
        """Render through the wrapped resource, or answer 401."""
        if not self.check.allows(request.method, request.requestHeaders):
            return refuse(request)
        result: bytes | int = self.wrapped.render(request)
        return result

    def getChildWithDefault(self, name: bytes, request: IRequest) -> IResource:
        """Never called for a leaf; present for the interface."""
        return self

    def putChild(self, path: bytes, child: IResource) -> None:
        """Children are the wrapped resource's business."""
        raise NotImplementedError("TokenGuard wraps a leaf resource")


__all__ = [
    "MIN_TOKEN_LENGTH",
    "TokenCheck",
    "TokenError",
    "TokenGuard",
    "bearer_token",
    "read_token",
    "refuse",
]
