"""Conditional and compressed GET answers: ``ETag``/``If-None-Match`` and gzip.

Every successful GET gets a weak ``ETag`` (a hash of its JSON body); a
request whose ``If-None-Match`` names it gets a ``304 Not Modified`` with no
body.  A body over 1 KiB is gzip-compressed when the client accepts it
(``Accept-Encoding: gzip``), and such answers say ``Vary: Accept-Encoding``.
The hashing and compressing run where the body was made (the worker thread),
or once per cached entry.
"""

from __future__ import annotations

import gzip
import hashlib

from attrs import define, evolve, field

from ._messages import ApiRequest, Reply

#: Bodies at least this long are compressed for clients that accept gzip.
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 5


def etag_of(body: bytes) -> str:
    """A weak entity tag for a JSON body (weak: the gzip variant shares it)."""
    return 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(
        candidate.strip().removeprefix("W/") == opaque for candidate in if_none_match.split(",")
    )


def accepts_gzip(request: ApiRequest) -> bool:
    """Whether the client accepts gzip (and has not refused it with ``q=0``)."""
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "x-gzip"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


@define
class Representation:
    """A GET answer with its entity tag and, made on first need, its gzip body."""

    reply: Reply
    etag: str
    _gzipped: bytes | None = field(default=None, alias="gzipped")

    @classmethod
    def of(cls, reply: Reply) -> Representation:
        """Tag a reply (hashes its body)."""
        return cls(reply, etag_of(reply.body))

    def gzipped(self) -> bytes:
        """The gzip-compressed body (compressed once)."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.reply.body, GZIP_LEVEL, mtime=0)
        return self._gzipped

    def for_request(self, request: ApiRequest) -> Reply:
        """The reply this client gets: 304, gzip-compressed, or as is."""
        reply = self.reply
        headers = (*reply.headers, ("ETag", self.etag), ("Vary", "Accept-Encoding"))
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and _matches(if_none_match, self.etag):
            return Reply(304, b"", headers, None)
        if len(reply.body) >= GZIP_MIN_BYTES and accepts_gzip(request):
            return evolve(
                reply, body=self.gzipped(), headers=(*headers, ("Content-Encoding", "gzip"))
            )
        return evolve(reply, headers=headers)


def represent(reply: Reply, request: ApiRequest) -> tuple[Reply, Representation | None]:
    """Conditional/compressed form of a GET reply, and its :class:`Representation` if cacheable."""
    if reply.status != 200 or reply.content_type is None:
        return reply, None
    representation = Representation.of(reply)
    return representation.for_request(request), representation
