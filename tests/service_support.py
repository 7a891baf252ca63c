"""Helpers for the service tests: a tiny Chinook database, threadless fakes, in-memory HTTP.

The fakes follow STYLE.md section 4: a thread pool that runs work inline and
a reactor (``Clock``) whose ``callFromThread`` calls at once, so that the
real ``ThreadPoolRunner`` path runs without threads or a running reactor.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from treq.testing import StubTreq
from twisted.internet.defer import ensureDeferred
from twisted.internet.testing import Clock
from twisted.python.failure import Failure
from twisted.web.resource import IResource

from chinook_svc.models import DEFAULT

#: How many albums (and artists) the tiny database has: more than a page of 10.
TINY_ALBUMS = 12


def make_tiny_chinook(path: Path) -> str:
    """Create a small sqlitetutorial-edition Chinook database at ``path``; return its URL."""
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    DEFAULT.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        for i in range(1, TINY_ALBUMS + 1):
            artist = DEFAULT.Artist(artist_id=i, name=f"Artist {i}")
            session.add(DEFAULT.Album(album_id=i, title=f"Album {i}", artist=artist))
    engine.dispose()
    return url


def assert_article_first_page(body: Any) -> None:
    """``body`` is the flask-restless article's ``/api/Albums`` on the reference database."""
    assert (body["num_results"], body["page"], body["total_pages"]) == (347, 1, 35)
    first = body["objects"][0]
    assert first["album_id"] == 1
    assert first["title"] == "For Those About To Rock We Salute You"
    assert first["artist"]["name"] == "AC/DC"


def copy_reference(reference_db: Path, directory: Path) -> Path:
    """A private copy of the reference database (never write into ../shared)."""
    target = directory / "chinook.db"
    shutil.copyfile(reference_db, target)
    return target


class FakeReactor(Clock):
    """A ``Clock`` that also takes thread results and lifecycle hooks, all synchronously."""

    def __init__(self) -> None:
        super().__init__()
        self.triggers: list[tuple[str, str, Callable[..., Any]]] = []
        self.when_running: list[Callable[..., Any]] = []

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call ``f`` now (there is only one thread)."""
        f(*args, **kwargs)

    def callWhenRunning(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Remember ``f``; :meth:`run` calls it."""
        self.when_running.append(lambda: f(*args, **kwargs))

    def addSystemEventTrigger(
        self, phase: str, event: str, f: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        """Remember a trigger; :meth:`shutdown` calls the shutdown ones."""
        self.triggers.append((phase, event, lambda: f(*args, **kwargs)))

    def run(self) -> None:
        """What the reactor does when it starts running."""
        for f in self.when_running:
            f()

    def shutdown(self) -> None:
        """Fire the shutdown triggers, ``before``, ``during``, then ``after``."""
        for phase in ("before", "during", "after"):
            for p, event, f in self.triggers:
                if p == phase and event == "shutdown":
                    f()


class InlineThreadPool:
    """A ``ThreadPool`` stand-in that runs each call at once, on the calling thread."""

    def __init__(self) -> None:
        self.started = False
        self.calls = 0
        self.max = 1  # one call at a time, as ThreadPool(maxthreads=1)

    def start(self) -> None:
        """Mark the pool started."""
        self.started = True

    def stop(self) -> None:
        """Mark the pool stopped."""
        self.started = False

    def callInThreadWithCallback(
        self, on_result: Callable[[bool, Any], None], f: Callable[..., Any], *a: Any, **kw: Any
    ) -> None:
        """Run ``f`` and report its result as ``ThreadPool`` does."""
        self.calls += 1
        try:
            result = f(*a, **kw)
        except BaseException:
            on_result(False, Failure())
        else:
            on_result(True, result)


def request(resource: IResource, url: str, method: str = "GET") -> tuple[int, Any, Any]:
    """Send one request to ``resource`` in memory: (status, headers, decoded JSON body or None)."""
    stub = StubTreq(resource)
    results: list[tuple[int, Any, Any]] = []

    async def go() -> None:
        response = await stub.request(method, url)
        body = await stub.content(response)
        results.append((response.code, response.headers, json.loads(body) if body else None))

    d = ensureDeferred(go())
    stub.flush()
    if not results:
        d.addErrback(lambda f: results.append((0, None, f)))
        raise AssertionError(f"no response for {method} {url}: {results}")
    return results[0]


@contextmanager
def http_server_in_thread(handler: type[BaseHTTPRequestHandler], path: str) -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 answering with ``handler``, in threads of this
    process (an upstream for a service started in a subprocess): the URL of ``path``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()
