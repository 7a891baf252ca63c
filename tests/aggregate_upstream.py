"""A fake upstream for the aggregate tests: latency, status, size, non-JSON, stalls and hangs.

:class:`FakeUpstream` is a ``twisted.web`` resource, so the same fake serves
unit tests in memory (``StubTreq`` and a ``Clock``) and integration tests on a
real 127.0.0.1 socket (the reactor as clock).  :class:`CountingSite` counts
the server side's open connections, to prove the client leaks none.

Paths (``ms`` delays the answer on the fake's clock):

* ``/json?v=X&ms=N`` -> ``{"path": "/json", "v": X}``
* ``/text`` -> ``text/plain`` body
* ``/status/CODE`` -> that status, JSON body ``{"status": CODE}``
* ``/bytes/N`` -> N bytes of JSON-free text with ``Content-Length``
* ``/stream/N`` -> N bytes in 16 KiB chunks, no ``Content-Length``
* ``/stall`` -> headers and a first chunk, then nothing, forever
* ``/hang`` -> nothing at all, forever
* ``/cookie`` -> sets a cookie; ``/echo-cookie`` tells which cookie came back
* ``/redirect`` -> 302 to ``/json``
* ``/bomb`` -> ``Content-Encoding: gzip``, 200 MiB of zero bytes gzipped into
  about 200 KB (:func:`gzip_bomb`), in one write
* ``/charset/NAME`` -> ``text/plain; charset=NAME``, a few bytes
"""

from __future__ import annotations

import functools
import zlib
from typing import Any

import orjson
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Protocol
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

#: What ``/bomb`` inflates to.
BOMB_SIZE = 200 << 20


@functools.cache
def gzip_bomb() -> bytes:
    """``gzip.compress(b"\\0" * (200 << 20))``, made 1 MiB at a time (no 200 MiB buffer)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    parts = [packer.compress(zeros) for _ in range(BOMB_SIZE >> 20)]
    return b"".join([*parts, packer.flush()])


class FakeUpstream(Resource):
    """The fake upstream; ``requests``: paths asked for; ``lost``: those whose client left."""

    isLeaf = True

    def __init__(self, clock: IReactorTime) -> None:
        super().__init__()
        self.clock = clock
        self.requests: list[str] = []
        self.lost: list[str] = []
        self.open: list[Request] = []

    def render_GET(self, request: Request) -> Any:
        """Answer after ``ms`` milliseconds (at once without it)."""
        path = request.path.decode()
        self.requests.append(path)
        self.open.append(request)
        request.notifyFinish().addBoth(self._finished, request, path)
        delay = int(request.args.get(b"ms", [b"0"])[0]) / 1000.0
        if delay:
            call = self.clock.callLater(delay, self._answer, request, path)
            request.notifyFinish().addErrback(lambda _: call.active() and call.cancel())
            return NOT_DONE_YET
        return self._answer(request, path)

    def _finished(self, result: Any, request: Request, path: str) -> None:
        self.open.remove(request)
        if result is not None:
            self.lost.append(path)

    def _answer(self, request: Request, path: str) -> Any:
        parts = path.strip("/").split("/")
        kind = parts[0]
        if kind == "hang":
            return NOT_DONE_YET
        if kind == "stall":
            request.setHeader(b"content-type", b"application/json")
            request.write(b'{"partial": ')
            return NOT_DONE_YET
        if kind == "text":
            return self._write(request, b"plain words", b"text/plain; charset=utf-8")
        if kind == "status":
            request.setResponseCode(int(parts[1]))
            return self._json(request, {"status": int(parts[1])})
        if kind == "bytes":
            return self._write(request, b"x" * int(parts[1]), b"text/plain")
        if kind == "stream":
            request.setHeader(b"content-type", b"text/plain")
            left = int(parts[1])
            while left > 0:
                request.write(b"y" * min(16384, left))
                left -= 16384
            request.finish()
            return NOT_DONE_YET
        if kind == "cookie":
            request.addCookie(b"session", b"secret", path=b"/")
            return self._json(request, {"set": True})
        if kind == "echo-cookie":
            return self._json(request, {"cookie": (request.getCookie(b"session") or b"").decode()})
        if kind == "bomb":
            request.setHeader(b"content-encoding", b"gzip")
            return self._write(request, gzip_bomb(), b"application/json")
        if kind == "charset":
            return self._write(request, b"caf\xc3\xa9", b"text/plain; charset=" + parts[1].encode())
        if kind == "redirect":
            request.redirect(b"/json")
            return self._write(request, b"", b"text/plain")
        value = request.args.get(b"v", [b""])[0].decode()
        return self._json(request, {"path": path, "v": value})

    def _json(self, request: Request, obj: Any) -> Any:
        return self._write(request, orjson.dumps(obj), b"application/json")

    def _write(self, request: Request, body: bytes, content_type: bytes) -> Any:
        if request not in self.open:  # the client left while we waited
            return NOT_DONE_YET
        request.setHeader(b"content-type", content_type)
        request.setHeader(b"content-length", str(len(body)).encode())
        request.write(body)
        request.finish()
        return NOT_DONE_YET


class CountingSite(Site):
    """A ``Site`` that knows how many client connections are open."""

    def __init__(self, resource: Resource, **kwargs: Any) -> None:
        super().__init__(resource, **kwargs)
        self.connections = 0
        self.accepted = 0

    def buildProtocol(self, addr: Any) -> Protocol:
        """Count the connection, and its end."""
        protocol = super().buildProtocol(addr)
        assert protocol is not None
        self.connections += 1
        self.accepted += 1
        lost = protocol.connectionLost

        def connection_lost(reason: Any) -> None:
            self.connections -= 1
            lost(reason)

        protocol.connectionLost = connection_lost  # type: ignore[method-assign]
        return protocol
