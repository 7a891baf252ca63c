"""A TCP proxy between the engine and a database server, which a test can cut.

It runs an asyncio loop in a thread of its own, so that it keeps forwarding
while the test thread blocks in database calls.  Three states:

* ``restore()``: forward every connection to the server (the initial state);
* ``cut()``: close every open connection and refuse new ones (the database
  went away: the port is closed);
* ``stall()``: close every open connection, then accept new ones and never
  answer (a database that hangs: only a client-side timeout ends the wait).

The listening port stays the same throughout, so the engine's URL does too.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream`` until told otherwise.

    Args:
        upstream_host, upstream_port: the real server.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._mode = "forward"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self.restore()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._call(self._close(listen=False))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)

    # -- control (from the test thread) ---------------------------------------------

    def restore(self) -> None:
        """Forward connections again."""
        self._call(self._set("forward", listen=True))

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        self._call(self._set("refuse", listen=False))

    def stall(self) -> None:
        """Drop every connection; accept new ones but never forward or answer."""
        self._call(self._set("stall", listen=True))

    # -- the loop's side --------------------------------------------------------------

    async def _set(self, mode: str, *, listen: bool) -> None:
        self._mode = mode
        await self._close(listen=listen)

    async def _close(self, *, listen: bool) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if not listen and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if listen and self._server is None:
            self._server = await asyncio.start_server(
                self._accept, "127.0.0.1", self.port, reuse_address=True
            )

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self._mode != "forward":
            return  # stall: hold the connection open, silent
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
            self._writers.discard(writer)
