"""``GET /aggregate`` end to end on real 127.0.0.1 sockets, against a fake upstream server.

The service is a real ``Site`` over :class:`AggregateRoutes` with the shared
client from :func:`make_http_client`; the upstream is :class:`FakeUpstream` on
a :class:`CountingSite`, which counts its open connections, so the tests can
prove that cut calls leave nothing open and that the pool leaks nothing.
Every wait is bounded; nothing sleeps.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import orjson
import pytest_twisted
from attrs import define
from treq.client import HTTPClient
from twisted.internet import reactor, task
from twisted.internet.defer import CancelledError
from twisted.internet.task import deferLater
from twisted.logger import globalLogPublisher
from twisted.web._newclient import ResponseNeverReceived
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.server import Site

from chinook_svc.aggregate.client import make_http_client
from chinook_svc.aggregate.routes import AggregateRoutes
from chinook_svc.aggregate.settings import AggregateSettings

from .aggregate_upstream import CountingSite, FakeUpstream

WAIT = 5.0  # seconds any single step may take before the test fails
BACKLOG = 1024


async def eventually(check: Callable[[], bool], seconds: float = WAIT) -> None:
    """Wait, polling every 10 ms, until ``check()`` holds; fail after ``seconds``."""
    give_up = reactor.seconds() + seconds
    while not check():
        assert reactor.seconds() < give_up, "condition not met in time"
        await deferLater(reactor, 0.01)


@define
class Harness:
    """A fake upstream and the service, both listening on 127.0.0.1."""

    upstream: FakeUpstream
    upstream_site: CountingSite
    upstream_url: str
    pool: HTTPConnectionPool
    service_url: str
    client: HTTPClient
    ports: list[Any]
    routes: AggregateRoutes

    @classmethod
    def start(cls, sources: dict[str, str], **limits: Any) -> Harness:
        """Listen with ``sources`` given as paths on the fake upstream (or as URLs)."""
        upstream = FakeUpstream(reactor)
        upstream_site = CountingSite(upstream)
        # Backlogs for hundreds of connections at once (Twisted's default of 50
        # would add a second of SYN retries to some of them).
        upstream_port = reactor.listenTCP(0, upstream_site, interface="127.0.0.1", backlog=BACKLOG)
        upstream_url = f"http://127.0.0.1:{upstream_port.getHost().port}"
        urls = {n: upstream_url + p if p.startswith("/") else p for n, p in sources.items()}
        table = {"sources": urls, **limits}
        settings = AggregateSettings.from_table(table)
        http, pool = make_http_client(reactor, settings)
        routes = AggregateRoutes(settings, http, reactor)
        service_site = Site(routes.resource())
        service_port = reactor.listenTCP(0, service_site, interface="127.0.0.1", backlog=BACKLOG)
        client_pool = HTTPConnectionPool(reactor, persistent=False)
        return cls(
            upstream=upstream,
            upstream_site=upstream_site,
            upstream_url=upstream_url,
            pool=pool,
            service_url=f"http://127.0.0.1:{service_port.getHost().port}/",
            client=HTTPClient(Agent(reactor, pool=client_pool)),
            ports=[upstream_port, service_port],
            routes=routes,
        )

    def cached(self) -> int:
        """Idle connections the service's pool keeps (pool internals: no public count)."""
        return sum(len(c) for c in self.pool._connections.values())

    async def get(self, query: str = "") -> tuple[int, Any, dict[str, Any]]:
        """``GET /aggregate?query`` on the service: status, headers, decoded body."""
        d = self.client.get(self.service_url + query).addTimeout(WAIT, reactor)
        response = await d
        body = await response.content().addTimeout(WAIT, reactor)
        return response.code, response.headers, orjson.loads(body)

    async def stop(self) -> None:
        """Close the pool and stop listening."""
        await self.pool.closeCachedConnections()
        for port in self.ports:
            await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_ten_slow_sources_take_one_round_trip() -> None:
    """Ten 200 ms sources finish in about 200 ms in all, not 2 s: the calls run at once."""
    h = Harness.start({f"s{i}": f"/json?v={i}&ms=200" for i in range(10)})
    try:
        started = reactor.seconds()
        code, headers, body = await h.get()
        wall = reactor.seconds() - started
    finally:
        await h.stop()
    assert code == 200
    assert headers.getRawHeaders("X-Aggregate-Complete") == ["true"]
    assert [body["results"][f"s{i}"]["body"]["v"] for i in range(10)] == [str(i) for i in range(10)]
    # Sequential calls would take 2 s; the bound leaves room for a loaded CI machine.
    assert 0.2 <= wall < 1.0, wall
    assert 200 <= body["elapsed_ms"] < 1000
    assert len(h.upstream.requests) == 10


