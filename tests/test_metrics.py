"""Metrics in memory: each family the service claims, counted where it happens.

Requests go through the service's root wrapped as ``tap`` wraps it
(``MeasuredRoot``), by ``StubTreq``; the database is a real SQLite file; the
runner's lanes and the response cache are driven directly; ``/aggregate``
calls a fake upstream through treq's in-memory agent.  ``/metrics`` itself
is read back and parsed as Prometheus would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.task import Clock

from chinook_svc.database import open_engine
from chinook_svc.metrics import MeasuredRoot, MetricsPage, ServiceMetrics, route_template
from chinook_svc.metrics.http import OTHER
from chinook_svc.metrics.statements import time_statements
from chinook_svc.restless import Cost, InlineRunner, Reply, ThreadPoolRunner
from chinook_svc.restless._cache import ResponseCache
from chinook_svc.restless._representation import Representation
from chinook_svc.web.app import ChinookApp

from .metrics_support import label_values, of, parse, total
from .service_support import FakeReactor, InlineThreadPool, make_tiny_chinook, request

TOKEN = b"t" * 32


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, ServiceMetrics]]:
    """The app over a tiny Chinook, wrapped as the service wraps it, with ``/metrics``."""
    engine = open_engine(make_tiny_chinook(tmp_path / "tiny.db"))
    metrics = ServiceMetrics()
    app = ChinookApp(engine, InlineRunner(), Clock(), observer=metrics)
    time_statements(engine, metrics)
    page = MetricsPage(metrics.registry, FakeReactor(), InlineThreadPool(), metrics.sample)
    yield MeasuredRoot(app.resource(), metrics, page), metrics
    engine.dispose()


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/", "/"),
        ("/healthz", "/healthz"),
        ("/openapi.json", "/openapi.json"),
        ("/docs", "/docs"),
        ("/docs/swagger-ui.css", "/docs/{asset}"),
        ("/metrics", "/metrics"),
        ("/aggregate", "/aggregate"),
        ("/aggregate/", "/aggregate"),
        ("/api/albums", "/api/{collection}"),
        ("/api/albums/3", "/api/{collection}/{id}"),
        ("/api/albums/3/tracks", "/api/{collection}/{id}/{relation}"),
        ("/api/albums/3/tracks/7", "/api/{collection}/{id}/{relation}/{relid}"),
        ("/api/eval/albums", "/api/eval/{collection}"),
        ("/api", OTHER),
        ("/api/", OTHER),
        ("/api/albums/", OTHER),
        ("/api/a/b/c/d/e", OTHER),
        ("/wp-login.php", OTHER),
        ("/healthz/x", OTHER),
        ("/docs/a/b", OTHER),
    ],
)
def test_route_templates(path: str, template: str) -> None:
    """A path's template names its shape, never its values; unknown paths are ``other``."""
    segments = [s.encode() for s in path[1:].split("/")]
    assert route_template(segments) == template


def test_templates_are_bounded() -> None:
    """Thousands of different URLs give a handful of templates (the label's cardinality)."""
    seen = {
        route_template([s.encode() for s in f"{a}/{b}/{n}/x{n}".split("/")[:k]])
        for a in ("api", "docs", "aggregate", "healthz", "zzz", "")
        for b in ("albums", "eval", "", "q")
        for n in range(100)
        for k in range(1, 6)
    }
    assert len(seen) <= 14
    assert OTHER in seen


def test_requests_counted_by_route_method_status(served: tuple[Any, ServiceMetrics]) -> None:
    """Each answer counts once under its template, method and status, and is timed."""
    root, metrics = served
    for n in (1, 2, 3):
        assert request(root, f"http://x/api/albums/{n}")[0] == 200
    assert request(root, "http://x/api/albums?page=1")[0] == 200
    assert request(root, "http://x/api/albums/999999")[0] == 404
    assert request(root, "http://x/no/such/thing")[0] == 404
    assert request(root, "http://x/api/albums", method="DELETE")[0] == 405
    samples = of(metrics.registry)
    name = "chinook_http_requests_total"
    assert total(samples, name, route="/api/{collection}/{id}", status="200", method="GET") == 3
    assert total(samples, name, route="/api/{collection}/{id}", status="404") == 1
    assert total(samples, name, route="/api/{collection}", method="GET", status="200") == 1
    assert total(samples, name, route="/api/{collection}", method="DELETE", status="405") == 1
    assert total(samples, name, route=OTHER, status="404") == 1
    assert total(samples, name) == 7
    timed = "chinook_http_request_duration_seconds_count"
    assert total(samples, timed, route="/api/{collection}/{id}") == 4
    assert total(samples, "chinook_http_request_duration_seconds_sum") > 0
    assert label_values(samples, name, "route") == {
        "/api/{collection}/{id}", "/api/{collection}", OTHER
    }  # fmt: skip


