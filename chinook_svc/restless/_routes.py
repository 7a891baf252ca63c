"""Klein routes of the engine: URL and method in, a handler run in a thread, a reply out.

Handlers stay thin: find the API for the collection (case-insensitively, a
deviation from 0.17), check the method, copy the request into plain data
(``_http.api_request``), choose its renderer, and run the handler through the
:class:`~chinook_svc.restless._runner.Runner` (``_api.answer``).  A GET may be
answered from the response cache, under a key that includes the renderer.
Nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

from attrs import evolve
from klein import Klein
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest

from ._api import CollectionApi, Handler, answer
from ._cache import ResponseCache, Token
from ._cost import read_cost
from ._errors import ApiError
from ._http import add_error_handling, api_request, body_unread, write_reply
from ._messages import ApiRequest, Reply
from ._render import Renderer
from ._representation import Representation, represent
from ._runner import Runner

WITH_BODY = frozenset({"POST", "PATCH", "PUT"})


def answer_and_represent(
    handler: Handler, request: ApiRequest, renderer: Renderer, *ids: str
) -> tuple[Reply, Representation | None]:
    """A GET in the worker thread: the reply, conditional/compressed, and its representation."""
    return represent(answer(handler, request, renderer, *ids), request)


def answer_with_body(
    api: CollectionApi,
    handler: Handler,
    request: ApiRequest,
    renderer: Renderer,
    content: IO[bytes] | None,
    *ids: str,
) -> Reply:
    """Read the request body (in the worker thread: it may sit in a temporary file), then answer."""
    body = b""
    if content is not None:
        content.seek(0)
        body = content.read(api.options.max_body_bytes + 1)
    return answer(handler, evolve(request, body=body), renderer, *ids)


class Registry:
    """The APIs of one manager, by URL prefix and lower-cased collection name."""

    def __init__(self) -> None:
        self._apis: dict[str, dict[str, CollectionApi]] = {}

    def add(self, api: CollectionApi) -> None:
        """Register an API under its prefix and collection name."""
        prefix = "/" + api.options.url_prefix.strip("/")
        if prefix == "/":
            prefix = ""
        name = api.options.collection_name.lower()
        apis = self._apis.setdefault(prefix, {})
        if name in apis:
            raise ValueError(f"collection {prefix}/{name} is already exposed")
        apis[name] = api

    @property
    def prefixes(self) -> Iterable[str]:
        """Every URL prefix with at least one API."""
        return tuple(self._apis)

    def find(self, prefix: str, collection: str) -> CollectionApi:
        """The API for a collection URL segment; 404 if there is none."""
        api = self._apis.get(prefix, {}).get(collection.lower())
        if api is None:
            raise ApiError(404, "No such collection")
        return api

    def apis(self) -> Iterable[CollectionApi]:
        """Every registered API."""
        for apis in self._apis.values():
            yield from apis.values()


class RestlessRoutes:
    """The Klein app serving a :class:`Registry` under its URL prefixes."""

    def __init__(
        self,
        registry: Registry,
        runner: Runner,
        write_runner: Runner | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self.registry = registry
        self.runner = runner
        self.write_runner = write_runner or runner
        self.cache = cache
        self.app = Klein()
        for prefix in registry.prefixes:
            self._mount(prefix)
        add_error_handling(self.app)

    def _mount(self, prefix: str) -> None:
        route = self.app.route

        def collection(request: IRequest, collection: str) -> Any:
            return self.dispatch(request, prefix, "collection", collection)

        def evaluate(request: IRequest, collection: str) -> Any:
            return self.dispatch(request, prefix, "eval", collection)

        def instance(request: IRequest, collection: str, instid: str) -> Any:
            return self.dispatch(request, prefix, "instance", collection, instid)

        def relation(request: IRequest, collection: str, instid: str, relation: str) -> Any:
            return self.dispatch(request, prefix, "relation", collection, instid, relation)

        def member(
            request: IRequest, collection: str, instid: str, relation: str, relid: str
        ) -> Any:
            return self.dispatch(request, prefix, "member", collection, instid, relation, relid)

        base = prefix + "/<collection>"
        route(base, endpoint=f"{prefix}:collection")(collection)
        route(prefix + "/eval/<collection>", endpoint=f"{prefix}:eval")(evaluate)
        route(base + "/<instid>", endpoint=f"{prefix}:instance")(instance)
        route(base + "/<instid>/<relation>", endpoint=f"{prefix}:relation")(relation)
        route(base + "/<instid>/<relation>/<relid>", endpoint=f"{prefix}:member")(member)

    def _find(
        self, prefix: str, kind: str, ids: tuple[str, ...]
    ) -> tuple[CollectionApi, str, tuple[str, ...]]:
        if kind == "eval":
            # /api/eval/<c> is the eval endpoint, unless a collection named "eval" wants it.
            api = self.registry.find(prefix, ids[0])
            if api.options.allow_functions:
                return api, kind, ids
            # Without functions there is no eval URL (as in 0.17), but a collection may be named so.
            return self.registry.find(prefix, "eval"), "instance", ("eval", ids[0])
        return self.registry.find(prefix, ids[0]), kind, ids

    def dispatch(self, request: IRequest, prefix: str, kind: str, *ids: str) -> Any:
        """Route one request to its handler."""
        api, kind, ids = self._find(prefix, kind, ids)
        allowed = api.allowed_methods(kind)
        method = request.method.decode("ascii", "replace").upper()
        if method == "OPTIONS":
            allow = ", ".join(
                sorted(allowed | {"OPTIONS"} | ({"HEAD"} if "GET" in allowed else set()))
            )
            return write_reply(request, Reply(200, b"", (("Allow", allow),), None))
        if method == "HEAD":
            method = "GET"
        handler = api.handler(kind, method) if method in allowed else None
        if handler is None:
            allow = ", ".join(sorted(allowed | ({"HEAD"} if "GET" in allowed else set())))
            raise ApiError(405, "Method not allowed", headers={"Allow": allow})
        plain = api_request(request)
        renderer = api.renderer(plain)
        if method == "GET":
            return self._get(request, api, kind, plain, handler, renderer, ids[1:])
        length = request.getHeader(b"content-length")
        if (
            length is not None and length.isdigit() and int(length) > api.options.max_body_bytes
        ) or (method in WITH_BODY and body_unread(request)):
            # (The HTTP edge reads no body where it expects no use for one.)
            raise ApiError(413, "Request body too large")
        content = request.content if method in WITH_BODY else None
        d: Deferred[Reply] = self.write_runner.run(
            answer_with_body, api, handler, plain, renderer, content, *ids[1:]
        )
        return d.addCallbacks(self._written, self._write_failed, (request,))

    def _written(self, reply: Reply, request: IRequest) -> bytes:
        # Before the answer leaves: every worker's cache forgets what it held.
        # A refused write (4xx) rolled back; a 5xx may have failed after its commit.
        if self.cache is not None and not 400 <= reply.status < 500:
            self.cache.invalidate()
        return write_reply(request, reply)

    def _write_failed(self, failure: Failure) -> Failure:
        if self.cache is not None:
            self.cache.invalidate()  # it may have failed after its commit
        return failure

    def _get(
        self,
        request: IRequest,
        api: CollectionApi,
        kind: str,
        plain: ApiRequest,
        handler: Handler,
        renderer: Renderer,
        ids: tuple[str, ...],
    ) -> Any:
        cache = self.cache
        key: tuple[str, bytes, str] | None = None
        token: Token | None = None
        if cache is not None:
            # Everything that selects the answer: the URL, and the renderer it chose.
            key = (plain.base_url, request.uri, renderer.key)
            hit = cache.get(key)
            if hit is not None:
                # Served from memory on the reactor thread: no thread hop, no database.
                return write_reply(request, hit.for_request(plain))
            token = cache.token()

        def done(result: tuple[Reply, Representation | None]) -> bytes:
            reply, representation = result
            if cache is not None and token is not None and representation is not None:
                cache.put(key, representation, token)
            return write_reply(request, reply)

        cost = read_cost(
            kind, plain.arg("q"), plain.arg("results_per_page"), api.options.results_per_page
        )
        d = self.runner.run(answer_and_represent, handler, plain, renderer, *ids, cost=cost)
        return d.addCallback(done)


__all__ = ["Registry", "RestlessRoutes"]
