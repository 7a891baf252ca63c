"""Many callers at once on real 127.0.0.1 sockets: nobody waits behind anybody's slow upstream.

The service and the fake upstream run in this process (:class:`Harness`);
callers are treq clients, some bound to other loopback addresses (127.0.0.2,
...) so that the service sees different client addresses.  Wall times are
measured on the reactor's clock with wide margins: callers, service and
upstream share one process, whose 32 x 10 calls alone take 0.3 to 0.5 s of
CPU here, on a machine shared with others.  The point is "about one upstream
latency plus that CPU" against the 4 s of queueing (320 calls in waves of 16)
before the fix.  ``bench/aggregate_callers.py`` measures the p99 properly,
each side in its own process.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest_twisted
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.web.client import Agent, HTTPConnectionPool

from .test_aggregate_sockets import WAIT, Harness, eventually

#: The healthy upstreams' latency, and how much later than that a caller may finish here
#: (at a load average of 10 on 2 CPUs, the 31 callers took up to 2.1 s).
LATENCY = 0.2
MARGIN = 2.8
#: The call timeout of the 32-caller test: above what a healthy call takes on a busy machine.
CALL_TIMEOUT = 4.0


def caller(address: str) -> HTTPClient:
    """A client whose connections come from ``address`` (a 127.0.0.0/8 address)."""
    pool = HTTPConnectionPool(reactor, persistent=False)
    return HTTPClient(Agent(reactor, pool=pool, bindAddress=(address, 0)))


async def timed_get(client: HTTPClient, url: str) -> tuple[float, int, Any]:
    """GET ``url``: (seconds it took, status, decoded body)."""
    started = reactor.seconds()
    response = await client.get(url).addTimeout(WAIT + 5, reactor)
    body = await response.content().addTimeout(WAIT, reactor)
    return reactor.seconds() - started, response.code, orjson.loads(body)


def query(names: list[str]) -> str:
    """``?source=a&source=b...``."""
    return "?" + "&".join(f"source={name}" for name in names)


@pytest_twisted.ensureDeferred
async def test_32_callers_one_with_a_hanging_upstream() -> None:
    """32 requests of 10 sources at once, one with a source that never answers: the other 31
    finish in about one upstream latency, and the 32nd keeps its 9 answers."""
    sources = {f"s{i}": f"/json?v={i}&ms={int(LATENCY * 1000)}" for i in range(10)}
    h = Harness.start({**sources, "never": "/hang"}, timeout=CALL_TIMEOUT, deadline=6)
    healthy = list(sources)
    client = caller("127.0.0.1")
    try:
        urls = [h.service_url + query(healthy) for _ in range(31)]
        urls.append(h.service_url + query([*healthy[:9], "never"]))
        answers = await gatherResults([ensureDeferred(timed_get(client, u)) for u in urls])
    finally:
        await h.stop()
    walls = sorted(wall for wall, _, _ in answers[:31])
    assert [code for _, code, _ in answers] == [200] * 32
    assert all(body["complete"] for _, _, body in answers[:31])
    assert walls[-1] < LATENCY + MARGIN, walls  # the slowest of 31, i.e. their p99
    wall, _, body = answers[31]
    assert body["errors"]["never"]["error"] == "timeout"
    assert sorted(body["results"]) == sorted(healthy[:9])
    assert CALL_TIMEOUT <= wall < CALL_TIMEOUT + MARGIN


@pytest_twisted.ensureDeferred
async def test_a_greedy_address_gets_429_and_the_others_are_served() -> None:
    """One address past its share is refused at once (429); other addresses are served
    promptly; once the whole budget is taken, the next caller gets a prompt 503."""
    hanging = {f"h{i}": "/hang" for i in range(10)}
    quick = {f"q{i}": f"/json?ms={int(LATENCY * 1000)}" for i in range(10)}
    h = Harness.start({**hanging, **quick}, per_client=20, max_in_flight=30, timeout=1.5)
    greedy, polite = caller("127.0.0.2"), caller("127.0.0.1")
    try:
        hold = [
            ensureDeferred(timed_get(greedy, h.service_url + query(list(hanging)))) for _ in "ab"
        ]
        await _until_reserved(h, 20)
        refused = await timed_get(greedy, h.service_url + query(["q0"]))
        served = await timed_get(polite, h.service_url + query(list(quick)))
        third = caller("127.0.0.3")
        more = ensureDeferred(timed_get(third, h.service_url + query(list(hanging))))
        await _until_reserved(h, 30)
        overloaded = await timed_get(caller("127.0.0.4"), h.service_url + query(["q1"]))
        held = await gatherResults([*hold, more])
    finally:
        await h.stop()
    wall, code, body = refused
    assert (code, body["error"]) == (429, "client_busy")
    assert wall < MARGIN
    wall, code, body = served
    assert (code, body["complete"]) == (200, True)
    assert wall < LATENCY + MARGIN
    wall, code, body = overloaded
    assert (code, body["error"]) == (503, "overloaded")
    assert wall < MARGIN
    assert [code for _, code, _ in held] == [504, 504, 504]


async def _until_reserved(h: Harness, slots: int) -> None:
    """Wait until the service has reserved ``slots`` upstream slots."""
    await eventually(lambda: h.routes.aggregator.budget.used == slots)