def test_unknown_methods_share_a_label(served: tuple[Any, ServiceMetrics]) -> None:
    """A method outside HTTP's usual ones is counted as ``other`` (bounded labels)."""
    root, metrics = served
    request(root, "http://x/api/albums", method="BREW")
    assert label_values(of(metrics.registry), "chinook_http_requests_total", "method") == {"other"}


def test_metrics_page_is_prometheus_text(served: tuple[Any, ServiceMetrics]) -> None:
    """``GET /metrics``: the text format, every family, the in-flight gauge sampled."""
    root, _ = served
    request(root, "http://x/api/albums/1")
    stub_status, headers, body = _raw(root, "http://x/metrics")
    assert stub_status == 200
    assert headers.getRawHeaders("content-type")[0].startswith("text/plain; version=0.0.4")
    samples = parse(body)
    assert total(samples, "chinook_http_requests_total", route="/api/{collection}/{id}") == 1
    # Sampled while the scrape itself is in flight: at least itself.
    families = {name for name, _ in samples}
    for family in (
        "chinook_http_requests_total",
        "chinook_http_request_duration_seconds_bucket",
        "chinook_db_statement_duration_seconds_count",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_cpu_seconds_total",
    ):
        assert family in families, family
    assert total(samples, "chinook_db_statement_duration_seconds_count") >= 1


def test_metrics_page_only_reads(served: tuple[Any, ServiceMetrics]) -> None:
    """POST /metrics is a JSON 405."""
    root, _ = served
    status, headers, body = request(root, "http://x/metrics", method="POST")
    assert status == 405
    assert body == {"message": "Method not allowed"}
    assert headers.getRawHeaders("allow") == ["GET, HEAD"]


def test_metrics_behind_the_token(tmp_path: Path) -> None:
    """With a token (``--auth-reads``), /metrics on the API's port is a 401 without it."""
    engine = open_engine(make_tiny_chinook(tmp_path / "tiny.db"))
    metrics = ServiceMetrics()
    app = ChinookApp(engine, InlineRunner(), Clock(), token=TOKEN, auth_reads=True)
    page = MetricsPage(metrics.registry, FakeReactor(), InlineThreadPool())
    root = MeasuredRoot(app.resource(), metrics, page, token=TOKEN)
    status, headers, body = request(root, "http://x/metrics")
    assert status == 401
    assert body == {"message": "Missing or invalid bearer token"}
    assert headers.getRawHeaders("www-authenticate") == ['Bearer realm="chinook_svc"']
    status, _, text = _raw(root, "http://x/metrics", {"Authorization": "Bearer " + TOKEN.decode()})
    assert status == 200
    assert total(parse(text), "chinook_http_requests_total", route="/metrics", status="401") == 1
    engine.dispose()


