"""Bearer-token protection for a resource: writes always, reads optionally.

The Chinook service is read-only by default.  When writes are enabled every
write request must carry ``Authorization: Bearer <token>``; with
``protect_reads`` reads must too.  The token is compared in constant time,
and a refusal is a JSON 401 with ``WWW-Authenticate: Bearer``.  The token
itself is never logged or echoed.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from zope.interface import implementer

from .restless import json_reply, write_reply

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


def bearer_token(request: IRequest) -> bytes | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    header = request.getHeader(b"authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(b" ")
    if scheme.lower() != b"bearer" or not token.strip():
        return None
    return token.strip()


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
        self._token = token
        self.protect_reads = protect_reads

    def needs_token(self, request: IRequest) -> bool:
        """Whether this request must present the token."""
        if self._token is None:
            return False
        return self.protect_reads or request.method not in SAFE_METHODS

    def authorized(self, request: IRequest) -> bool:
        """Whether the request may go on (constant-time comparison)."""
        if not self.needs_token(request):
            return True
        given = bearer_token(request)
        return (
            given is not None
            and self._token is not None
            and hmac.compare_digest(given, self._token)
        )

    def render(self, request: IRequest) -> bytes | int:
        """Render through the wrapped resource, or answer 401."""
        if not self.authorized(request):
            request.setHeader(b"www-authenticate", b'Bearer realm="chinook_svc"')
            return write_reply(
                request, json_reply(401, {"message": "Missing or invalid bearer token"})
            )
        result: bytes | int = self.wrapped.render(request)
        return result

    def getChildWithDefault(self, name: bytes, request: IRequest) -> IResource:
        """Never called for a leaf; present for the interface."""
        return self

    def putChild(self, path: bytes, child: IResource) -> None:
        """Children are the wrapped resource's business."""
        raise NotImplementedError("TokenGuard wraps a leaf resource")


__all__ = ["MIN_TOKEN_LENGTH", "TokenError", "TokenGuard", "bearer_token", "read_token"]
