"""Orderly stop: in-flight requests finish before the thread pool and the engine go.

Requests are fed to a ``TrackingSite`` over in-memory transports
(``StringTransport``), and time is a ``Clock``: nothing here sleeps, and
nothing listens on a socket.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from twisted.application.service import Service
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import Clock, StringTransport
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from chinook_svc.database import open_engine
from chinook_svc.services import DatabaseService, DrainService, SequentialService
from chinook_svc.web.site import InFlight, TrackingSite

from .service_support import make_tiny_chinook


class Slow(Resource):
    """Holds every request open until the test finishes it."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[Request] = []

    def render_GET(self, request: Request) -> object:
        """Keep the request for later."""
        self.pending.append(request)
        return NOT_DONE_YET


class Boom(Resource):
    """Fails while rendering."""

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        """Raise an unexpected error."""
        raise RuntimeError("secret detail")


def connect(site: TrackingSite) -> StringTransport:
    """Open an in-memory HTTP connection to ``site`` and send one GET."""
    protocol = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(b"GET /x HTTP/1.1\r\nHost: test\r\n\r\n")
    return transport


def test_drain_waits_for_in_flight_requests() -> None:
    """Stopping the drain service waits until the request being served has finished
    and its answer has left: the connection is closed once written, and waited for."""
    clock, slow, in_flight = Clock(), Slow(), InFlight()
    site = TrackingSite(slow, in_flight, reactor=clock)
    transport = connect(site)
    assert in_flight.count == 1
    drain = DrainService(in_flight, clock, timeout=10)
    drain.startService()
    stopped = drain.stopService()
    assert not stopped.called
    slow.pending[0].write(b"done")
    slow.pending[0].finish()
    assert in_flight.count == 0
    assert transport.value().endswith(b"done\r\n0\r\n\r\n")
    assert transport.disconnecting  # close once the buffer is written
    clock.advance(0.5)
    assert not stopped.called  # the answer is still on its way
    transport.connected = False  # written out, and the connection closed
    clock.advance(InFlight.POLL_SECONDS)
    assert stopped.called and stopped.result is True
    assert not stopped_timer_left(clock)
    assert not polls_left(clock)


def test_drain_is_bounded_while_an_answer_is_written() -> None:
    """An answer that never gets written out holds the stop for at most the timeout."""
    clock, slow, in_flight = Clock(), Slow(), InFlight()
    connect(TrackingSite(slow, in_flight, reactor=clock))
    stopped = DrainService(in_flight, clock, timeout=3).stopService()
    slow.pending[0].finish()
    clock.advance(2.99)
    assert not stopped.called
    clock.advance(0.01)
    assert stopped.called and stopped.result is False
    assert not polls_left(clock)


def test_requests_finished_before_the_drain_keep_their_connection() -> None:
    """Outside a drain, a finished request's keep-alive connection stays open."""
    clock, slow, in_flight = Clock(), Slow(), InFlight()
    transport = connect(TrackingSite(slow, in_flight, reactor=clock))
    slow.pending[0].finish()
    assert in_flight.count == 0
    assert not transport.disconnecting


def stopped_timer_left(clock: Clock) -> bool:
    """Whether the drain's upper-bound timer is still pending."""
    return any("give_up" in repr(call.func) for call in clock.getDelayedCalls())


def polls_left(clock: Clock) -> bool:
    """Whether the drain still looks at closing connections."""
    return any("_polled" in repr(call.func) for call in clock.getDelayedCalls())


def test_drain_is_bounded() -> None:
    """A request that never finishes holds the stop for at most the timeout."""
    clock, in_flight = Clock(), InFlight()
    site = TrackingSite(Slow(), in_flight, reactor=clock)
    connect(site)
    stopped = DrainService(in_flight, clock, timeout=3).stopService()
    clock.advance(2.9)
    assert not stopped.called
    assert stopped_timer_left(clock)
    clock.advance(0.1)
    assert stopped.called and stopped.result is False