def _raw(root: Any, url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
    from treq.testing import StubTreq
    from twisted.internet.defer import ensureDeferred

    stub = StubTreq(root)
    out: list[tuple[int, Any, str]] = []

    async def go() -> None:
        response = await stub.get(url, headers=headers)
        out.append((response.code, response.headers, (await stub.content(response)).decode()))

    ensureDeferred(go())
    stub.flush()
    assert out, url
    return out[0]


# -- the database runner: lanes, busy threads, shed and overdue calls ------------------------


class HeldPool:
    """A thread pool whose calls never run until released (a busy database)."""

    name = "test-db"

    def __init__(self, threads: int) -> None:
        self.max = threads
        self.held: list[Any] = []

    def callInThreadWithCallback(self, on_result: Any, f: Any, *args: Any) -> None:
        """Hold the call."""
        self.held.append((on_result, f, args))


def test_runner_gauges_and_shed_requests() -> None:
    """Busy threads and queue depth by lane are sampled; a full lane's refusals are counted."""
    clock = FakeReactor()
    metrics = ServiceMetrics()
    pool = HeldPool(2)
    runner = ThreadPoolRunner(clock, pool, queue_limit=2, heavy_limit=1, observer=metrics)  # type: ignore[arg-type]
    metrics.watch(lambda: 5, [runner, runner])
    calls = [runner.run(lambda: None) for _ in range(2)]  # both threads busy
    calls += [runner.run(lambda: None) for _ in range(2)]  # light lane full
    calls += [runner.run(lambda: None, cost=Cost.HEAVY)]  # one heavy waiting
    refused = [runner.run(lambda: None) for _ in range(3)]
    assert runner.refuse_now(Cost.LIGHT)  # the admission gate's way of asking
    for d in refused:
        d.addErrback(lambda f: None)
    metrics.sample()
    samples = of(metrics.registry)
    assert total(samples, "chinook_db_threads", pool="test-db") == 2
    assert total(samples, "chinook_db_threads_busy", pool="test-db") == 2
    assert total(samples, "chinook_db_queue_depth", pool="test-db", cost="light") == 2
    assert total(samples, "chinook_db_queue_depth", pool="test-db", cost="heavy") == 1
    assert total(samples, "chinook_requests_shed_total", pool="test-db", cost="light") == 4
    assert total(samples, "chinook_requests_shed_total", cost="heavy") == 0
    assert total(samples, "chinook_http_requests_in_flight") == 5
    for d in calls:
        d.addErrback(lambda f: None)


def test_calls_past_their_deadline_are_counted() -> None:
    """A call not done within the runner's deadline counts as deadline exceeded."""
    clock = FakeReactor()
    metrics = ServiceMetrics()
    runner = ThreadPoolRunner(clock, HeldPool(1), deadline=2.0, observer=metrics)  # type: ignore[arg-type]
    d = runner.run(lambda: None)
    waiting = runner.run(lambda: None)
    clock.advance(2.5)
    assert isinstance(d.result.value, Exception) and isinstance(waiting.result.value, Exception)
    d.addErrback(lambda f: None)
    waiting.addErrback(lambda f: None)
    samples = of(metrics.registry)
    assert total(samples, "chinook_db_deadline_exceeded_total", pool="test-db") == 2


# -- the response cache -----------------------------------------------------------------


def test_cache_hits_misses_and_evictions() -> None:
    """Lookups by result (hit, miss, bypassed); entries gone: expired, pushed out, a write."""
    clock = Clock()
    metrics = ServiceMetrics()
    cache = ResponseCache(clock, 10.0, max_entries=2, observer=metrics)
    answer = Representation.of(Reply(200, b"{}", ()))
    assert cache.get("a") is None  # miss
    for key in ("a", "b", "c"):  # "a" pushed out by "c"
        cache.put(key, answer, cache.token())
    assert cache.get("a") is None  # miss
    assert cache.get("b") is answer  # hit
    clock.advance(11)
    assert cache.get("b") is None  # expired: a miss
    cache.invalidate()  # "c" still there
    cache.set_available(False)  # a watcher of other instances' writes lost its connection
    assert cache.get("c") is None  # bypassed
    samples = of(metrics.registry)
    assert total(samples, "chinook_cache_lookups_total", result="hit") == 1
    assert total(samples, "chinook_cache_lookups_total", result="miss") == 3
    assert total(samples, "chinook_cache_lookups_total", result="bypassed") == 1
    assert total(samples, "chinook_cache_evictions_total", reason="capacity") == 1
    assert total(samples, "chinook_cache_evictions_total", reason="expired") == 1
    assert total(samples, "chinook_cache_evictions_total", reason="invalidated") == 1


def test_cache_through_the_service(tmp_path: Path) -> None:
    """With ``cache_ttl`` the second identical GET is a hit, counted as one."""
    engine = open_engine(make_tiny_chinook(tmp_path / "tiny.db"))
    metrics = ServiceMetrics()
    app = ChinookApp(engine, InlineRunner(), Clock(), cache_ttl=30.0, observer=metrics)
    for _ in range(2):
        assert request(app.resource(), "http://x/api/albums/1")[0] == 200
    samples = of(metrics.registry)
    assert total(samples, "chinook_cache_lookups_total", result="miss") == 1
    assert total(samples, "chinook_cache_lookups_total", result="hit") == 1
    engine.dispose()


# -- the process --------------------------------------------------------------------------


def test_process_figures() -> None:
    """Memory, descriptors and CPU time of this process; CPU time only ever grows."""
    metrics = ServiceMetrics()
    metrics.sample()
    first = of(metrics.registry)
    assert total(first, "process_resident_memory_bytes") > 10 << 20
    assert total(first, "process_open_fds") >= 3
    cpu = total(first, "process_cpu_seconds_total")
    assert cpu > 0
    sum(i * i for i in range(300_000))  # spend some CPU
    metrics.sample()
    assert total(of(metrics.registry), "process_cpu_seconds_total") >= cpu


def test_metrics_is_not_in_the_openapi_document(served: tuple[Any, ServiceMetrics]) -> None:
    """``/metrics`` is operations, not API: ``/openapi.json`` does not describe it."""
    root, _ = served
    status, _, document = request(root, "http://x/openapi.json")
    assert status == 200
    assert "/api/albums" in document["paths"]
    assert not [path for path in document["paths"] if "metrics" in path]
