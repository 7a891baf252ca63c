"""Helpers of the log and request-ID tests: a small site driven over an in-memory transport.

:func:`traced_site` is the service's real :class:`TrackingSite` (request IDs,
the access log) over a tiny Klein app with the service's error handling:
``/ok``, ``/boom`` (an unexpected error), ``/slow`` (answers 0.25 s later on
the clock) and ``/context`` (the request ID its coroutine sees after an
await).  :func:`exchange` sends raw bytes on a new connection and returns
what the site wrote back.
"""

from __future__ import annotations

import os
from typing import Any

from klein import Klein
from twisted.internet.address import IPv4Address
from twisted.internet.task import deferLater
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.web.iweb import IRequest

from chinook_svc.log_context import current_request_id
from chinook_svc.log_output import LineWriter
from chinook_svc.restless import add_error_handling
from chinook_svc.web.access_log import AccessLog
from chinook_svc.web.site import InFlight, TrackingSite


class TinyApp:
    """Routes answering, failing, waiting, and telling the request ID they see."""

    app = Klein()

    def __init__(self, clock: MemoryReactorClock) -> None:
        self.clock = clock

    @app.route("/ok")
    def ok(self, request: IRequest) -> bytes:
        """A plain answer."""
        return b"fine"

    @app.route("/boom")
    def boom(self, request: IRequest) -> bytes:
        """An unexpected error (with a secret in its message)."""
        raise RuntimeError("secret-internal-detail")

    @app.route("/slow")
    async def slow(self, request: IRequest) -> bytes:
        """Answers 0.25 s later on the clock."""
        await deferLater(self.clock, 0.25, lambda: None)
        return b"late"

    @app.route("/context")
    async def context(self, request: IRequest) -> bytes:
        """The request ID the log context holds after an await."""
        await deferLater(self.clock, 0.01, lambda: None)
        return (current_request_id() or "none").encode("ascii")

    add_error_handling(app)


def pipe_writer() -> tuple[LineWriter, int]:
    """A :class:`LineWriter` on a pipe, and the pipe's (non-blocking) read end."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    return LineWriter(write_fd, owned=True), read_fd


def read_all(fd: int) -> bytes:
    """Whatever is waiting in the pipe ``fd``."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def traced_site(
    log_format: str = "text",
) -> tuple[TrackingSite, MemoryReactorClock, AccessLog, int]:
    """The site, its clock, its access log, and the read end of the access log's pipe."""
    clock = MemoryReactorClock()
    writer, read_fd = pipe_writer()
    access_log = AccessLog(writer, clock, log_format)
    site = TrackingSite(
        TinyApp(clock).app.resource(), InFlight(), reactor=clock, access_log=access_log
    )
    return site, clock, access_log, read_fd


def exchange(site: TrackingSite, raw: bytes, clock: Any = None, wait: float = 0.0) -> bytes:
    """Send ``raw`` on a new connection (advancing ``clock`` by ``wait``); what came back."""
    address = IPv4Address("TCP", "127.0.0.1", 40000)
    channel = site.buildProtocol(address)
    transport = StringTransport(peerAddress=address)
    channel.makeConnection(transport)
    channel.dataReceived(raw)
    if clock is not None and wait:
        clock.advance(wait)
    return bytes(transport.value())


def get(path: str, *headers: str) -> bytes:
    """A GET request's bytes with ``headers`` (``Name: value``)."""
    lines = [f"GET {path} HTTP/1.1", "Host: test", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def header(response: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` in a raw response (``None``: absent)."""
    head = response.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None