def test_drain_with_nothing_in_flight_is_immediate() -> None:
    """With no request in flight the drain service stops at once."""
    stopped = DrainService(InFlight(), Clock(), timeout=3).stopService()
    assert stopped.called and stopped.result is True


def test_lost_connection_counts_as_finished() -> None:
    """A client that hangs up no longer holds the stop."""
    clock, in_flight = Clock(), InFlight()
    site = TrackingSite(Slow(), in_flight, reactor=clock)
    protocol = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    protocol.makeConnection(StringTransport())
    protocol.dataReceived(b"GET /x HTTP/1.1\r\nHost: test\r\n\r\n")
    assert in_flight.count == 1
    protocol.connectionLost(Failure(ConnectionDone()))
    assert in_flight.count == 0


def test_site_never_shows_tracebacks() -> None:
    """An unexpected error is a bare 500, without the traceback, also in verbose mode."""
    site = TrackingSite(Boom(), InFlight(), reactor=Clock(), verbose=True)
    assert site.displayTracebacks is False
    response = connect(site).value()
    assert response.startswith(b"HTTP/1.1 500 ")
    assert b"secret detail" not in response
    assert b"Traceback" not in response


class Recorder(Service):
    """Records when it stops; its stop finishes when the test says so."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.setName(name)
        self.log = log
        self.done: Deferred[None] = Deferred()

    def stopService(self) -> Deferred[None]:
        """Note the stop and return a Deferred the test fires."""
        super().stopService()
        self.log.append(f"stop {self.name}")
        return self.done


def test_sequential_service_stops_one_at_a_time_last_first() -> None:
    """Children stop in reverse order, each only after the previous one has finished stopping."""
    log: list[str] = []
    top = SequentialService()
    first, second = Recorder("database", log), Recorder("listening", log)
    first.setServiceParent(top)
    second.setServiceParent(top)
    top.startService()
    stopped = top.stopService()
    assert log == ["stop listening"]
    second.done.callback(None)
    assert log == ["stop listening", "stop database"]
    assert not stopped.called
    first.done.callback(None)
    assert stopped.called


def test_database_service_closes_everything(tmp_path: Path) -> None:
    """The database service starts its pool, and on stop stops it and closes SQLite cleanly."""
    path = tmp_path / "tiny.db"
    engine = open_engine(make_tiny_chinook(path))
    pool = ThreadPool(minthreads=0, maxthreads=2)
    service = DatabaseService(engine, pool)
    service.startService()
    assert pool.started
    with engine.connect() as connection:  # a read opens the -wal and -shm files
        assert connection.execute(text("SELECT count(*) FROM albums")).scalar_one() == 12
    assert (tmp_path / "tiny.db-wal").exists()
    service.stopService()
    assert not pool.started
    assert engine.pool.checkedin() == 0
    assert not (tmp_path / "tiny.db-wal").exists()
    assert not (tmp_path / "tiny.db-shm").exists()


def test_with_backlog() -> None:
    """Endpoints that take a backlog get one (the default or the given); others are left alone."""
    from chinook_svc.services import DEFAULT_BACKLOG, with_backlog

    assert with_backlog("tcp:8080:interface=127.0.0.1") == (
        f"tcp:8080:interface=127.0.0.1:backlog={DEFAULT_BACKLOG}"
    )
    assert with_backlog("tcp6:8080", 300) == "tcp6:8080:backlog=300"
    assert with_backlog("unix:/run/chinook.sock", 300) == "unix:/run/chinook.sock:backlog=300"
    assert with_backlog("ssl:443:privateKey=k.pem", 9) == "ssl:443:privateKey=k.pem:backlog=9"
    assert with_backlog("tcp:8080:backlog=5", 300) == "tcp:8080:backlog=5"
    assert with_backlog("systemd:domain=INET:index=0", 300) == "systemd:domain=INET:index=0"
