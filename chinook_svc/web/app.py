"""``ChinookApp``: the service's root Klein app.

::

    /          a JSON index of the collections
    /healthz   200 when the database answers ``SELECT 1``, else 503
    /api/...   the flask-restless API of the Chinook tables (the engine)

The engine's routes are registered without a prefix (``APIManager(url_prefix="")``)
and mounted on the branch route ``/api/``: Klein moves ``api`` from the
request's ``postpath`` to its ``prepath`` before the engine's own Klein app
matches the rest (``/albums``), while ``request.path`` stays whole, so Link
headers carry every outer prefix (``/music/api/albums?page=2``).

Every other URL is a JSON 404 (``add_error_handling``).
"""

from __future__ import annotations

from typing import Any

from klein import Klein
from sqlalchemy.engine import Engine
from twisted.internet.defer import CancelledError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from chinook_svc.database import ping
from chinook_svc.models import ChinookModels, detect_edition, models_for
from chinook_svc.restless import APIManager
from chinook_svc.restless.endpoint import json_reply
from chinook_svc.restless.http import add_error_handling, write_reply
from chinook_svc.restless.runner import Runner

#: Relations kept out of inline objects (they are large), still served at their URLs.
EXCLUDE_INLINE: dict[str, tuple[str, ...]] = {
    "genres": ("tracks",),
    "media_types": ("tracks",),
    "playlists": ("tracks",),
}

#: Seconds ``/healthz`` waits for ``SELECT 1`` before answering 503.
HEALTH_TIMEOUT = 5.0


def build_api(engine: Engine, runner: Runner, models: ChinookModels) -> APIManager:
    """An :class:`APIManager` with a read-only API for every Chinook table, without URL prefix."""
    manager = APIManager(engine, runner=runner, url_prefix="")
    for name, model in models.by_table().items():
        manager.create_api(
            model,
            collection_name=name,
            methods=["GET"],
            allow_functions=True,
            exclude_inline=EXCLUDE_INLINE.get(name, ()),
        )
    return manager


def _version() -> str:
    from chinook_svc import __version__

    return __version__


class ChinookApp:
    """The root app: index, health check, and the engine under ``/api``.

    Args:
        engine: the database.
        runner: where database calls run (a thread pool; inline in tests).
        clock: times the health check out.
        models: the mapped classes; ``None`` detects the edition from the
            database (blocking: do it before the reactor runs).
        health_timeout: seconds ``/healthz`` waits for the database.
    """

    app = Klein()
    log = Logger()

    def __init__(
        self,
        engine: Engine,
        runner: Runner,
        clock: IReactorTime,
        *,
        models: ChinookModels | None = None,
        health_timeout: float = HEALTH_TIMEOUT,
    ) -> None:
        self._engine = engine
        self._runner = runner
        self._clock = clock
        self._health_timeout = health_timeout
        self.models = models if models is not None else models_for(detect_edition(engine))
        self.manager = build_api(engine, runner, self.models)
        self._api = self.manager.resource()

    def resource(self) -> IResource:
        """This app as a ``twisted.web`` resource, to serve or to mount anywhere."""
        return self.app.resource()

    @app.route("/", methods=["GET"])
    def index(self, request: IRequest) -> bytes:
        """A JSON index: the collections, with links relative to where the app is mounted."""
        base = request.path.decode("utf-8", "replace").rstrip("/")
        names = sorted(self.models.by_table())
        body = {
            "name": "chinook_svc",
            "version": _version(),
            "edition": self.models.edition.name,
            "api": f"{base}/api",
            "health": f"{base}/healthz",
            "collections": {name: f"{base}/api/{name}" for name in names},
        }
        return write_reply(request, json_reply(200, body))

    @app.route("/healthz", methods=["GET"])
    async def healthz(self, request: IRequest) -> bytes:
        """200 when the database answers ``SELECT 1`` in time, 503 (JSON) when it does not."""
        request.setHeader(b"cache-control", b"no-store")
        body: dict[str, Any] = {"version": _version(), "edition": self.models.edition.name}
        try:
            d = self._runner.run(ping, self._engine)
            await d.addTimeout(self._health_timeout, self._clock)
        except CancelledError:
            raise
        except Exception as e:
            self.log.warn("Health check failed: {error!r}", error=e)
            body.update(status="unavailable", database="unavailable")
            return write_reply(request, json_reply(503, body, {"Retry-After": "1"}))
        body.update(status="ok", database="ok")
        return write_reply(request, json_reply(200, body))

    @app.route("/api/", branch=True)
    def api(self, request: IRequest) -> IResource:
        """The engine's resource, for everything under ``/api/``."""
        return self._api


add_error_handling(ChinookApp.app)

__all__ = ["EXCLUDE_INLINE", "HEALTH_TIMEOUT", "ChinookApp", "build_api"]
