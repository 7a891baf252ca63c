"""``make_resource``: the service mounted under ``/music/`` in someone else's web app.

Two ways to mount, one API: a plain ``twisted.web`` resource tree
(``root.putChild(b"music", resource)``) and a branch route of another Klein
app. Database calls go through the real ``ThreadPoolRunner``, with a thread
pool that runs them inline and a reactor fake that delivers results at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from klein import Klein
from treq.testing import StubTreq
from twisted.internet.defer import ensureDeferred
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

import chinook_svc

from .service_support import (
    TINY_ALBUMS,
    FakeReactor,
    InlineThreadPool,
    copy_reference,
    make_tiny_chinook,
    request,
)


def plain_tree(music: IResource) -> IResource:
    """A twisted.web resource tree with the service at /music."""
    root = Resource()
    root.putChild(b"music", music)
    return root


def klein_host(music: IResource) -> IResource:
    """Another Klein app with the service on the branch route /music/."""

    class Host:
        app = Klein()

        @app.route("/")
        def home(self, request: IRequest) -> bytes:
            return b"host home"

        @app.route("/music/", branch=True)
        def music_api(self, request: IRequest) -> IResource:
            return music

    return Host().app.resource()  # type: ignore[no-any-return]


MOUNTS = pytest.mark.parametrize("mount", [plain_tree, klein_host], ids=["putChild", "klein"])


@MOUNTS
def test_mounted_api_serves_albums_with_prefixed_links(mount: object, tmp_path: Path) -> None:
    """/music/api/albums serves the albums; Link headers carry the /music prefix."""
    pool = InlineThreadPool()
    resource = chinook_svc.make_resource(
        make_tiny_chinook(tmp_path / "tiny.db"), reactor=FakeReactor(), threadpool=pool
    )
    status, headers, body = request(mount(resource), "http://host/music/api/albums")  # type: ignore[operator]
    assert status == 200
    assert body["num_results"] == TINY_ALBUMS
    (link,) = headers.getRawHeaders("link")
    assert link.startswith("<http://host/music/api/albums?page=2&results_per_page=10>")
    assert pool.calls == 1  # the query ran in the (given) thread pool


@MOUNTS
def test_mounted_index_and_health(mount: object, tmp_path: Path) -> None:
    """/music/ links to /music/api/...; /music/healthz is 200; unknown URLs are JSON 404s."""
    resource = chinook_svc.make_resource(
        make_tiny_chinook(tmp_path / "tiny.db"),
        reactor=FakeReactor(),
        threadpool=InlineThreadPool(),
    )
    root = mount(resource)  # type: ignore[operator]
    status, _, body = request(root, "http://host/music/")
    assert status == 200
    assert body["collections"]["tracks"] == "/music/api/tracks"
    assert body["health"] == "/music/healthz"
    assert request(root, "http://host/music/healthz")[2]["status"] == "ok"
    status, _, body = request(root, "http://host/music/nope")
    assert (status, body) == (404, {"message": "Not found"})


@MOUNTS
def test_mounted_reference_albums(mount: object, chinook_file: Path, tmp_path: Path) -> None:
    """On the reference database, /music/api/albums has 347 albums, 35 pages."""
    url = f"sqlite:///{copy_reference(chinook_file, tmp_path)}"
    resource = chinook_svc.make_resource(url, reactor=FakeReactor(), threadpool=InlineThreadPool())
    status, headers, body = request(mount(resource), "http://host/music/api/albums")  # type: ignore[operator]
    assert (status, body["num_results"], body["total_pages"]) == (200, 347, 35)
    assert "http://host/music/api/albums?page=35" in headers.getRawHeaders("link")[0]


def test_own_thread_pool_follows_the_reactor(tmp_path: Path) -> None:
    """Without a thread pool, make_resource runs its own from reactor start to shutdown."""
    reactor = FakeReactor()
    url = make_tiny_chinook(tmp_path / "tiny.db")
    chinook_svc.make_resource(url, reactor=reactor)
    assert len(reactor.when_running) == 1
    phases = [(phase, event) for phase, event, _ in reactor.triggers]
    assert phases == [("during", "shutdown"), ("after", "shutdown")]
    reactor.run()
    reactor.shutdown()
    assert not (tmp_path / "tiny.db-wal").exists()


def test_public_names() -> None:
    """chinook_svc exports make_resource and ChinookApp, loaded on first use."""
    from chinook_svc.web import ChinookApp, make_resource

    assert chinook_svc.make_resource is make_resource
    assert chinook_svc.ChinookApp is ChinookApp
    assert set(chinook_svc.__all__) == {"ChinookApp", "__version__", "make_resource"}
    with pytest.raises(AttributeError):
        chinook_svc.no_such_name  # noqa: B018


class HeldThreadPool(InlineThreadPool):
    """A one-thread pool whose thread is stuck: calls are taken and never finish."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[Any] = []

    def callInThreadWithCallback(self, on_result: Any, f: Any, *a: Any, **kw: Any) -> None:
        """Keep the call; it never runs."""
        self.calls += 1
        self.held.append(on_result)


def test_mounted_service_sheds_and_bounds_waits_like_the_service(tmp_path: Path) -> None:
    """A stuck database: the mounted resource refuses at once past its queue, and a
    call past its deadline is a 503 (it used to queue without bound and wait forever)."""
    reactor = FakeReactor()
    resource = chinook_svc.make_resource(
        make_tiny_chinook(tmp_path / "tiny.db"),
        reactor=reactor,
        threadpool=HeldThreadPool(),
        statement_timeout=2.0,
    )
    stub = StubTreq(plain_tree(resource))
    answers: list[int] = []

    async def get(n: int) -> None:
        response = await stub.get(f"http://host/music/api/albums/{n}")
        body = json.loads(await stub.content(response))
        answers.append(response.code)
        assert response.code == 200 or "message" in body
        if response.code == 503 and len(answers) <= 15:
            assert response.headers.getRawHeaders("retry-after")

    # The default queue of a one-thread pool holds 64 calls; one more runs.
    for n in range(1, 81):
        ensureDeferred(get(n))
    stub.flush()
    assert answers.count(503) == 80 - 65  # refused at once, with nothing waited
    reactor.advance(2.0 + 1.0 + 0.1)  # the statement timeout plus the deadline's margin
    stub.flush()
    assert answers.count(503) == 80 and len(answers) == 80
