"""``GET /aggregate`` in memory: merging, statuses, SSRF refusals, concurrency, deadlines, cancel.

The service's routes are mounted the way the root app will mount them (a
branch route at ``/aggregate``) and reached through ``StubTreq``; the upstream
is a :class:`FakeUpstream` behind treq's ``RequestTraversalAgent``; time is a
``Clock``.
"""

from __future__ import annotations

from typing import Any

import orjson
from klein import Klein
from treq.testing import RequestTraversalAgent, StubTreq
from twisted.internet.defer import CancelledError, Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from chinook_svc.aggregate.fanout import Aggregator
from chinook_svc.aggregate.routes import AggregateRoutes, plan_calls
from chinook_svc.aggregate.settings import AggregateSettings

from .aggregate_upstream import FakeUpstream

UP = "http://upstream.test"


class Root:
    """A root app mounting the aggregate routes as the service wiring does."""

    app = Klein()

    def __init__(self, aggregate: AggregateRoutes) -> None:
        self._aggregate = aggregate

    @app.route("/aggregate", branch=True)
    def aggregate(self, request: IRequest) -> IResource:
        """Hand ``/aggregate`` to the aggregate app."""
        return self._aggregate.resource()


class AggregateRouteTests(SynchronousTestCase):
    """The endpoint over an in-memory upstream."""

    def make(self, sources: dict[str, str], **limits: Any) -> None:
        """Build the routes for ``sources`` (paths on the fake upstream) and ``limits``."""
        self.clock = Clock()
        self.upstream = FakeUpstream(self.clock)
        self.upstream_http = RequestTraversalAgent(self.upstream)
        table = {"sources": {name: UP + path for name, path in sources.items()}, **limits}
        self.settings = AggregateSettings.from_table(table)
        self.routes = AggregateRoutes(self.settings, self.upstream_http, self.clock)
        self.client = StubTreq(Root(self.routes).app.resource())

    def get(self, query: str = "") -> Deferred[Any]:
        """Start ``GET /aggregate?query``; fires with (status, headers, raw body)."""

        async def go() -> Any:
            response = await self.client.get("http://svc.test/aggregate" + query)
            body = await response.content()
            return response.code, response.headers, body

        return ensureDeferred(go())

    def flush(self) -> None:
        """Move bytes between upstream and service, then service and client."""
        self.upstream_http.flush()
        self.client.flush()

    def answer(self, query: str = "") -> tuple[int, Any, dict[str, Any]]:
        """The finished answer of an aggregate request that needs no waiting."""
        code, headers, body = self.successResultOf(self.get(query))
        return code, headers, orjson.loads(body)

    def test_merges_by_source_name_with_sorted_keys(self) -> None:
        """Every source's answer sits under its name; the JSON has sorted keys at every level."""
        self.make({"b": "/json?v={id}", "a": "/text"})
        d = self.get("?id=42")
        code, headers, raw = self.successResultOf(d)
        assert code == 200
        assert headers.getRawHeaders("X-Aggregate-Complete") == ["true"]
        assert headers.getRawHeaders("Content-Type") == ["application/json"]
        assert orjson.loads(raw) == {
            "complete": True,
            "elapsed_ms": 0.0,
            "results": {
                "a": {"status": 200, "elapsed_ms": 0.0, "body": "plain words"},
                "b": {"status": 200, "elapsed_ms": 0.0, "body": {"path": "/json", "v": "42"}},
            },
            "errors": {},
        }
        assert raw == orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS)

    def test_source_parameter_picks_sources(self) -> None:
        """``source=`` calls only the sources named, each once."""
        self.make({"a": "/json?v=a", "b": "/json?v=b", "c": "/json?v=c"})
        code, _, body = self.answer("?source=c&source=a&source=c")
        assert code == 200
        assert sorted(body["results"]) == ["a", "c"]
        assert len(self.upstream.requests) == 2

    def test_partial_answer(self) -> None:
        """One source failing: 200, ``complete`` false, the failure under ``errors``."""
        self.make({"ok": "/json", "broken": "/status/500"})
        code, headers, body = self.answer()
        assert code == 200
        assert headers.getRawHeaders("X-Aggregate-Complete") == ["false"]
        assert body["complete"] is False
        assert body["results"]["broken"]["status"] == 500
        assert body["errors"] == {
            "broken": {
                "error": "bad_status",
                "elapsed_ms": 0.0,
                "status": 500,
                "message": "the source answered 500",
            }
        }

    def test_odd_charsets_keep_every_answer(self) -> None:
        """Sources labelled ``charset=idna``/``undefined`` are text; the answer is a 200, whole."""
        self.make({"idna": "/charset/idna", "undefined": "/charset/undefined", "ok": "/json"})
        code, _, body = self.answer()
        assert code == 200
        assert body["complete"] is True
        assert body["results"]["idna"]["body"] == body["results"]["undefined"]["body"] == "café"
        assert body["results"]["ok"]["body"] == {"path": "/json", "v": ""}

    def test_logs_each_request_only_when_verbose(self) -> None:
        """Without ``--debug`` an aggregate request logs nothing; with it, one line."""
        self.make({"a": "/json"})
        with capturedLogs() as quiet:
            self.answer()
        verbose = AggregateRoutes(self.settings, self.upstream_http, self.clock, verbose=True)
        with capturedLogs() as loud:
            response = self.successResultOf(
                StubTreq(Root(verbose).app.resource()).get("http://svc.test/aggregate")
            )
            self.successResultOf(response.content())
        assert [e for e in quiet if e["log_namespace"].startswith("chinook_svc")] == []
        lines = [e for e in loud if e["log_namespace"].startswith("chinook_svc")]
        assert [e["log_format"].split(":")[0] for e in lines] == [
            "aggregate of {count} sources for {client}"
        ]

    def test_all_timeouts_is_504(self) -> None:
        """Every source timing out gives 504, after exactly the per-call timeout."""
        self.make({"a": "/hang", "b": "/stall"}, timeout=0.25)
        d = self.get()
        self.flush()
        self.clock.advance(0.249)
        self.flush()
        self.assertNoResult(d)
        self.clock.advance(0.001)
        self.flush()
        code, _, raw = self.successResultOf(d)
        body = orjson.loads(raw)
        assert code == 504
        assert body["elapsed_ms"] == 250.0
        assert {name: e["error"] for name, e in body["errors"].items()} == {
            "a": "timeout",
            "b": "timeout",
        }
        assert sorted(self.upstream.lost) == ["/hang", "/stall"]

    def test_mixed_failures_are_502(self) -> None:
        """No success and not only timeouts gives 502."""
        self.make({"a": "/hang", "b": "/status/404", "c": "/bytes/2000"}, timeout=1, max_bytes=1000)
        d = self.get()
        self.clock.advance(1)
        self.flush()
        code, _, raw = self.successResultOf(d)
        errors = orjson.loads(raw)["errors"]
        assert code == 502
        assert {n: e["error"] for n, e in errors.items()} == {
            "a": "timeout",
            "b": "bad_status",
            "c": "too_large",
        }

    def test_concurrency_is_capped(self) -> None:
        """With ``concurrency`` 2, four 100 ms sources run two at a time."""
        self.make(dict.fromkeys("abcd", "/json?ms=100"), concurrency=2)
        d = self.get()
        assert len(self.upstream.requests) == 2
        assert self.routes.aggregator.in_flight == 2
        self.clock.advance(0.1)
        self.flush()
        assert len(self.upstream.requests) == 4
        self.clock.advance(0.1)
        self.flush()
        code, _, raw = self.successResultOf(d)
        body = orjson.loads(raw)
        assert (code, body["complete"], body["elapsed_ms"]) == (200, True, 200.0)
        assert [r["elapsed_ms"] for r in body["results"].values()] == [100.0] * 4
        assert self.routes.aggregator.in_flight == 0

    def test_overall_deadline_cuts_queued_and_running_calls(self) -> None:
        """The request deadline bounds a call that starts late and calls waiting for a slot."""
        self.make(
            {"first": "/hang", "second": "/hang", "third": "/hang"},
            timeout=0.6,
            deadline=1.0,
            concurrency=1,
        )
        d = self.get()
        self.clock.advance(0.6)  # first: its own timeout; second starts with 0.4 s left
        self.flush()
        self.clock.advance(0.4)  # second: cut by the deadline; third never got a slot
        self.flush()
        code, _, raw = self.successResultOf(d)
        errors = orjson.loads(raw)["errors"]
        assert code == 504
        assert errors["first"]["elapsed_ms"] == 600.0
        assert errors["second"]["elapsed_ms"] == 400.0
        assert "deadline" in errors["second"]["message"]
        assert "slot" in errors["third"]["message"]
        assert self.upstream.requests == ["/hang", "/hang"]
        assert self.clock.getDelayedCalls() == []

    def test_cancelling_cancels_every_upstream_call(self) -> None:
        """When the aggregate is cancelled (client gone) every outstanding upstream call closes."""
        self.make({"a": "/hang", "b": "/stall", "c": "/json?ms=500", "d": "/json"}, concurrency=3)
        aggregator = Aggregator(self.settings, self.upstream_http, self.clock)
        calls = plan_calls(self.settings, {})
        run = ensureDeferred(aggregator.run(calls))
        self.upstream_http.flush()
        run.cancel()
        self.failureResultOf(run, CancelledError)
        self.upstream_http.flush()
        assert sorted(self.upstream.lost) == ["/hang", "/json", "/stall"]
        assert self.upstream.open == []
        assert aggregator.in_flight == 0
        assert self.clock.getDelayedCalls() == []