@pytest_twisted.ensureDeferred
async def test_hanging_source_is_cut_at_its_deadline_while_others_answer() -> None:
    """A source that never answers is cut at its 300 ms timeout; the others' answers are kept."""
    sources = {"hang": "/hang", "quick": "/json?ms=50", "words": "/text", "down": "/status/503"}
    h = Harness.start(sources, timeout=0.3)
    try:
        started = reactor.seconds()
        code, headers, body = await h.get()
        wall = reactor.seconds() - started
        await eventually(lambda: h.upstream.lost == ["/hang"])
    finally:
        await h.stop()
    assert code == 200
    assert headers.getRawHeaders("X-Aggregate-Complete") == ["false"]
    assert sorted(body["results"]) == ["down", "quick", "words"]
    assert body["results"]["words"]["body"] == "plain words"
    assert body["results"]["down"] == {
        "status": 503,
        "elapsed_ms": body["results"]["down"]["elapsed_ms"],
        "body": {"status": 503},
    }
    assert {n: e["error"] for n, e in body["errors"].items()} == {
        "hang": "timeout",
        "down": "bad_status",
    }
    # Cut at 300 ms, not at the 2 s default; the upper bounds allow for a loaded machine.
    assert 300 <= body["errors"]["hang"]["elapsed_ms"] < 900
    assert 0.3 <= wall < 1.0, wall


