"""The service's agent (``make_http_client``): its pool, its stop, and what a real ``Agent`` raises.

A ``MemoryReactorClock`` stands in for the reactor: its name resolver is
replaced by one that finds nothing, so the real ``Agent`` and
``HostnameEndpoint`` fail the way a failed DNS lookup does, without a network.
"""

from __future__ import annotations

from hyperlink import DecodedURL
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.interfaces import IHostResolution, IResolutionReceiver
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from chinook_svc.aggregate.client import (
    ConnectionPoolService,
    QuietClientFactory,
    UpstreamClient,
    make_http_client,
)
from chinook_svc.aggregate.settings import AggregateSettings


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        """Nothing to cancel."""


class NoSuchHost:
    """A name resolver that finds no address for any name."""

    def resolveHostName(
        self, receiver: IResolutionReceiver, hostName: str, *args: object, **kwargs: object
    ) -> IHostResolution:
        """Begin, and end with no address."""
        resolution = _Resolution(hostName)
        receiver.resolutionBegan(resolution)
        receiver.resolutionComplete()
        return resolution


class AgentTests(SynchronousTestCase):
    """The real agent over a memory reactor."""

    def test_failed_dns_lookup_is_a_connect_error(self) -> None:
        """A name that resolves to nothing is ``connect``, with nothing logged."""
        reactor = MemoryReactorClock()
        reactor.installNameResolver(NoSuchHost())
        agent, _ = make_http_client(reactor, AggregateSettings())
        client = UpstreamClient(agent, reactor, 1024)
        url = DecodedURL.from_text("http://nowhere.invalid/x")
        outcome = self.successResultOf(ensureDeferred(client.call("s", url, 2.0)))
        assert (outcome.error, outcome.message) == (
            "connect",
            "could not reach the source (DNSLookupError)",
        )
        assert self.flushLoggedErrors() == []


def test_make_http_client_pool() -> None:
    """One persistent pool, keeping up to ``per_host`` idle connections per host, quietly."""
    settings = AggregateSettings(per_host=7)
    agent, pool = make_http_client(MemoryReactorClock(), settings)
    assert pool.persistent is True
    assert pool.maxPersistentPerHost == 7
    assert pool._factory is QuietClientFactory  # the pool's factory (no public accessor)
    assert QuietClientFactory.noisy is False
    assert agent is not None


def test_pool_service_closes_cached_connections() -> None:
    """Stopping the pool service closes the pool's idle connections and waits for it."""
    closing: Deferred[None] = Deferred()

    class Pool:
        def closeCachedConnections(self) -> Deferred[None]:
            return closing

    service = ConnectionPoolService(Pool())  # type: ignore[arg-type]
    service.startService()
    stopped = service.stopService()
    assert not service.running
    assert stopped is closing
