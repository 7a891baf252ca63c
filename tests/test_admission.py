"""The admission gate: refusals before routing, and ``Retry-After`` enforced per connection.

In memory first (the gate in front of the real ``ChinookApp`` and runner:
what is refused, with what answer, and that the runner counts it); then over
a real loopback socket, because the pause is a property of the connection:
after a refusal the next request on the same connection waits, one on a new
connection does not, nor one relayed by a proxy.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import treq
from treq.testing import StubTreq
from twisted.internet import reactor
from twisted.web.client import HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import Site

from chinook_svc.database import open_engine
from chinook_svc.models import DEFAULT
from chinook_svc.restless import Cost, url_cost
from chinook_svc.web import admission
from chinook_svc.web.admission import AdmissionGate
from chinook_svc.web.app import ChinookApp
from chinook_svc.web.edge import EdgeLimits
from chinook_svc.web.site import InFlight, TrackingSite

from .service_support import make_tiny_chinook
from .test_overload import make_runner, send

HEAVY = '/api/tracks?q={"filters":[{"name":"name","op":"like","val":"%25a%25"}]}'


def test_url_cost() -> None:
    """From the URL alone: a row by key and a plain page are cheap; the rest heavy."""
    assert url_cost("albums", ["1"], None, None) is Cost.LIGHT
    assert url_cost("albums", [], None, None) is Cost.LIGHT
    assert url_cost("albums", [""], "{}", "10") is Cost.LIGHT
    assert url_cost("albums", ["1", "tracks", "3"], None, None) is Cost.LIGHT
    assert url_cost("albums", ["1", "tracks"], None, None) is Cost.HEAVY
    assert url_cost("albums", [], '{"filters": []}', None) is Cost.HEAVY
    assert url_cost("albums", [], None, "100") is Cost.HEAVY
    assert url_cost("eval", ["albums"], None, None) is Cost.HEAVY


def test_gate_refuses_heavy_reads_when_their_lane_is_full(tmp_path: Path) -> None:
    """Heavy lane full: a heavy GET is a 503 at the gate; a cheap GET still runs."""
    engine = open_engine(make_tiny_chinook(tmp_path / "tiny.db"))
    runner, pool, reactor_ = make_runner(2, heavy_limit=1, queue_limit=1)
    app = ChinookApp(engine, runner, reactor_, models=DEFAULT)
    stub = StubTreq(app.resource())
    running = send(stub, "http://x" + HEAVY)
    waiting = send(stub, "http://x" + HEAVY + "&page=2")
    assert len(pool.held) == 1 and running == waiting == []
    refused = send(stub, "http://x" + HEAVY + "&page=3")
    assert refused == [(503, {"message": "Server overloaded"})]
    assert runner.refused == 1 and len(pool.held) == 1  # nothing more reached the runner
    cheap = send(stub, "http://x/api/albums/1")
    assert len(pool.held) == 2  # the thread kept for cheap work
    pool.finish(1)
    stub.flush()
    assert cheap[0][0] == 200
    while pool.held:
        pool.finish()
        stub.flush()
    assert running[0][0] == waiting[0][0] == 200
    engine.dispose()


def test_cheap_reads_are_refused_when_their_own_lane_is_full(tmp_path: Path) -> None:
    """The one thread busy and one cheap read waiting: the next cheap read is refused."""
    engine = open_engine(make_tiny_chinook(tmp_path / "tiny.db"))
    runner, pool, reactor_ = make_runner(1, queue_limit=1)
    app = ChinookApp(engine, runner, reactor_, models=DEFAULT)
    stub = StubTreq(app.resource())
    send(stub, "http://x/api/albums/1")
    send(stub, "http://x/api/albums/2")
    assert send(stub, "http://x/api/albums/3") == [(503, {"message": "Server overloaded"})]
    assert runner.refused == 1
    while pool.held:
        pool.finish()
    engine.dispose()


def test_a_read_without_the_token_is_401_not_503(tmp_path: Path) -> None:
    """With --auth-reads the token is checked first: no token, 401, never counted as refused."""
    engine = open_engine(make_tiny_chinook(tmp_path / "tiny.db"))
    runner, pool, reactor_ = make_runner(1, queue_limit=1)
    token = "t" * 32
    app = ChinookApp(
        engine, runner, reactor_, models=DEFAULT, token=token.encode(), auth_reads=True
    )
    stub = StubTreq(app.resource())
    auth = {"Authorization": f"Bearer {token}"}
    send(stub, "http://x/api/albums/1", auth)
    send(stub, "http://x/api/albums/2", auth)  # the one thread busy, the lane full
    anonymous = send(stub, "http://x/api/albums/3")
    assert anonymous[0][0] == 401 and runner.refused == 0
    assert send(stub, "http://x/api/albums/3", auth) == [(503, {"message": "Server overloaded"})]
    assert runner.refused == 1
    while pool.held:
        pool.finish()
    engine.dispose()


def test_the_shipped_nginx_config_marks_api_requests_as_relayed() -> None:
    """deploy/nginx-chinook.conf sets a header the gate knows, so nginx's connections never pause.

    nginx keeps upstream connections alive and sends many clients' requests
    on each; pausing one after a refusal would delay them all.
    """
    config = (Path(__file__).resolve().parent.parent / "deploy" / "nginx-chinook.conf").read_text()
    location = config[config.index("location / {") :]
    location = location[: location.index("}")]
    relayed = [
        line.split()[1].lower().encode()
        for line in location.splitlines()
        if line.strip().startswith("proxy_set_header")
    ]
    assert set(relayed) & set(admission._PROXY_HEADERS)


class Refuser:
    """A runner that has no room for anything."""

    def __init__(self) -> None:
        self.asked = 0

    def refuse_now(self, cost: Cost) -> bool:
        """Always."""
        self.asked += 1
        return True


@pytest.fixture(params=["twisted", "service"])
def refusing_site(request: pytest.FixtureRequest) -> Any:
    """A gate (pause 0.5 s) in front of a resource it never reaches, on 127.0.0.1.

    Served by Twisted's own ``Site``, and by the service's (``TrackingSite``,
    whose HTTP edge has its own channel, deadlines and body policy).
    """
    root = Resource()
    root.putChild(b"api", AdmissionGate(Resource(), Refuser(), reactor, pause=0.5))
    site = (
        Site(root)
        if request.param == "twisted"
        else TrackingSite(root, InFlight(), reactor=reactor, limits=EdgeLimits())
    )
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield f"http://127.0.0.1:{port.getHost().port}/api/albums"
    port.stopListening()


async def timed_get(url: str, pool: HTTPConnectionPool, **headers: str) -> tuple[int, float]:
    """GET: (status, seconds)."""
    started = time.monotonic()
    response = await treq.get(
        url, pool=pool, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )
    await response.content()
    return response.code, time.monotonic() - started


@pytest_twisted.ensureDeferred
async def test_a_refused_connection_is_not_read_for_a_while(refusing_site: str) -> None:
    """503 at once; the next request on that connection waits the pause; a new one does not."""
    keep = HTTPConnectionPool(reactor, persistent=True)
    keep.maxPersistentPerHost = 1
    fresh = HTTPConnectionPool(reactor, persistent=False)
    try:
        status, first = await timed_get(refusing_site, keep)
        assert status == 503 and first < 0.4
        status, again = await timed_get(refusing_site, keep)  # the same connection
        assert status == 503 and again >= 0.4
        status, other = await timed_get(refusing_site, fresh)
        assert status == 503 and other < 0.4
    finally:
        await keep.closeCachedConnections()


@pytest_twisted.ensureDeferred
async def test_a_proxys_connection_is_never_paused(refusing_site: str) -> None:
    """Relayed by a proxy (X-Forwarded-For): the connection carries others' requests too."""
    keep = HTTPConnectionPool(reactor, persistent=True)
    keep.maxPersistentPerHost = 1
    try:
        for _ in range(3):
            status, seconds = await timed_get(refusing_site, keep, X_Forwarded_For="192.0.2.7")
            assert status == 503 and seconds < 0.4
    finally:
        await keep.closeCachedConnections()
