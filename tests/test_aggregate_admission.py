"""The fan-out's bounds, in memory: a request's calls all at once, refusals at once, fair shares.

The routes are reached through ``StubTreq`` (whose client address is
127.0.0.1, so ``X-Forwarded-For`` names the client, as behind a local proxy);
the upstream is a :class:`FakeUpstream` behind treq's ``RequestTraversalAgent``;
time is a ``Clock``.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from treq.testing import RequestTraversalAgent, StubTreq
from twisted.internet.defer import CancelledError, Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from chinook_svc.aggregate.admission import CallBudget, ClientBusy, Overloaded
from chinook_svc.aggregate.fanout import Aggregator
from chinook_svc.aggregate.routes import AggregateRoutes, plan_calls
from chinook_svc.aggregate.settings import AggregateSettings

from .aggregate_upstream import FakeUpstream

UP = "http://upstream.test"
OTHER = "http://other.test"


def test_budget_reserves_all_or_nothing() -> None:
    """A reservation takes its slots whole or raises; the client's cap is checked first."""
    budget = CallBudget(limit=10, per_client=6)
    first = budget.reserve("a", 6)
    with pytest.raises(ClientBusy):
        budget.reserve("a", 1)
    second = budget.reserve("b", 4)
    with pytest.raises(Overloaded):
        budget.reserve("c", 1)
    assert (budget.used, budget.held_by("a"), budget.held_by("b")) == (10, 6, 4)
    first.shrink_to(2)
    assert (budget.used, budget.held_by("a")) == (6, 2)
    first.close()
    second.close()
    second.close()  # closing twice gives nothing back twice
    assert (budget.used, budget.held_by("a"), budget.held_by("b")) == (0, 0, 0)


def test_budget_caps_a_reservation_at_the_client_share() -> None:
    """A request wanting more than a client's share gets the share (and runs in waves)."""
    budget = CallBudget(limit=10, per_client=4)
    assert budget.reserve("a", 50).size == 4


