"""The fan-out: all upstream calls of a request at once, under one deadline and fair bounds.

:meth:`Aggregator.run` first reserves the request's upstream slots
(:class:`~chinook_svc.aggregate.admission.CallBudget`: as many as its calls, at
most the per-request bound), or refuses the request at once; then it starts
every call together.  A request never waits for another request's calls.
With more calls than slots, its own calls take turns on a ``DeferredSemaphore``
of its own; with more calls to one host than that host's connection bound
(:class:`~chinook_svc.aggregate.admission.HostConnections`), they wait for a
connection.  Each call gets its own timeout, cut short when the request's
overall deadline comes first; a call still waiting for a slot or a connection
at the deadline ends as a ``timeout`` too.  Cancelling :meth:`Aggregator.run`
(Klein does when the client disconnects) cancels every outstanding call and
closes its connection.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define, evolve, field, frozen
from hyperlink import DecodedURL
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredSemaphore,
    FirstError,
    ensureDeferred,
    gatherResults,
)
from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IAgent

from .admission import CallBudget, HostConnections, Reservation, host_of
from .client import Expired, UpstreamClient, within
from .observe import OK, UNWATCHED, AggregateObserver
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
        settings: timeouts, deadline, bounds and body cap.
        agent: the shared HTTP agent.
        clock: the clock every deadline and elapsed time is measured on.
        observer: told how every call ended.
    """

    _settings: AggregateSettings
    _agent: IAgent
    _clock: IReactorTime
    _observer: AggregateObserver = UNWATCHED
    _upstream: UpstreamClient = field(init=False)
    budget: CallBudget = field(init=False)
    _hosts: HostConnections = field(init=False)
    #: Upstream calls running now (holding a connection slot).
    in_flight: int = field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        settings = self._settings
        self._upstream = UpstreamClient(self._agent, self._clock, settings.max_bytes)
        self.budget = CallBudget(settings.max_in_flight, settings.per_client)
        self._hosts = HostConnections(settings.per_host)

    async def run(self, calls: Sequence[Call], client: str = "") -> Report:
        """Make every call concurrently and merge their outcomes, in the order of ``calls``.

        Args:
            calls: the calls.
            client: who asks (an address), for the per-client share.

        Raises:
            Refused: the request cannot have its slots now (nothing was called).
        """
        reservation = self.budget.reserve(client, min(len(calls), self._settings.per_request))
        try:
            return await self._run(calls, reservation)
        finally:
            reservation.close()

    async def _run(self, calls: Sequence[Call], reservation: Reservation) -> Report:
        started = self._clock.seconds()
        request = _Request(
            deadline_at=started + self._settings.deadline,
            turns=DeferredSemaphore(reservation.size) if reservation.size < len(calls) else None,
        )
        pending = len(calls)

        async def one(call: Call) -> Outcome:
            nonlocal pending
            try:
                outcome = await self._one(call, request)
                self._observer.upstream_call(
                    outcome.source, outcome.error or OK, outcome.elapsed_ms / 1000.0
                )
                return outcome
            finally:
                pending -= 1
                reservation.shrink_to(pending)  # slots this request can no longer use

        tasks = [ensureDeferred(one(call)) for call in calls]

        def cancel(_: Deferred[list[Outcome]]) -> None:
            # Stop first, so that a call freed of its wait while the others are
            # being cancelled does not start.
            request.stopping = True
            for task in tasks:
                task.cancel()

        waiter: Deferred[list[Outcome]] = Deferred(cancel)
        gatherResults(tasks, consumeErrors=True).chainDeferred(waiter)
        try:
            outcomes = await waiter
        except FirstError as e:
            # Only cancellation gets here: each task turns every other error into an Outcome.
            e.subFailure.raiseException()
        return Report.of(milliseconds(self._clock.seconds() - started), outcomes)

    async def _one(self, call: Call, request: _Request) -> Outcome:
        deadline = self._settings.deadline
        turns = request.turns
        if turns is not None and not await self._take(turns, request):
            message = f"no free upstream slot before the {deadline:g} s deadline"
            return Outcome(call.source, 0.0, error=TIMEOUT, message=message)
        try:
            host = host_of(call.url)
            connections = self._hosts.of(host)
            if not await self._take(connections, request):
                message = f"no free connection to {host} before the {deadline:g} s deadline"
                return Outcome(call.source, 0.0, error=TIMEOUT, message=message)
            self.in_flight += 1
            try:
                remaining = request.deadline_at - self._clock.seconds()
                seconds = min(self._settings.timeout, remaining)
                outcome = await self._upstream.call(call.source, call.url, seconds)
            finally:
                self.in_flight -= 1
                connections.release()
        finally:
            if turns is not None:
                turns.release()
        if outcome.error == TIMEOUT and remaining < self._settings.timeout:
            message = f"the request's {deadline:g} s deadline passed first"
            outcome = evolve(outcome, message=message)
        return outcome

    async def _take(self, slots: DeferredSemaphore, request: _Request) -> bool:
        """Acquire ``slots`` before the request's deadline (``False``: time ran out first).

        Raises:
            CancelledError: the request is being cancelled.
        """
        acquired: Deferred[DeferredSemaphore] = slots.acquire()
        if not acquired.called:
            try:
                await within(self._clock, request.deadline_at - self._clock.seconds(), acquired)
            except Expired:
                return False
        else:
            await acquired  # a free slot at once: no timer needed
        if request.stopping or self._clock.seconds() >= request.deadline_at:
            slots.release()
            if request.stopping:
                raise CancelledError()
            return False
        return True


@define
class _Request:
    """What the calls of one aggregate request share."""

    deadline_at: float
    turns: DeferredSemaphore | None
    stopping: bool = False
