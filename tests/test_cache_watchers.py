"""Each watcher against its real server, through a proxy the test can cut.

A :class:`WatchService` on the real reactor tells a real cache: news of a
write empties it; from the start until the watcher is connected, and while
its connection is cut, the cache is bypassed (nothing served, nothing
kept); when the server is back the watcher reconnects by itself.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest_twisted
from sqlalchemy.engine import make_url
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.logger import capturedLogs

from chinook_svc.restless import Announcer, Reply, ResponseCache, WatchService
from chinook_svc.restless import _watchers as w
from chinook_svc.restless._representation import Representation

from .tcp_proxy import TcpProxy
from .test_twistd import free_port

WAIT = 10.0  # seconds any single step may take before the test fails


async def eventually(check: Callable[[], bool], seconds: float = WAIT) -> None:
    """Wait, polling every 10 ms, until ``check()`` holds; fail after ``seconds``."""
    give_up = reactor.seconds() + seconds
    while not check():
        assert reactor.seconds() < give_up, "condition not met in time"
        await deferLater(reactor, 0.01)


def cached(cache: ResponseCache) -> bool:
    """Store one entry with a fresh token: whether the cache kept it."""
    reply = Reply(200, b"{}", (), None)
    cache.put("k", Representation.of(reply), cache.token())
    return cache.get("k") is not None


async def cut_and_restore(
    proxy: TcpProxy, cache: ResponseCache, service: WatchService, announce: Callable[[], None]
) -> None:
    """Connected: news empties the cache; cut: bypassed; restored: connected again."""
    await eventually(lambda: cache.available)
    assert cached(cache)
    announce()
    await eventually(lambda: len(cache) == 0)
    assert cached(cache)
    proxy.cut()
    await eventually(lambda: not cache.available)
    assert len(cache) == 0 and not cached(cache) and cache.bypassed >= 1
    proxy.restore()
    await eventually(lambda: cache.available and service.connections == 2, seconds=15)
    assert cached(cache)


def watch(
    make: Callable[[Callable[[float], bool]], w.Watcher],
) -> tuple[ResponseCache, WatchService]:
    """A cache and a started watch service; the cache is bypassed until it connects."""
    cache = ResponseCache(reactor, 30)
    service = WatchService(reactor, cache, make, "test")
    assert not cache.available and not cached(cache)
    service.startService()
    return cache, service


@pytest_twisted.ensureDeferred
async def test_postgres_listen_notify(postgres_url: str) -> None:
    """A NOTIFY on the channel empties the cache; a lost connection bypasses it until back."""
    url = make_url(postgres_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        via = url.set(drivername="postgresql", host="127.0.0.1", port=proxy.port)
        conninfo = via.render_as_string(hide_password=False)
        cache, service = watch(lambda sleep: w.PostgresListener(conninfo))
        direct = url.set(drivername="postgresql").render_as_string(hide_password=False)

        def notify() -> None:
            with psycopg.connect(direct, autocommit=True) as conn:
                conn.execute(f"NOTIFY {w.CHANNEL}")

        try:
            await cut_and_restore(proxy, cache, service, notify)
        finally:
            service.stopService()


@pytest_twisted.ensureDeferred
async def test_redis_pub_sub(redis_url: str) -> None:
    """A PUBLISH on the channel empties the cache; a lost connection bypasses it until back."""
    with TcpProxy("127.0.0.1", 6379) as proxy:
        cache, service = watch(lambda sleep: w.RedisSubscriber(f"redis://127.0.0.1:{proxy.port}"))
        try:
            await cut_and_restore(proxy, cache, service, w.RedisPublisher(redis_url).publish)
        finally:
            service.stopService()


@pytest_twisted.ensureDeferred
async def test_sqlite_data_version(chinook_file: Path, tmp_path: Path) -> None:
    """A commit by another connection (another process alike) empties the cache."""
    db = tmp_path / "chinook.db"
    shutil.copyfile(chinook_file, db)
    cache, service = watch(lambda sleep: w.SqliteDataVersion(str(db), 0.05, sleep))
    try:
        await eventually(lambda: cache.available)
        assert cached(cache)
        with sqlite3.connect(db) as other:
            other.execute("UPDATE albums SET Title = 'Changed' WHERE AlbumId = 1")
        await eventually(lambda: len(cache) == 0)
    finally:
        service.stopService()


@pytest_twisted.ensureDeferred
async def test_an_unreachable_server_keeps_the_cache_bypassed() -> None:
    """With nothing to connect to, the cache never serves (and the failure is logged)."""
    port = free_port()
    with capturedLogs() as events:
        cache, service = watch(lambda sleep: w.RedisSubscriber(f"redis://127.0.0.1:{port}"))
        try:
            await deferLater(reactor, 0.5)
            assert not cache.available and not cached(cache)
        finally:
            service.stopService()
    assert any("is off" in str(e.get("log_format")) for e in events)


def test_a_failed_publish_is_logged_not_raised() -> None:
    """A write already committed is answered even when Redis cannot be told (a warning)."""
    announcer = Announcer(publisher=w.RedisPublisher(f"redis://127.0.0.1:{free_port()}"))
    with capturedLogs() as events:
        announcer.committed()
    assert any("Could not publish" in str(e.get("log_format")) for e in events)
