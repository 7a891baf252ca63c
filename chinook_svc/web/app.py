"""``ChinookApp``: the service's root Klein app.

::

    /              a JSON index of the collections
    /healthz       200 when the database answers ``SELECT 1``, else 503 (``web.health``)
    /api/...       the flask-restless API of the Chinook tables (the engine)
    /openapi.json  the OpenAPI 3.1 document of all of these (``web.openapi``)
    /docs          Swagger UI over that document (``web.docs``)

The engine's routes are registered without a prefix (``APIManager(url_prefix="")``)
and mounted on the branch route ``/api/``: Klein moves ``api`` from the
request's ``postpath`` to its ``prepath`` before the engine's own Klein app
matches the rest (``/albums``), while ``request.path`` stays whole, so Link
headers carry every outer prefix (``/music/api/albums?page=2``).

Every other URL is a JSON 404 (``add_error_handling``), and a request Klein
could not route (a bad ``Host`` header, a path that is not UTF-8) a JSON 400
(``WellFormed``).

With ``auth_reads``, ``/`` needs the token like the API, and ``/healthz``
stays open (for load balancers) but tells only ``status`` and ``database``
to a request without the token: version, edition, pid and load are details
for those who hold it.  A read the token check would refuse is answered 401
before the admission gate (``web.admission``) could answer it 503.

:meth:`ChinookApp.body_policy` tells the HTTP edge which requests may send a
body: writes under ``/api/`` with the token, on a service with writes on.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote_to_bytes

from klein import Klein
from sqlalchemy.engine import Engine
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.http_headers import Headers
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from zope.interface import implementer

from chinook_svc.aggregate import AggregateSettings
from chinook_svc.auth import TokenCheck, TokenGuard, refuse
from chinook_svc.models import detect_edition, models_for
from chinook_svc.restless import (
    Announcer,
    ApiError,
    APIManager,
    Reply,
    Runner,
    SharedGenerations,
    WellFormed,
    add_error_handling,
    json_reply,
    write_reply,
)

from .admission import AdmissionGate, Admits
from .cors import CorsPolicy, CorsResource
from .docs import CONTENT_SECURITY_POLICY, START, asset, page, swagger_ui_directory
from .health import HEALTH_TIMEOUT, HealthCheck
from .openapi import bearer_methods, for_mount, service_document
from .served import EXCLUDE_INLINE, READ_ONLY, READ_WRITE, ServedModels, api_options

#: The methods whose body the API reads.
BODY_METHODS = frozenset({b"POST", b"PATCH", b"PUT"})


def build_api(
    engine: Engine,
    runner: Runner,
    models: ServedModels,
    *,
    write_runner: Runner | None = None,
    allow_writes: bool = False,
    cache_ttl: float | None = None,
    clock: IReactorTime | None = None,
    generations: SharedGenerations | None = None,
    announcer: Announcer | None = None,
) -> APIManager:
    """An :class:`APIManager` for every table of ``models``, without URL prefix.

    Read-only unless ``allow_writes``; bulk PATCH/DELETE stay off either way.
    """
    manager = APIManager(
        engine,
        runner=runner,
        write_runner=write_runner,
        url_prefix="",
        cache_ttl=cache_ttl,
        clock=clock,
        generations=generations,
        announcer=announcer,
    )
    for name, model in models.by_table().items():
        manager.create_api(
            model,
            collection_name=name,
            allow_functions=True,
            **api_options(models, name, allow_writes),
        )
    return manager


def _version() -> str:
    from chinook_svc._version import __version__

    return __version__


class ChinookApp:
    """The root app: index, health check, and the engine under ``/api``.

    Args:
        engine: the database.
        runner: where database calls run (a thread pool; inline in tests).
        clock: times the health check out.
        models: the mapped classes (Chinook's or reflected); ``None`` detects the edition from the
            database (blocking: do it before the reactor runs).
        health_timeout: seconds ``/healthz`` waits for the database.
        write_runner: where writes run (on SQLite: one writer thread).
        allow_writes: serve POST/PATCH/PUT/DELETE.
        token: the bearer token writes (and with ``auth_reads`` reads) of
            the API need; required when ``allow_writes`` or ``auth_reads``.
        auth_reads: reads of the API need the token too.
        cache_ttl: keep GET answers of the API in memory this long (``None``: no cache).
        generations: the write generations the cache shares with the other
            workers of the instance (``None``: a single process).
        announcer: what write transactions do so that other instances hear
            of them (``None``: nothing).
        aggregate: the ``/aggregate`` resource (``None``: no such endpoint).
        aggregate_settings: its sources, for ``/openapi.json``.
        cors: which other origins browsers may let call the service (``None``: none).
        health: what ``/healthz`` asks (``None``: ``SELECT 1`` through
            ``runner``, which waits behind API work; the service passes a
            check with a thread and a connection of its own).
    """

    app = Klein()
    log = Logger()

    def __init__(
        self,
        engine: Engine,
        runner: Runner,
        clock: IReactorTime,
        *,
        models: ServedModels | None = None,
        health_timeout: float = HEALTH_TIMEOUT,
        write_runner: Runner | None = None,
        allow_writes: bool = False,
        token: bytes | None = None,
        auth_reads: bool = False,
        cache_ttl: float | None = None,
        generations: SharedGenerations | None = None,
        announcer: Announcer | None = None,
        aggregate: IResource | None = None,
        aggregate_settings: AggregateSettings | None = None,
        cors: CorsPolicy | None = None,
        health: HealthCheck | None = None,
    ) -> None:
        if (allow_writes or auth_reads) and not token:
            raise ValueError("writes and authenticated reads need a token")
        if health is None:
            load = getattr(runner, "load", None)
            health = HealthCheck(engine, runner, clock, timeout=health_timeout, load=load)
        self._health = health
        if models is None:
            models = models_for(detect_edition(engine))
        self.models: ServedModels = models
        self.manager = build_api(
            engine,
            runner,
            self.models,
            write_runner=write_runner,
            allow_writes=allow_writes,
            cache_ttl=cache_ttl,
            clock=clock,
            generations=generations,
            announcer=announcer,
        )
        # The root resource checks every request is well formed (WellFormed): not again here.
        self._api: IResource = self.manager.routes().app.resource()
        self._allow_writes = allow_writes
        self._writes = TokenCheck(token, protect_reads=auth_reads)
        self._reads = TokenCheck(token if auth_reads else None, protect_reads=True)
        self._max_body = max(
            (api.options.max_body_bytes for api in self.manager.registry.apis()), default=0
        )
        if token is not None:
            self._api = TokenGuard(self._api, token, protect_reads=auth_reads)
        if isinstance(runner, Admits) and not cache_ttl:
            # Refuse what the runner has no room for before routing it (with a
            # response cache, a request the cache answers needs no room: the
            # runner refuses after the cache missed).
            self._api = AdmissionGate(
                self._api,
                runner,
                clock,
                authorised=lambda r: self._reads.allows(r.method, r.requestHeaders),
            )
        if aggregate is not None and token is not None and auth_reads:
            aggregate = TokenGuard(aggregate, token, protect_reads=True)
        self._aggregate = aggregate
        self._cors = cors
        self._described = service_document(
            self.manager,
            version=_version(),
            bearer=bearer_methods(token=token is not None, auth_reads=auth_reads),
            aggregate=aggregate_settings if aggregate is not None else None,
        )
        self._encoded: tuple[str, Reply] | None = None
        self._swagger_ui = swagger_ui_directory()

    def resource(self) -> IResource:
        """This app as a ``twisted.web`` resource, to serve or to mount anywhere.

        Requests under ``/api/`` go straight to the engine's resource (one
        Klein routing step, not two); the rest to this app's routes.
        """
        children = {b"api": self._api}
        if self._aggregate is not None:
            children[b"aggregate"] = self._aggregate
        root: IResource = WellFormed(_Root(self.app.resource(), children))
        if self._cors is not None and self._cors.origins:
            root = CorsResource(root, self._cors)
        return root

    def body_policy(self, method: bytes, target: bytes, headers: Headers) -> int | None:
        """How much body a request with this head may send; ``None``: it has no use for one.

        Only a write under ``/api/`` on a service with writes on, from a
        client with the token, gets its body read (up to the APIs' largest
        ``max_body_bytes``); the first path segment is found as ``Site``
        finds it.  See :mod:`chinook_svc.web.channel`.
        """
        if not self._allow_writes or method not in BODY_METHODS:
            return None
        path = target.split(b"?", 1)[0]
        if not path.startswith(b"/") or unquote_to_bytes(path[1:].split(b"/")[0]) != b"api":
            return None
        if not self._writes.allows(method, headers):
            return None
        return self._max_body

    @app.route("/", methods=["GET"])
    def index(self, request: IRequest) -> bytes:
        """A JSON index: the collections, with links relative to where the app is mounted."""
        if not self._reads.allows(request.method, request.requestHeaders):
            return refuse(request)
        base = request.path.decode("utf-8", "replace").rstrip("/")
        names = sorted(self.models.by_table())
        body = {
            "name": "chinook_svc",
            "version": _version(),
            "edition": self.models.edition.name,
            "api": f"{base}/api",
            "health": f"{base}/healthz",
            "openapi": f"{base}/openapi.json",
            "docs": f"{base}/docs",
            "collections": {name: f"{base}/api/{name}" for name in names},
        }
        return write_reply(request, json_reply(200, body))

    @app.route("/healthz", methods=["GET"])
    async def healthz(self, request: IRequest) -> bytes:
        """200 when the database answers ``SELECT 1`` in time, 503 (JSON) when it does not.

        Version, edition, pid and ``"load"`` only for a request that may read
        (with ``auth_reads``: one with the token).  The check never waits
        behind API work; ``"load"`` says how busy the API is
        (``"saturated"``: requests are waiting or being refused), which is
        not a reason to answer 503.
        """
        request.setHeader(b"cache-control", b"no-store")
        body: dict[str, Any] = {}
        details = self._reads.allows(request.method, request.requestHeaders)
        if details:
            body.update(version=_version(), edition=self.models.edition.name, pid=os.getpid())
        report = await self._health.check()
        if details:
            body["load"] = report.load
        if not report.database_ok:
            body.update(status="unavailable", database="unavailable")
            return write_reply(request, json_reply(503, body, {"Retry-After": "1"}))
        body.update(status="ok", database="ok")
        return write_reply(request, json_reply(200, body))

    @app.route("/openapi.json", methods=["GET"])
    def openapi(self, request: IRequest) -> bytes:
        """The OpenAPI 3.1 document, its ``servers`` the mount point it was asked through."""
        mount = request.path.decode("utf-8", "replace").removesuffix("/openapi.json")
        if self._encoded is None or self._encoded[0] != mount:
            document = for_mount(self._described, mount)
            self._encoded = (mount, json_reply(200, document, {"Cache-Control": "no-cache"}))
        return write_reply(request, self._encoded[1])

    @app.route("/docs", methods=["GET"])
    def docs(self, request: IRequest) -> bytes:
        """Swagger UI's page over ``openapi.json``."""
        if self._swagger_ui is None:
            raise ApiError(404, "Not found", detail="swagger-ui-bundle-v2 is not installed")
        base = request.path.decode("utf-8", "replace").removesuffix("/docs")
        headers = (("Content-Security-Policy", CONTENT_SECURITY_POLICY),)
        return write_reply(request, Reply(200, page(base), headers, "text/html; charset=utf-8"))

    @app.route("/docs/start.js", methods=["GET"])
    def docs_start(self, request: IRequest) -> bytes:
        """The script that starts Swagger UI."""
        return write_reply(request, Reply(200, START, (), "text/javascript; charset=utf-8"))

    @app.route("/docs/<name>", methods=["GET"])
    def docs_asset(self, request: IRequest, name: str) -> IResource:
        """One of Swagger UI's files."""
        found = asset(self._swagger_ui, name)
        if found is None:
            raise ApiError(404, "Not found")
        return found

    @app.route("/api/", branch=True)
    def api(self, request: IRequest) -> IResource:
        """The engine's resource, for everything under ``/api/``."""
        return self._api