@pytest_twisted.ensureDeferred
async def test_stalled_and_oversize_bodies_are_cut_and_nothing_leaks() -> None:
    """A stalled body and a 2 MiB body are cut; afterwards only reusable connections stay open."""
    sources = {"stall": "/stall", "huge": "/stream/2097152", "big": "/bytes/70000", "ok": "/json"}
    h = Harness.start(sources, timeout=0.5, max_bytes=65536)
    try:
        code, _, body = await h.get()
        assert code == 200
        assert {n: e["error"] for n, e in body["errors"].items()} == {
            "stall": "timeout",
            "huge": "too_large",
            "big": "too_large",
        }
        assert body["results"]["ok"]["status"] == 200
        # Cut connections are closed; the one good call's connection waits in the pool.
        await eventually(lambda: h.upstream_site.connections == h.cached() == 1)
        await h.pool.closeCachedConnections()
        await eventually(lambda: h.upstream_site.connections == 0)
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_persistent_pool_reuses_connections() -> None:
    """Two aggregate requests in a row reuse the pooled connections instead of opening new ones."""
    h = Harness.start({"a": "/json?v=a", "b": "/json?v=b"})
    try:
        await h.get()
        await eventually(lambda: h.cached() == 2)
        await h.get()
        await eventually(lambda: h.cached() == 2)
        assert h.upstream_site.accepted == 2
        assert h.upstream_site.connections == 2
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_connection_refused_is_a_connect_error() -> None:
    """A source nobody listens on is a ``connect`` error; alone it makes a 502."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound and never listening: connections are refused
        dead = f"http://127.0.0.1:{unused.getsockname()[1]}/x"
        h = Harness.start({"dead": dead})
        try:
            code, _, body = await h.get()
        finally:
            await h.stop()
    assert code == 502
    assert body["errors"]["dead"]["error"] == "connect"
    assert body["results"] == {}


@pytest_twisted.ensureDeferred
async def test_client_disconnect_cancels_upstream_calls() -> None:
    """When the client hangs up, the service closes every upstream call still running, quietly."""
    h = Harness.start({"hang": "/hang", "slow": "/json?ms=3000"}, timeout=4)
    failures: list[dict[str, Any]] = []

    def observe(event: dict[str, Any]) -> None:
        if "log_failure" in event:
            failures.append(event)

    globalLogPublisher.addObserver(observe)
    try:
        request = h.client.get(h.service_url)
        await eventually(lambda: len(h.upstream.requests) == 2)
        request.cancel()
        with suppress(CancelledError, ResponseNeverReceived):
            await request
        await eventually(lambda: sorted(h.upstream.lost) == ["/hang", "/json"])
        await eventually(lambda: h.upstream_site.connections == 0)
        assert h.cached() == 0
    finally:
        globalLogPublisher.removeObserver(observe)
        await h.stop()
    assert failures == []


@pytest_twisted.ensureDeferred
async def test_cookies_from_one_request_never_reach_another() -> None:
    """A cookie set by a source is not kept, so later calls (for other clients too) lack it."""
    h = Harness.start({"setter": "/cookie", "echo": "/echo-cookie"})
    try:
        await h.get("?source=setter")
        _, _, body = await h.get("?source=echo")
    finally:
        await h.stop()
    assert body["results"]["echo"]["body"] == {"cookie": ""}


@pytest_twisted.ensureDeferred
async def test_ssrf_attempts_get_400_and_no_call() -> None:
    """A client cannot point the service at a URL of its own: 400, and the upstream sees nothing."""
    h = Harness.start({"item": "/json/{id:int}"})
    try:
        answers = [
            await h.get("?source=" + h.upstream_url + "/json"),
            await h.get("?id=1&url=" + h.upstream_url + "/hang"),
            await h.get("?id=1%2F..%2Fhang"),
            await h.get("?id={id}"),
        ]
    finally:
        await h.stop()
    assert [code for code, _, _ in answers] == [400, 400, 400, 400]
    assert [body["error"] for _, _, body in answers] == [
        "unknown_source",
        "unknown_parameter",
        "invalid_parameter",
        "invalid_parameter",
    ]
    assert h.upstream.requests == []


@pytest_twisted.ensureDeferred
async def test_upstream_connections_log_nothing() -> None:
    """Opening and closing upstream connections logs no "Starting/Stopping factory" lines."""
    h = Harness.start({f"s{i}": f"/json?v={i}" for i in range(3)})
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        code, _, _ = await h.get()
        await h.pool.closeCachedConnections()
        await eventually(lambda: h.upstream_site.connections == 0)
    finally:
        globalLogPublisher.removeObserver(events.append)
        await h.stop()
    assert code == 200
    upstream = h.upstream_url.rsplit(":", 1)[1]
    factories = [repr(e.get("factory")) for e in events if "factory" in e]
    assert [f for f in factories if f"127.0.0.1:{upstream}>" in f] == []
    assert factories  # the test's own client (a plain pool) did log: the check can see them


@pytest_twisted.ensureDeferred
async def test_connections_per_host_are_bounded_and_reused() -> None:
    """``per_host`` 2: six 100 ms calls to one host use two connections, in three turns,
    and the next request reuses the same two."""
    h = Harness.start({f"s{i}": f"/json?v={i}&ms=100" for i in range(6)}, per_host=2)
    most = 0

    def watch() -> bool:
        nonlocal most
        most = max(most, h.upstream_site.connections)
        return False

    try:
        poll = task.LoopingCall(watch)
        poll.start(0.005)
        code, _, body = await h.get()
        code2, _, _ = await h.get()
        poll.stop()
    finally:
        await h.stop()
    assert (code, code2, body["complete"]) == (200, 200, True)
    assert 300 <= body["elapsed_ms"] < 900  # three turns of 100 ms
    assert most == 2
    assert h.upstream_site.accepted == 2
