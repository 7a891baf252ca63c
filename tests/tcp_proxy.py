"""A TCP proxy between the engine and a database server, which a test can cut.

It runs an asyncio loop in a thread of its own, so that it keeps forwarding
while the test thread blocks in database calls.  Three states:

* ``restore()``: forward every connection to the server (the initial state);
  connections held by a stall go on where they stopped;
* ``cut()``: close every open connection and refuse new ones (the database
  went away: the port is closed);
* ``stall()``: a network partition: open connections stay open but nothing
  goes through them any more, in either direction, and new connections are
  accepted and never answered.  The client's kernel sees a live peer (the
  proxy acknowledges everything), so only a client-side deadline ends the
  wait.

The listening port stays the same throughout, so the engine's URL does too.

It also counts round trips: :attr:`TcpProxy.round_trips` goes up by one each
time the server answers after the client sent something (a client that sends
several statements before it waits, as in a pipeline, counts once).
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
        self._flowing: asyncio.Event | None = None
        #: Times the server answered a client that was waiting (see the module docstring).
        self.round_trips = 0
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self.restore()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._call(self._shutdown())
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
        """Stop forwarding on every connection, open or new, without closing any."""
        self._call(self._set("stall", listen=True))

    # -- the loop's side --------------------------------------------------------------

    def _gate(self) -> asyncio.Event:
        if self._flowing is None:
            self._flowing = asyncio.Event()
        return self._flowing

    async def _set(self, mode: str, *, listen: bool) -> None:
        self._mode = mode
        if mode == "stall":
            self._gate().clear()
            return
        if mode == "forward":
            self._gate().set()
            await self._close(listen=True, drop=False)
            return
        self._gate().set()
        await self._close(listen=listen)

    async def _shutdown(self) -> None:
        await self._close(listen=False)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _close(self, *, listen: bool, drop: bool = True) -> None:
        if drop:
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
        if self._mode == "refuse":
            writer.transport.abort()
            return
        await self._gate().wait()  # stalled: held open and silent until restored
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        asked = [False]  # the client sent something the server has not answered yet
        await asyncio.gather(
            self._pipe(reader, up_writer, asked, asking=True),
            self._pipe(up_reader, writer, asked, asking=False),
            return_exceptions=True,
        )

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        asked: list[bool],
        *,
        asking: bool,
    ) -> None:
        try:
            while data := await reader.read(65536):
                await self._gate().wait()  # stalled: the data waits
                if asking:
                    asked[0] = True
                elif asked[0]:
                    asked[0] = False
                    self.round_trips += 1
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
            self._writers.discard(writer)
