"""The other fan-outs of the comparison, run in the peers' own virtualenv (``bench/.peers``).

``python aggregate_peers.py gevent URL ...``
    The flask-restless article's version: ``gevent.monkey.patch_all()``, then
    one greenlet per URL calling ``requests.get`` and ``gevent.joinall``.

``python aggregate_peers.py aiohttp URL ...``
    asyncio + aiohttp: one ``ClientSession``, ``asyncio.gather`` of the GETs.
    Its connector's limit is lifted (``limit=0``): aiohttp's default of 100
    connections would run 500 calls in five waves.

``python aggregate_peers.py treq URL ...`` (run with the project's Python)
    A direct concurrent treq fan-out: one ``HTTPClient`` over a persistent
    pool, ``gatherResults`` of the GETs, on a reactor in a thread of its own.

For every line read on standard input the script runs one round over the
URLs and prints its wall time in seconds, so the driver can interleave
rounds of every approach (and measure each one's memory and descriptors in
a process of its own).  Only the standard library and the fan-out's own
libraries are imported.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

FanOut = tuple[Callable[[list[str]], None], Callable[[], None]]


def gevent_fan_out() -> FanOut:
    """The article's gevent + requests fan-out."""
    from gevent import monkey

    monkey.patch_all()
    import gevent
    import requests

    def fetch(url: str) -> None:
        response = requests.get(url, timeout=5)
        response.raise_for_status()
        response.json()

    def fan_out(urls: list[str]) -> None:
        jobs = [gevent.spawn(fetch, url) for url in urls]
        gevent.joinall(jobs, raise_error=True)

    return fan_out, lambda: None


def aiohttp_fan_out() -> FanOut:
    """asyncio + aiohttp, with one session kept across rounds (like treq's pool)."""
    import asyncio

    import aiohttp

    loop = asyncio.new_event_loop()
    session: list[aiohttp.ClientSession] = []

    async def fetch(url: str) -> None:
        async with session[0].get(url) as response:
            response.raise_for_status()
            await response.json()

    async def gather(urls: list[str]) -> None:
        if not session:
            connector = aiohttp.TCPConnector(limit=0)
            timeout = aiohttp.ClientTimeout(total=5)
            session.append(aiohttp.ClientSession(connector=connector, timeout=timeout))
        await asyncio.gather(*(fetch(url) for url in urls))

    def fan_out(urls: list[str]) -> None:
        loop.run_until_complete(gather(urls))

    def close() -> None:
        if session:
            loop.run_until_complete(session[0].close())
        loop.close()

    return fan_out, close


def treq_fan_out() -> FanOut:
    """A direct treq fan-out, the reactor running in a thread; rounds are handed to it."""
    import threading

    from treq.client import HTTPClient
    from twisted.internet import reactor, threads
    from twisted.internet.defer import ensureDeferred, gatherResults
    from twisted.web.client import Agent, HTTPConnectionPool

    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = 1024
    http = HTTPClient(Agent(reactor, pool=pool))

    async def fetch(url: str) -> None:
        response = await http.get(url, timeout=5, reactor=reactor)
        if response.code != 200:
            raise RuntimeError(f"{url}: {response.code}")
        await response.json()

    async def gather(urls: list[str]) -> None:
        await gatherResults([ensureDeferred(fetch(url)) for url in urls])

    thread = threading.Thread(
        target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True
    )
    thread.start()

    def fan_out(urls: list[str]) -> None:
        threads.blockingCallFromThread(reactor, lambda: ensureDeferred(gather(urls)))

    def close() -> None:
        reactor.callFromThread(reactor.stop)
        thread.join(10)

    return fan_out, close


def main(argv: list[str]) -> None:
    """Run one round of the chosen fan-out per line on stdin, printing its seconds."""
    kind, urls = argv[0], argv[1:]
    kinds = {"gevent": gevent_fan_out, "aiohttp": aiohttp_fan_out, "treq": treq_fan_out}
    fan_out, close = kinds[kind]()
    for _ in sys.stdin:
        started = time.perf_counter()
        fan_out(urls)
        print(time.perf_counter() - started, flush=True)
    close()


if __name__ == "__main__":
    main(sys.argv[1:])