class RefusalTests(SynchronousTestCase):
    """Requests that could steer the service elsewhere, or are malformed: 400, no upstream call."""

    def setUp(self) -> None:
        """Two sources: an ``int`` placeholder in a path and a ``str`` one in a query value."""
        self.clock = Clock()
        self.upstream = FakeUpstream(self.clock)
        settings = AggregateSettings.from_options(
            [f"item={UP}/json/{{id:int}}", f"search={UP}/json?v={{term}}"]
        )
        routes = AggregateRoutes(settings, RequestTraversalAgent(self.upstream), self.clock)
        self.client = StubTreq(Root(routes).app.resource())

    def refused(self, query: str) -> dict[str, Any]:
        """The 400 body of ``GET /aggregate?query``, checking nothing was called."""

        async def go() -> Any:
            response = await self.client.get("http://svc.test/aggregate" + query)
            return response.code, await response.json()

        code, body = self.successResultOf(ensureDeferred(go()))
        assert code == 400, body
        assert self.upstream.requests == []
        return body  # type: ignore[no-any-return]

    def test_unknown_source(self) -> None:
        """A source that is not configured is refused, URLs included."""
        assert self.refused("?source=nope")["error"] == "unknown_source"
        body = self.refused("?source=http://169.254.169.254/latest/meta-data/")
        assert body["error"] == "unknown_source"

    def test_url_parameter(self) -> None:
        """Parameters that are no placeholder of the picked sources are refused."""
        assert self.refused("?id=1&term=x&url=http://evil.test/")["error"] == "unknown_parameter"
        assert self.refused("?source=item&id=1&term=x")["parameter"] == "term"

    def test_bad_placeholder_values(self) -> None:
        """Values failing their type, path tricks, URLs and repeats are refused by name."""
        for query, parameter in [
            ("?source=item&id=1/../../admin", "id"),
            ("?source=item&id=", "id"),
            ("?source=search&term=http://evil.test/", "term"),
            ("?source=search&term=%00", "term"),
            ("?source=search&term=a&term=b", "term"),
            ("?source=item", "id"),
        ]:
            body = self.refused(query)
            assert body["parameter"] == parameter, (query, body)

    def test_repeated_parameter(self) -> None:
        """A placeholder given twice is ambiguous and refused."""
        assert self.refused("?source=search&term=a&term=b")["error"] == "repeated_parameter"

    def test_values_are_not_utf8(self) -> None:
        """Query bytes that are not UTF-8 are refused."""
        assert self.refused("?source=search&term=%ff")["error"] == "invalid_encoding"

    def test_no_sources_configured(self) -> None:
        """Without sources (and no demo wired in) the endpoint says so with a 404."""
        routes = AggregateRoutes(
            AggregateSettings(), RequestTraversalAgent(self.upstream), self.clock
        )
        client = StubTreq(Root(routes).app.resource())
        response = self.successResultOf(client.get("http://svc.test/aggregate"))
        assert response.code == 404
        assert self.successResultOf(response.json())["error"] == "no_sources"

    def test_other_methods(self) -> None:
        """Only GET is served; the 405 is JSON."""
        routes = AggregateRoutes(
            AggregateSettings(), RequestTraversalAgent(self.upstream), self.clock
        )
        response = self.successResultOf(StubTreq(routes.resource()).post("http://svc.test/"))
        assert response.code == 405
        assert self.successResultOf(response.json()) == {"message": "Method not allowed"}
