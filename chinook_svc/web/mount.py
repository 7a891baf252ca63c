"""Mounting the Chinook API in another Twisted web application.

::

    from chinook_svc import make_resource

    root = Resource()
    root.putChild(b"music", make_resource("sqlite:///chinook.db", reactor=reactor))

or, in a Klein app::

    music = make_resource(reactor=reactor)

    @app.route("/music/", branch=True)
    def music_api(request):
        return music

Both serve ``/music/api/albums``, ``/music/healthz`` and ``/music/``.  Any
other database, by reflection (``docs/reflection.md``)::

    from chinook_svc.reflection import Choice

    shop = make_resource("postgresql://db/shop", reactor=reactor, reflect=Choice(naming="snake"))
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from twisted.python.threadpool import ThreadPool
from twisted.web.resource import IResource

from chinook_svc.database import open_engine, sample_database_url
from chinook_svc.reflection import Choice, reflect_models
from chinook_svc.restless import (
    call_deadline,
    database_threads,
    default_queue_limit,
    pool_size_for,
)

from .app import ChinookApp


def make_resource(
    db_url: str | None = None,
    *,
    reactor: Any = None,
    threadpool: ThreadPool | None = None,
    statement_timeout: float = 5.0,
    reflect: Choice | None = None,
) -> IResource:
    """The Chinook service as a ``twisted.web`` resource, to put anywhere in a resource tree.

    Blocks while it opens the database and detects its Chinook edition: call
    it while setting up, before the reactor runs.

    Args:
        db_url: SQLAlchemy URL of a Chinook database (``None``: the embedded
            sample, materialised in the user data directory on first use).
        reactor: the reactor the application runs on (``None``: the global
            one). Database results are delivered to it and it times the
            health check.
        threadpool: the pool database calls run in, which the caller starts
            and stops. ``None``: a new pool sized like the database's
            connection pool, started when ``reactor`` runs and stopped at
            its shutdown.
        statement_timeout: seconds one SQL statement may run (0: no limit),
            as the service's ``--statement-timeout``.  As in the service, a
            call that has not answered a second after it is a 503 with its
            connection broken, and at most 16 calls per database thread
            (at least 64) wait for a thread: more are a 503 at once.
        reflect: serve ``db_url``'s own tables by reflection, with these
            options (``None``: a Chinook database, its edition detected).

    Returns:
        A resource serving ``/``, ``/healthz`` and ``/api/<collection>``
        relative to wherever it is mounted.
    """
    if reactor is None:
        # Only a convenience default for scripts; the service itself (chinook_svc.tap)
        # passes its reactor explicitly.
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    if reflect is not None and db_url is None:
        raise ValueError("a reflected schema needs db_url")
    engine = open_engine(
        db_url if db_url is not None else sample_database_url(),
        statement_timeout=statement_timeout,
    )
    with ExitStack() as on_failure:
        on_failure.callback(engine.dispose)
        models = None if reflect is None else reflect_models(engine, reflect)
        threads = database_threads(
            reactor,
            engine,
            pool=threadpool,
            writes=False,
            queue_limit=default_queue_limit(
                threadpool.max if threadpool is not None else pool_size_for(engine)
            ),
            deadline=call_deadline(statement_timeout),
        )
        app = ChinookApp(engine, threads.runner, reactor, models=models)
        on_failure.pop_all()
    threads.start_with(reactor)
    reactor.addSystemEventTrigger("after", "shutdown", engine.dispose)
    return app.resource()


__all__ = ["make_resource"]