@implementer(IResource)
class _Root:
    """Sends ``/api/...`` to the engine, ``/aggregate`` to the fan-out, the rest to the root app."""

    isLeaf = False

    def __init__(self, app: IResource, children: dict[bytes, IResource]) -> None:
        self._app = app
        self._children = children

    def getChildWithDefault(self, name: bytes, request: IRequest) -> IResource:
        """The engine for ``api/...``, the fan-out for ``aggregate``, else the root app."""
        child = self._children.get(name)
        if child is not None and (request.postpath or name != b"api"):
            return child
        # The root app is a leaf: give it back the segment Site just consumed.
        request.postpath.insert(0, request.prepath.pop())
        return self._app

    def putChild(self, path: bytes, child: IResource) -> None:
        """The tree is fixed."""
        raise NotImplementedError("the service's root resource has fixed children")

    def render(self, request: IRequest) -> Any:
        """Only reached for the bare mount point (no trailing slash): the index."""
        return self._app.render(request)


add_error_handling(ChinookApp.app)

__all__ = [
    "BODY_METHODS",
    "EXCLUDE_INLINE",
    "HEALTH_TIMEOUT",
    "READ_ONLY",
    "READ_WRITE",
    "ChinookApp",
    "ServedModels",
    "api_options",
    "build_api",
]