class AdmissionTests(SynchronousTestCase):
    """``GET /aggregate`` under the bounds."""

    def make(self, sources: dict[str, str], **limits: Any) -> None:
        """Routes for ``sources`` (paths on ``UP``, or full URLs) and ``limits``."""
        self.clock = Clock()
        self.upstream = FakeUpstream(self.clock)
        self.agent = RequestTraversalAgent(self.upstream)
        urls = {n: p if p.startswith("http") else UP + p for n, p in sources.items()}
        self.settings = AggregateSettings.from_table({"sources": urls, **limits})
        self.routes = AggregateRoutes(self.settings, self.agent, self.clock)
        self.client = StubTreq(self.routes.resource())

    def get(self, query: str = "", client: str = "192.0.2.1") -> Deferred[Any]:
        """Start ``GET /aggregate?query`` for ``client``: (status, headers, decoded body)."""

        async def go() -> Any:
            headers = {"X-Forwarded-For": ["10.9.9.9, " + client]}
            response = await self.client.get("http://svc.test/" + query, headers=headers)
            return response.code, response.headers, orjson.loads(await response.content())

        return ensureDeferred(go())

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass and move every byte."""
        self.clock.advance(seconds)
        self.agent.flush()
        self.client.flush()

    @property
    def used(self) -> int:
        """Slots reserved now."""
        return self.routes.aggregator.budget.used

    def test_a_request_starts_all_its_calls_at_once(self) -> None:
        """150 sources of 100 ms: all 150 calls start together, and it takes 100 ms, not waves."""
        self.make({f"s{i}": f"/json?v={i}&ms=100" for i in range(150)})
        d = self.get()
        assert len(self.upstream.requests) == 150
        assert self.routes.aggregator.in_flight == 150
        self.advance(0.1)
        code, _, body = self.successResultOf(d)
        assert (code, body["complete"], body["elapsed_ms"]) == (200, True, 100.0)
        assert (self.used, self.routes.aggregator.in_flight) == (0, 0)

    def test_a_slow_request_never_holds_up_another(self) -> None:
        """While one request waits on 16 hanging calls, another's 10 calls answer in 10 ms."""
        self.make(
            {f"s{i}": "/hang" for i in range(16)} | {f"q{i}": "/json?ms=10" for i in range(10)}
        )
        slow = self.get("?" + "&".join(f"source=s{i}" for i in range(16)), client="192.0.2.1")
        quick = self.get("?" + "&".join(f"source=q{i}" for i in range(10)), client="192.0.2.2")
        self.advance(0.01)
        code, _, body = self.successResultOf(quick)
        assert (code, body["complete"], body["elapsed_ms"]) == (200, True, 10.0)
        self.assertNoResult(slow)
        self.advance(2.0)
        assert self.successResultOf(slow)[0] == 504

    def test_the_global_bound_refuses_at_once_with_503(self) -> None:
        """A request that would pass ``max_in_flight`` gets 503 at once; nothing is called."""
        self.make({f"s{i}": "/hang" for i in range(6)} | {"q": "/json"}, max_in_flight=8, timeout=1)
        first = self.get("?source=s0&source=s1&source=s2&source=s3&source=s4", client="192.0.2.1")
        code, headers, body = self.successResultOf(
            self.get("?source=s0&source=s1&source=s2&source=s3", client="192.0.2.2")
        )
        assert (code, body["error"]) == (503, "overloaded")
        assert body["message"] == "Too many upstream calls in flight; retry shortly"
        assert headers.getRawHeaders("Retry-After") == ["1"]
        assert len(self.upstream.requests) == 5
        code, _, body = self.successResultOf(self.get("?source=q", client="192.0.2.3"))
        assert (code, body["complete"]) == (200, True)  # what still fits is served
        self.advance(1.0)
        assert self.successResultOf(first)[0] == 504
        assert self.used == 0

    def test_refusals_are_logged_at_most_every_10_seconds(self) -> None:
        """Refused requests are counted into one warning per 10 s, not one line each."""
        self.make({"h": "/hang", "q": "/json"}, max_in_flight=1, timeout=30, deadline=30)
        self.get("?source=h")
        with capturedLogs() as events:
            for _ in range(3):
                self.successResultOf(self.get("?source=q"))
            self.clock.advance(10)
            self.successResultOf(self.get("?source=q"))
        lines = [formatEvent(e) for e in events if e["log_namespace"].startswith("chinook_svc")]
        assert lines == [
            "Refused 1 aggregate request(s): upstream calls in flight at the bound (1 of 1)",
            "Refused 3 aggregate request(s): upstream calls in flight at the bound (1 of 1)",
        ]

    def test_one_client_cannot_take_the_others_share(self) -> None:
        """A client over ``per_client`` gets 429; another client is still served at once."""
        self.make({f"s{i}": "/hang" for i in range(4)} | {"q": "/json"}, per_client=6, timeout=1)
        greedy = [self.get("?source=s0&source=s1&source=s2", client="192.0.2.66") for _ in (1, 2)]
        code, headers, body = self.successResultOf(self.get("?source=s3", client="192.0.2.66"))
        assert (code, body["error"]) == (429, "client_busy")
        assert headers.getRawHeaders("Retry-After") == ["1"]
        code, _, body = self.successResultOf(self.get("?source=q", client="192.0.2.7"))
        assert (code, body["complete"]) == (200, True)
        self.advance(1.0)
        assert [self.successResultOf(d)[0] for d in greedy] == [504, 504]

    def test_slots_go_back_as_soon_as_they_are_no_longer_needed(self) -> None:
        """Nine quick calls and one hanging one: after the quick ones, one slot stays reserved."""
        self.make({f"q{i}": "/json?ms=10" for i in range(9)} | {"hang": "/hang"}, timeout=1)
        d = self.get()
        assert self.used == 10
        self.advance(0.01)
        assert self.used == 1
        self.advance(0.99)
        assert self.successResultOf(d)[0] == 200
        assert self.used == 0

    def test_a_request_over_its_own_bound_runs_in_its_own_waves(self) -> None:
        """``concurrency`` 3 and 7 calls: 3 slots reserved, the calls take three turns."""
        self.make({f"s{i}": "/json?ms=100" for i in range(7)}, concurrency=3)
        d = self.get()
        assert (self.used, len(self.upstream.requests)) == (3, 3)
        self.advance(0.1)
        assert len(self.upstream.requests) == 6
        self.advance(0.1)
        assert self.used == 1
        self.advance(0.1)
        code, _, body = self.successResultOf(d)
        assert (code, body["elapsed_ms"]) == (200, 300.0)

    def test_connections_per_host(self) -> None:
        """``per_host`` 2: a host's calls wait for its connections; another host's do not."""
        sources = {f"u{i}": "/json?ms=100" for i in range(4)} | {"o": OTHER + "/json?ms=100"}
        self.make(sources, per_host=2)
        other = FakeUpstream(self.clock)
        by_host = ByHost({"upstream.test": self.upstream, "other.test": other})
        self.agent = RequestTraversalAgent(by_host)
        self.routes = AggregateRoutes(self.settings, self.agent, self.clock)
        self.client = StubTreq(self.routes.resource())
        d = self.get()
        assert (len(self.upstream.requests), len(other.requests)) == (2, 1)
        self.advance(0.1)
        assert len(self.upstream.requests) == 4
        self.advance(0.1)
        code, _, body = self.successResultOf(d)
        assert (code, body["elapsed_ms"]) == (200, 200.0)
        assert body["results"]["o"]["elapsed_ms"] == 100.0

    def test_waiting_for_a_connection_ends_at_the_deadline(self) -> None:
        """A call still waiting for its host's connection at the deadline is a ``timeout``."""
        self.make({"a": "/hang", "b": "/json"}, per_host=1, timeout=2, deadline=0.5)
        d = self.get()
        self.advance(0.5)
        code, _, body = self.successResultOf(d)
        assert code == 504
        message = body["errors"]["b"]["message"]
        assert message == "no free connection to http://upstream.test:80 before the 0.5 s deadline"

    def test_cancelling_gives_every_slot_back(self) -> None:
        """A cancelled request (client gone) gives back its slots and its connections."""
        self.make({f"s{i}": "/hang" for i in range(3)}, per_host=1)
        aggregator = Aggregator(self.settings, self.agent, self.clock)
        run = ensureDeferred(aggregator.run(plan_calls(self.settings, {}), "c"))
        assert aggregator.budget.used == 3
        run.cancel()
        self.failureResultOf(run, CancelledError)
        assert (aggregator.budget.used, aggregator.in_flight) == (0, 0)
        again = ensureDeferred(aggregator.run(plan_calls(self.settings, {"source": ["s0"]}), "c"))
        self.agent.flush()
        assert self.upstream.requests.count("/hang") == 2  # the host's connection is free again
        again.cancel()
        self.failureResultOf(again, CancelledError)
        assert self.clock.getDelayedCalls() == []


class ByHost(Resource):
    """Hands each request to the upstream named by its ``Host``."""

    isLeaf = True

    def __init__(self, upstreams: dict[str, FakeUpstream]) -> None:
        super().__init__()
        self.upstreams = upstreams

    def render(self, request: Any) -> Any:
        """Render with the request's host's upstream."""
        return self.upstreams[request.getRequestHostname().decode()].render(request)
