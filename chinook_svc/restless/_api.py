"""One collection's API: which handler answers each URL and method, and the answer's framing.

A :class:`CollectionApi` is what ``APIManager.create_api`` returns and what
the routes (``_routes``) find by collection name.  It pairs the collection's
:class:`~chinook_svc.restless._reads.Reads` and
:class:`~chinook_svc.restless._writes.Writes` with 0.17's URL rules
(:meth:`CollectionApi.allowed_methods`), and :func:`answer` runs one handler
in the worker thread: the handler's result rendered, or its expected failure
turned into a JSON error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import exc as sa_exc

from ._collection import Collection
from ._dberrors import read_error
from ._errors import ApiError, DatabaseUnavailable, ProcessingException, QueryError
from ._messages import ApiRequest, Reply, error_reply, json_reply
from ._options import ApiOptions
from ._reads import Reads
from ._render import Renderer, Result, renderer_for
from ._writes import Writes

#: A read or write: ``handler(request, *url_ids) -> Result``.
Handler = Callable[..., Result]

READ = frozenset({"GET"})


class CollectionApi:
    """The reads and writes of one collection, behind 0.17's URL rules."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self.options: ApiOptions = collection.options
        self.reads = Reads(collection)
        self.writes = Writes(collection)

    def allowed_methods(self, kind: str) -> frozenset[str]:
        """The methods a URL of this kind accepts (0.17's URL rules).

        ``kind`` is ``collection``, ``eval``, ``instance``, ``relation`` or ``member``.
        """
        options = self.options
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
        return frozenset(methods & {"GET", "DELETE"})

    def handler(self, kind: str, method: str) -> Handler | None:
        """The handler of a URL kind and method, if there is one (allowed or not)."""
        if method == "GET":
            reads: dict[str, Handler] = {
                "collection": self.reads.get_many,
                "eval": self.reads.evaluate,
                "instance": self.reads.get_single,
                "relation": self.reads.get_relation,
                "member": self.reads.get_relation_member,
            }
            return reads[kind]
        writes = self.writes
        table: dict[tuple[str, str], Handler] = {
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

    def renderer(self, request: ApiRequest) -> Renderer:
        """The renderer this request asks for (and this API allows)."""
        return renderer_for(request, self.options.allow_jsonp)


def answer(handler: Handler, request: ApiRequest, renderer: Renderer, *ids: Any) -> Reply:
    """Run a handler and render its result; every expected failure becomes a JSON reply.

    Synchronous: runs in a worker thread.  An unexpected error propagates
    (the routes answer it with a 500 and log it).
    """
    try:
        return renderer.render(handler(request, *ids))
    except ApiError as e:
        return error_reply(e)
    except ProcessingException as e:
        return json_reply(e.code, {"message": e.description or str(e)})
    except OverflowError:
        # A number the database driver cannot hold: the client's doing.
        return error_reply(QueryError("a number is out of range"))
    except sa_exc.SQLAlchemyError as e:
        error = read_error(e)
        if error.status >= 500 and not isinstance(error, DatabaseUnavailable):
            raise
        return error_reply(error)
