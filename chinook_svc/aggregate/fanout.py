"""The fan-out: all upstream calls of a request at once, under one deadline and a concurrency cap.

:class:`Aggregator` starts all calls together.  A ``DeferredSemaphore`` shared
by every request caps how many are in flight (treq's connection pool caches
connections but does not limit them).  Each call gets its own timeout, cut
short when the request's overall deadline comes first; a call still waiting
for a slot at the deadline ends as a ``timeout`` too.  Cancelling
:meth:`Aggregator.run` (Klein does when the client disconnects) cancels every
outstanding call and closes its connection.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define, evolve, field, frozen
from hyperlink import DecodedURL
from treq.client import HTTPClient
from twisted.internet.defer import DeferredSemaphore, FirstError, ensureDeferred, gatherResults
from twisted.internet.interfaces import IReactorTime

from .client import Expired, UpstreamClient, within
from .report import TIMEOUT, Outcome, Report, milliseconds
from .settings import AggregateSettings


@frozen
class Call:
    """One upstream call of an aggregate request: which source, which URL."""

    source: str
    url: DecodedURL


@define
class Aggregator:
    """Runs the calls of aggregate requests.

    Args:
        settings: timeouts, deadline, concurrency and body cap.
        http: the shared HTTP client.
        clock: the clock every deadline and elapsed time is measured on.
    """

    _settings: AggregateSettings
    _http: HTTPClient
    _clock: IReactorTime
    _upstream: UpstreamClient = field(init=False)
    _slots: DeferredSemaphore = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._upstream = UpstreamClient(self._http, self._clock, self._settings.max_bytes)
        self._slots = DeferredSemaphore(self._settings.concurrency)

    @property
    def in_flight(self) -> int:
        """How many upstream calls hold a slot now."""
        return self._settings.concurrency - self._slots.tokens

    async def run(self, calls: Sequence[Call]) -> Report:
        """Make every call concurrently and merge their outcomes, in the order of ``calls``."""
        started = self._clock.seconds()
        deadline_at = started + self._settings.deadline
        tasks = [ensureDeferred(self._one(call, deadline_at)) for call in calls]
        try:
            outcomes = await gatherResults(tasks, consumeErrors=True)
        except FirstError as e:
            # Only cancellation gets here: each task turns every other error into an Outcome.
            e.subFailure.raiseException()
        return Report.of(milliseconds(self._clock.seconds() - started), outcomes)

    async def _one(self, call: Call, deadline_at: float) -> Outcome:
        deadline = self._settings.deadline
        try:
            await within(self._clock, deadline_at - self._clock.seconds(), self._slots.acquire())
        except Expired:
            message = f"no free upstream slot before the {deadline:g} s deadline"
            return Outcome(call.source, 0.0, error=TIMEOUT, message=message)
        try:
            remaining = deadline_at - self._clock.seconds()
            seconds = min(self._settings.timeout, remaining)
            outcome = await self._upstream.call(call.source, call.url, seconds)
        finally:
            self._slots.release()
        if outcome.error == TIMEOUT and remaining < self._settings.timeout:
            message = f"the request's {deadline:g} s deadline passed first"
            outcome = evolve(outcome, message=message)
        return outcome
