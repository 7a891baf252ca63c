"""Overload: the work waiting for a database thread is bounded, cheap work goes first,
and ``/healthz`` reports the database, not the queue.

In memory and without threads (STYLE.md section 4): a thread pool stand-in
that holds each call until the test lets it finish, and a ``Clock`` that takes
thread results at once, drive the real :class:`ThreadPoolRunner`.  The
service-level test at the end serves a real SQLite file from real threads on
a real socket.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from treq.testing import StubTreq
from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import capturedLogs, formatEvent
from twisted.python.failure import Failure

from chinook_svc.database import open_engine
from chinook_svc.models import DEFAULT
from chinook_svc.restless import (
    ApiError,
    Cost,
    Overloaded,
    ThreadPoolRunner,
    default_queue_limit,
)
from chinook_svc.restless._cost import read_cost
from chinook_svc.restless._runner import SATURATED_FOR, default_heavy_limit
from chinook_svc.web.app import ChinookApp
from chinook_svc.web.health import HealthCheck

from .service_support import FakeReactor, make_tiny_chinook


class HeldPool:
    """A ``ThreadPool`` stand-in: calls wait until the test finishes them, in any order."""

    def __init__(self, threads: int) -> None:
        self.max = threads
        self.held: list[
            tuple[Callable[[bool, Any], None], Callable[..., Any], tuple[Any, ...]]
        ] = []
        self.peak = 0

    def callInThreadWithCallback(
        self, on_result: Callable[[bool, Any], None], f: Callable[..., Any], *args: Any
    ) -> None:
        """Hold the call."""
        self.held.append((on_result, f, args))
        self.peak = max(self.peak, len(self.held))

    def finish(self, index: int = 0) -> None:
        """Run held call ``index`` now and report its result."""
        on_result, f, args = self.held.pop(index)
        try:
            result = f(*args)
        except BaseException:
            on_result(False, Failure())
        else:
            on_result(True, result)


def outcome(d: Deferred[Any]) -> Any:
    """What ``d`` fired with so far: a result, a Failure, or ``None`` (not yet)."""
    box: list[Any] = []
    d.addBoth(lambda r: box.append(r) or r)
    if not box:
        return None
    value = box[0]
    if isinstance(value, Failure):
        d.addErrback(lambda f: None)
    return value


def make_runner(threads: int, **options: Any) -> tuple[ThreadPoolRunner, HeldPool, FakeReactor]:
    """A real runner over a held pool."""
    pool, reactor = HeldPool(threads), FakeReactor()
    return ThreadPoolRunner(reactor, pool, **options), pool, reactor  # type: ignore[arg-type]


def test_defaults_follow_the_thread_count() -> None:
    """The queue holds 16 calls per thread (at least 64); heavy work leaves one thread free."""
    assert [default_queue_limit(n) for n in (1, 4, 5, 16)] == [64, 64, 80, 256]
    assert [default_heavy_limit(n) for n in (1, 2, 5)] == [1, 1, 4]
    assert default_heavy_limit(5, in_process=True) == 1


def test_a_full_queue_sheds_at_once() -> None:
    """Threads busy and the queue full: the next call fails at once with 503 and Retry-After."""
    runner, pool, reactor = make_runner(2, queue_limit=3)
    accepted = [runner.run(lambda i=i: i) for i in range(5)]
    assert len(pool.held) == 2  # never more work in the pool than threads
    with capturedLogs() as events:
        refused = runner.run(lambda: "too many")
        outcome(runner.run(lambda: "too many again"))  # counted, not logged
    assert [formatEvent(e) for e in events] == [
        "503 Server overloaded: 1 request(s) refused, the database queue for light work is "
        "full (3 waiting, 2 threads busy)"
    ]
    failure = outcome(refused)
    assert isinstance(failure, Failure) and failure.check(Overloaded)
    error = failure.value
    assert (error.status, error.headers, error.body()) == (
        503,
        {"Retry-After": "1"},
        {"message": "Server overloaded"},
    )
    assert runner.load() == "saturated"
    for _ in range(5):
        pool.finish()
    assert [outcome(d) for d in accepted] == [0, 1, 2, 3, 4]
    assert runner.load() == "saturated"  # refused less than a second ago
    reactor.advance(SATURATED_FOR)
    assert runner.load() == "normal" and pool.peak == 2


def test_cheap_calls_go_first_and_keep_a_thread() -> None:
    """Heavy calls hold at most ``heavy_limit`` threads; waiting cheap calls pass heavy ones."""
    runner, pool, _ = make_runner(3, heavy_limit=2, queue_limit=10)
    order: list[str] = []
    heavy = [runner.run(order.append, f"heavy {i}", cost=Cost.HEAVY) for i in range(4)]
    assert len(pool.held) == 2  # the third thread stays free for cheap work
    cheap = [runner.run(order.append, f"cheap {i}") for i in range(3)]
    assert len(pool.held) == 3  # cheap 0 took the free thread; cheap 1 and 2 wait
    while pool.held:
        pool.finish(0)
    assert order == ["heavy 0", "heavy 1", "cheap 0", "cheap 1", "cheap 2", "heavy 2", "heavy 3"]
    assert all(outcome(d) is None or not isinstance(outcome(d), Failure) for d in heavy + cheap)


def test_each_lane_has_its_own_bound() -> None:
    """A queue full of heavy calls does not refuse cheap ones."""
    runner, pool, _ = make_runner(2, heavy_limit=1, queue_limit=2)
    [runner.run(lambda: None, cost=Cost.HEAVY) for _ in range(3)]
    assert isinstance(outcome(runner.run(lambda: None, cost=Cost.HEAVY)), Failure)
    cheap = runner.run(lambda: "cheap")
    pool.finish(1)
    assert outcome(cheap) == "cheap"


def test_a_cancelled_waiting_call_leaves_the_queue() -> None:
    """A client that goes away while its call waits: the call never runs."""
    runner, pool, _ = make_runner(1, queue_limit=2)
    ran: list[str] = []
    runner.run(ran.append, "first")
    waiting = runner.run(ran.append, "gone")
    waiting.cancel()
    assert outcome(waiting).check(CancelledError)
    pool.finish()
    assert ran == ["first"] and pool.held == []


def test_read_cost() -> None:
    """By URL kind: a row by key or a plain first page is cheap; searches, big pages, eval heavy."""

    def cost(kind: str, q: str | None = None, results_per_page: str | None = None) -> Cost:
        return read_cost(kind, q, results_per_page, default_page=10)

    assert cost("instance") is Cost.LIGHT
    assert cost("member") is Cost.LIGHT
    assert cost("collection") is Cost.LIGHT
    assert cost("collection", q="{}") is Cost.LIGHT
    assert cost("collection", results_per_page="10") is Cost.LIGHT
    assert cost("collection", results_per_page="100") is Cost.HEAVY
    assert cost("collection", q=json.dumps({"filters": []})) is Cost.HEAVY
    assert cost("eval") is Cost.HEAVY
    assert cost("relation") is Cost.HEAVY


# -- /healthz ---------------------------------------------------------------------------------


@pytest.fixture
def tiny_url(tmp_path: Path) -> str:
    """A tiny Chinook database."""
    return make_tiny_chinook(tmp_path / "tiny.db")


def send(stub: StubTreq, url: str, headers: dict[str, str] | None = None) -> list[tuple[int, Any]]:
    """GET ``url`` in memory; the list gets (status, JSON body) when the answer comes."""
    answers: list[tuple[int, Any]] = []

    async def go() -> None:
        response = await stub.get(url, headers=headers)
        answers.append((response.code, json.loads(await stub.content(response))))

    Deferred.fromCoroutine(go())
    stub.flush()
    return answers


def test_healthz_does_not_wait_behind_api_work(tiny_url: str) -> None:
    """API threads busy, queue full: /healthz runs on its own thread and answers 200 "saturated"."""
    engine = open_engine(tiny_url)
    api, api_pool, reactor = make_runner(2, queue_limit=4)
    health_pool = HeldPool(1)
    health_runner = ThreadPoolRunner(reactor, health_pool)  # type: ignore[arg-type]
    health = HealthCheck(engine, health_runner, reactor, timeout=5.0, load=api.load)
    app = ChinookApp(engine, api, reactor, models=DEFAULT, health=health)
    stub = StubTreq(app.resource())
    waiting = [send(stub, f"http://x/api/albums/{i}") for i in range(1, 7)]
    assert len(api_pool.held) == 2 and all(w == [] for w in waiting)
    assert send(stub, "http://x/api/albums/7") == [(503, {"message": "Server overloaded"})]
    probes = [send(stub, "http://x/healthz") for _ in range(3)]
    assert len(health_pool.held) == 1  # one check at a time; the probes share it
    health_pool.finish()
    stub.flush()
    for probe in probes:
        [(status, body)] = probe
        assert (status, body["database"], body["load"]) == (200, "ok", "saturated")
    while api_pool.held:
        api_pool.finish()
        stub.flush()
    assert all(w and w[0][0] == 200 for w in waiting)
    engine.dispose()


def test_healthz_times_out_on_its_own_thread(tiny_url: str) -> None:
    """A check that does not come back within the timeout is a 503 "unavailable"."""
    engine = open_engine(tiny_url)
    api, _, reactor = make_runner(2)
    health_pool = HeldPool(1)
    health_runner = ThreadPoolRunner(reactor, health_pool)  # type: ignore[arg-type]
    health = HealthCheck(engine, health_runner, reactor, timeout=2.0, load=api.load)
    app = ChinookApp(engine, api, reactor, models=DEFAULT, health=health)
    stub = StubTreq(app.resource())
    probe = send(stub, "http://x/healthz")
    reactor.advance(1.9)
    stub.flush()
    assert probe == []
    reactor.advance(0.2)
    stub.flush()
    [(status, body)] = probe
    assert (status, body["status"], body["database"]) == (503, "unavailable", "unavailable")
    engine.dispose()


def test_healthz_reports_normal_then_saturated(tiny_url: str) -> None:
    """The database answers: 200, status ok; load "normal", then "saturated" while work waits."""
    engine = open_engine(tiny_url)
    api, api_pool, reactor = make_runner(1, queue_limit=1)
    health = HealthCheck(engine, _inline(reactor), reactor, timeout=5.0, load=api.load)
    app = ChinookApp(engine, api, reactor, models=DEFAULT, health=health)
    stub = StubTreq(app.resource())
    [(status, body)] = send(stub, "http://x/healthz")
    assert (status, body["status"], body["database"], body["load"]) == (200, "ok", "ok", "normal")
    send(stub, "http://x/api/albums/1")
    send(stub, "http://x/api/albums/2")
    [(status, body)] = send(stub, "http://x/healthz")
    assert (status, body["status"], body["database"], body["load"]) == (
        200,
        "ok",
        "ok",
        "saturated",
    )
    while api_pool.held:
        api_pool.finish()
    engine.dispose()


def _inline(reactor: FakeReactor) -> ThreadPoolRunner:
    """A runner whose pool runs each call at once."""
    from .service_support import InlineThreadPool

    pool = InlineThreadPool()
    return ThreadPoolRunner(reactor, pool)  # type: ignore[arg-type]


def test_overloaded_is_an_api_error() -> None:
    """``Overloaded`` is answered by the shared error handling like any API error."""
    assert issubclass(Overloaded, ApiError)
