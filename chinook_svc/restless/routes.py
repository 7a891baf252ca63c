"""Klein routes of the engine: URL and method in, an :class:`Endpoint` call in a thread, JSON out.

Handlers stay thin: find the API for the collection (case-insensitively, a
deviation from 0.17), check the method, copy the request into plain data and
run the endpoint through the :class:`~chinook_svc.restless.runner.Runner`.
Nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import IO, Any

from attrs import evolve
from klein import Klein
from twisted.internet.defer import Deferred
from twisted.web.iweb import IRequest

from .cache import ResponseCache
from .cost import read_cost
from .endpoint import ApiRequest, Endpoint, Reply, json_reply
from .errors import ApiError
from .http import add_error_handling, api_request, write_reply
from .representation import Representation, represent
from .runner import Runner

READ = frozenset({"GET"})
WITH_BODY = frozenset({"POST", "PATCH", "PUT"})


def call_and_represent(
    endpoint: Endpoint, handler: Callable[..., Reply], request: ApiRequest, *ids: str
) -> tuple[Reply, Representation | None]:
    """A GET in the worker thread: the reply, conditional/compressed, and its representation."""
    return represent(endpoint.call(handler, request, *ids), request)


def call_with_body(
    endpoint: Endpoint,
    handler: Callable[..., Reply],
    request: ApiRequest,
    content: IO[bytes] | None,
    *ids: str,
) -> Reply:
    """Read the request body (in the worker thread: it may sit in a temporary file), then call."""
    body = b""
    if content is not None:
        content.seek(0)
        body = content.read(endpoint.options.max_body_bytes + 1)
    return endpoint.call(handler, evolve(request, body=body), *ids)


class Registry:
    """The APIs of one manager, by URL prefix and lower-cased collection name."""

    def __init__(self) -> None:
        self._apis: dict[str, dict[str, Endpoint]] = {}

    def add(self, endpoint: Endpoint) -> None:
        """Register an endpoint under its prefix and collection name."""
        prefix = "/" + endpoint.options.url_prefix.strip("/")
        if prefix == "/":
            prefix = ""
        name = endpoint.options.collection_name.lower()
        apis = self._apis.setdefault(prefix, {})
        if name in apis:
            raise ValueError(f"collection {prefix}/{name} is already exposed")
        apis[name] = endpoint

    @property
    def prefixes(self) -> Iterable[str]:
        """Every URL prefix with at least one API."""
        return tuple(self._apis)

    def find(self, prefix: str, collection: str) -> Endpoint:
        """The endpoint for a collection URL segment; 404 if there is none."""
        endpoint = self._apis.get(prefix, {}).get(collection.lower())
        if endpoint is None:
            raise ApiError(404, "No such collection")
        return endpoint

    def endpoints(self) -> Iterable[Endpoint]:
        """Every registered endpoint."""
        for apis in self._apis.values():
            yield from apis.values()


def allowed_methods(endpoint: Endpoint, kind: str) -> frozenset[str]:
    """The methods a URL of this kind accepts for this API (0.17's URL rules)."""
    options = endpoint.options
    methods = options.methods
    if kind == "eval":
        return READ if options.allow_functions else frozenset()
    if kind == "collection":
        allowed = methods & {"GET", "POST"}
        if options.allow_patch_many:
            allowed |= methods & {"PATCH", "PUT"}
        if options.allow_delete_many:
            allowed |= methods & {"DELETE"}
        return frozenset(allowed)
    if kind == "instance":
        return frozenset(methods & {"GET", "PATCH", "PUT", "DELETE"})
    if kind == "relation":
        return frozenset(methods & {"GET", "DELETE"})
    return frozenset(methods & {"GET", "DELETE"})


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
    ) -> tuple[Endpoint, str, tuple[str, ...]]:
        if kind == "eval":
            # /api/eval/<c> is the eval endpoint, unless a collection named "eval" wants it.
            endpoint = self.registry.find(prefix, ids[0])
            if endpoint.options.allow_functions:
                return endpoint, kind, ids
            # Without functions there is no eval URL (as in 0.17), but a collection may be named so.
            return self.registry.find(prefix, "eval"), "instance", ("eval", ids[0])
        return self.registry.find(prefix, ids[0]), kind, ids

    def dispatch(self, request: IRequest, prefix: str, kind: str, *ids: str) -> Any:
        """Route one request to its endpoint method."""
        endpoint, kind, ids = self._find(prefix, kind, ids)
        allowed = allowed_methods(endpoint, kind)
        method = request.method.decode("ascii", "replace").upper()
        if method == "OPTIONS":
            allow = ", ".join(
                sorted(allowed | {"OPTIONS"} | ({"HEAD"} if "GET" in allowed else set()))
            )
            return write_reply(request, Reply(200, b"", (("Allow", allow),), None))
        if method == "HEAD":
            method = "GET"
        handler = self._handler(endpoint, kind, method) if method in allowed else None
        if handler is None:
            allow = ", ".join(sorted(allowed | ({"HEAD"} if "GET" in allowed else set())))
            raise ApiError(405, "Method not allowed", headers={"Allow": allow})
        plain = api_request(request)
        if method == "GET":
            return self._get(request, plain, endpoint, handler, ids[1:])
        length = request.getHeader(b"content-length")
        if (
            length is not None
            and length.isdigit()
            and int(length) > endpoint.options.max_body_bytes
        ):
            raise ApiError(413, "Request body too large")
        content = request.content if method in WITH_BODY else None
        d: Deferred[Reply] = self.write_runner.run(
            call_with_body, endpoint, handler, plain, content, *ids[1:]
        )
        return d.addCallback(self._written, request)

    def _written(self, reply: Reply, request: IRequest) -> bytes:
        if self.cache is not None and reply.status < 400:
            self.cache.invalidate()
        return write_reply(request, reply)

    def _get(
        self,
        request: IRequest,
        plain: ApiRequest,
        endpoint: Endpoint,
        handler: Callable[..., Reply],
        ids: tuple[str, ...],
    ) -> Any:
        cache = self.cache
        key: tuple[str, bytes] | None = None
        generation = 0
        if cache is not None:
            key = (plain.base_url, request.uri)
            hit = cache.get(key)
            if hit is not None:
                # Served from memory on the reactor thread: no thread hop, no database.
                return write_reply(request, hit.for_request(plain))
            generation = cache.generation

        def done(result: tuple[Reply, Representation | None]) -> bytes:
            reply, representation = result
            if cache is not None and key is not None and representation is not None:
                cache.put(key, representation, generation)
            return write_reply(request, reply)

        cost = read_cost(
            handler.__name__,
            plain.arg("q"),
            plain.arg("results_per_page"),
            endpoint.options.results_per_page,
        )
        d = self.runner.run(call_and_represent, endpoint, handler, plain, *ids, cost=cost)
        return d.addCallback(done)

    @staticmethod
    def _handler(endpoint: Endpoint, kind: str, method: str) -> Callable[..., Reply] | None:
        if method == "GET":
            handlers: dict[str, Callable[..., Reply]] = {
                "collection": endpoint.get_many,
                "eval": endpoint.evaluate,
                "instance": endpoint.get_single,
                "relation": endpoint.get_relation,
                "member": endpoint.get_relation_member,
            }
            return handlers[kind]
        writes = endpoint.writes
        table: dict[tuple[str, str], Callable[..., Reply]] = {
            ("collection", "POST"): writes.post,
            ("collection", "PATCH"): writes.patch_many,
            ("collection", "PUT"): writes.patch_many,
            ("collection", "DELETE"): writes.delete_many,
            ("instance", "PATCH"): writes.patch,
            ("instance", "PUT"): writes.patch,
            ("instance", "DELETE"): writes.delete,
            ("relation", "DELETE"): writes.delete_relation,
            ("member", "DELETE"): writes.delete_member,
        }
        return table.get((kind, method))


__all__ = ["Registry", "RestlessRoutes", "allowed_methods", "json_reply"]
