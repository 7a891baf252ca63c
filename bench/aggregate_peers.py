"""The other fan-outs of the comparison, run in the peers' own virtualenv (``bench/.peers``).

``python aggregate_peers.py gevent URL ...``
    The flask-restless article's version: ``gevent.monkey.patch_all()``, then
    one greenlet per URL calling ``requests.get`` and ``gevent.joinall``.

``python aggregate_peers.py aiohttp URL ...``
    asyncio + aiohttp: one ``ClientSession``, ``asyncio.gather`` of the GETs.

For every line read on standard input the script runs one round over the
URLs and prints its wall time in seconds, so the driver can interleave
rounds of every approach.  Only the standard library, gevent, requests and
aiohttp are imported.
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
            session.append(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)))
        await asyncio.gather(*(fetch(url) for url in urls))

    def fan_out(urls: list[str]) -> None:
        loop.run_until_complete(gather(urls))

    def close() -> None:
        if session:
            loop.run_until_complete(session[0].close())
        loop.close()

    return fan_out, close


def main(argv: list[str]) -> None:
    """Run one round of the chosen fan-out per line on stdin, printing its seconds."""
    kind, urls = argv[0], argv[1:]
    fan_out, close = {"gevent": gevent_fan_out, "aiohttp": aiohttp_fan_out}[kind]()
    for _ in sys.stdin:
        started = time.perf_counter()
        fan_out(urls)
        print(time.perf_counter() - started, flush=True)
    close()


if __name__ == "__main__":
    main(sys.argv[1:])
