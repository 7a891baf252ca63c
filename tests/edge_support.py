"""Raw HTTP/1.1 for the edge tests: bytes in, parsed responses out.

:class:`Wire` is one connection to a ``Site`` over an in-memory transport
(``StringTransport``): the test writes request bytes exactly as a client (or
an attacker) would, and reads back every response the server wrote.
:func:`parse_responses` splits the bytes of a connection into responses.
"""

from __future__ import annotations

import json
from typing import Any

from attrs import frozen
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.web.server import Site


@frozen
class RawResponse:
    """One response as it went over the wire."""

    status: int
    headers: dict[str, list[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` (case-insensitive), if any."""
        values = self.headers.get(name.lower())
        return values[-1] if values else None

    @property
    def json(self) -> Any:
        """The body, parsed as JSON (fails the test when it is not JSON)."""
        assert self.header("content-type") == "application/json", self
        return json.loads(self.body)


def _dechunk(data: bytes) -> tuple[bytes, bytes]:
    body = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            _, _, rest = data.partition(b"\r\n")
            return body, rest
        body, data = body + data[:size], data[size + 2 :]


def parse_responses(data: bytes, head_only: bool = False) -> list[RawResponse]:
    """Every complete response in ``data`` (an incomplete one at the end is an error)."""
    responses = []
    while data:
        head, sep, data = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete response head: {head!r}"
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        headers: dict[str, list[str]] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        if head_only or status < 200 or status in (204, 304):
            body = b""
        elif "content-length" in headers:
            length = int(headers["content-length"][-1])
            body, data = data[:length], data[length:]
            assert len(body) == length, "truncated body"
        elif headers.get("transfer-encoding") == ["chunked"]:
            body, data = _dechunk(data)
        else:
            body, data = data, b""
        responses.append(RawResponse(status, headers, body))
    return responses


class Wire:
    """One in-memory connection to ``site``."""

    def __init__(self, site: Site) -> None:
        self.protocol = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        self.transport = StringTransport()
        assert self.protocol is not None
        self.protocol.makeConnection(self.transport)

    def send(self, data: bytes) -> Wire:
        """Deliver ``data`` to the server as if it arrived from the network."""
        self.protocol.dataReceived(data)
        return self

    @property
    def written(self) -> bytes:
        """Everything the server has written so far."""
        return self.transport.value()

    def responses(self, head_only: bool = False) -> list[RawResponse]:
        """The responses written so far."""
        return parse_responses(self.written, head_only)

    def response(self) -> RawResponse:
        """The one (final) response written so far."""
        final = [r for r in self.responses() if r.status >= 200]
        assert len(final) == 1, self.written
        return final[0]

    @property
    def closing(self) -> bool:
        """Whether the server is closing (or has closed) this connection."""
        return bool(self.transport.disconnecting)


def request_bytes(
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str = "localhost",
) -> bytes:
    """An HTTP/1.1 request; ``Content-Length`` is added for a body unless given."""
    all_headers = {"Host": host, **(headers or {})}
    if body and "Content-Length" not in all_headers and "Transfer-Encoding" not in all_headers:
        all_headers["Content-Length"] = str(len(body))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in all_headers.items()
    )
    return head.encode("latin-1") + b"\r\n" + body


__all__ = ["RawResponse", "Wire", "parse_responses", "request_bytes"]
