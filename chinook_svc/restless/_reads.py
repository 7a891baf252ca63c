"""The read side of one API: what each GET answers, computed in a worker thread.

:class:`Reads` turns an :class:`~chinook_svc.restless._messages.ApiRequest`
(plain data taken from the HTTP request on the reactor thread) into a
:class:`~chinook_svc.restless._render.Result`.  It runs processors, compiles
``q``, runs the search (``_search``), builds the objects (``_loader``), all
synchronously; ``_api.answer`` renders the result, and ``_routes`` runs the
whole in the thread pool.  These are 0.17's ``API.get`` and ``FunctionAPI``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ._collection import Collection
from ._compile import CompiledSearch
from ._errors import MULTIPLE_RESULTS, NO_RESULT, ApiError, NotFound
from ._functions import function_results, parse_functions
from ._keyset import after, decode_cursor, encode_cursor, key_order
from ._messages import ApiRequest
from ._paging import cursor_link, envelope, link_header, results_per_page
from ._query import decode_q, parse_search
from ._render import NO_CONTENT, Result
from ._schema import RelationInfo
from ._scope import Scope, scope_of, where_in_scope
from ._together import reading


class Reads:
    """The GETs of one collection."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self.options = collection.options

    # -- GET /api/<c> ---------------------------------------------------------------

    def get_many(self, request: ApiRequest) -> Result:
        """Search the collection: a page envelope, or one object with ``single``."""
        c = self.collection
        q_text = request.arg("q")
        params = decode_q(q_text, self.options.limits)
        for pre in self.options.pre("GET_MANY"):
            pre(search_params=params)
        compiled = c.compiler.compile_q(params, self.options.limits)
        cursor = request.arg("cursor")
        scope = scope_of(c.info)
        if cursor is not None and not compiled.single:
            return self._keyset_page(request, params, compiled, cursor, q_text, scope)
        with reading(c.connect()) as conn:
            if compiled.single:
                rows = c.search.rows(conn, compiled, 0, 2, scope)
                if not rows:
                    raise NotFound(NO_RESULT)
                if len(rows) > 1:
                    raise ApiError(400, MULTIPLE_RESULTS)
                result: dict[str, Any] = c.objects.build(conn, c.shape, rows)[0]
                row = rows[0]
                instid = c.instance_key.url_id(lambda name: result.get(name, row[name]))
                answer = Result(200, result, location=f"{request.base_url}/{instid}")
            else:
                result = envelope(
                    request,
                    self.options,
                    lambda: c.search.count(conn, compiled, scope),
                    lambda start, size: c.search.rows(conn, compiled, start, size, scope),
                    lambda rows: c.objects.build(conn, c.shape, rows),
                    c.search.count_and_rows(conn, compiled, scope),
                )
                link = link_header(
                    request, self.options, result["page"], result["total_pages"], q_text
                )
                answer = Result(200, result, link=link)
        for post in self.options.post("GET_MANY"):
            post(result=result, search_params=params)
        return answer

    def _keyset_page(
        self,
        request: ApiRequest,
        params: Any,
        compiled: CompiledSearch,
        cursor: str,
        q_text: str | None,
        scope: Scope | None,
    ) -> Result:
        """A page after ``cursor`` in the search's order, found by key (see ``_keyset``)."""
        c = self.collection
        order = key_order(c.info, parse_search(params, self.options.limits))
        q_key = compiled.key or ""
        values = decode_cursor(cursor, c.info, order, q_key) if cursor else None
        condition = None if values is None else after(c.dialect, c.info, order, values)
        size = results_per_page(request, self.options) or self.options.max_results_per_page
        with reading(c.connect()) as conn:
            rows = c.search.rows_after(conn, compiled, condition, size + 1, scope)
            objects = c.objects.build(conn, c.shape, rows[:size])
        following = None
        link = None
        if len(rows) > size:
            last = rows[size - 1]
            following = encode_cursor(tuple(last[name] for name, _ in order), q_key)
            link = cursor_link(request, following, size, q_text)
        result: dict[str, Any] = {"next_cursor": following, "objects": objects}
        for post in self.options.post("GET_MANY"):
            post(result=result, search_params=params)
        return Result(200, result, link=link)

    # -- GET /api/<c>/<id>[/<rel>[/<relid>]] --------------------------------------------

    def _instance_key(self, instid: Any) -> tuple[Any, ...]:
        """The primary key an instance URL names, after the ``GET_SINGLE`` preprocessors."""
        for pre in self.options.pre("GET_SINGLE"):
            changed = pre(instance_id=instid)
            if changed is not None:
                instid = changed
        return self.collection.key(instid)

    def _single(self, result: Any) -> Result:
        if result is None:
            raise NotFound()
        for post in self.options.post("GET_SINGLE"):
            post(result=result)
        return Result(200, result)

    def get_single(self, request: ApiRequest, instid: str) -> Result:
        """One object by primary key."""
        c = self.collection
        key = self._instance_key(instid)
        with reading(c.connect()) as conn:
            raw = c.search.by_key(conn, c.instance_key.names, key, scope_of(c.info))
            result = None if raw is None else c.objects.build(conn, c.shape, [raw])[0]
        return self._single(result)

    def _relation(self, relname: str) -> RelationInfo:
        rel = self.collection.info.relations.get(relname)
        if rel is None:
            raise NotFound(f"No relation {relname!r}")
        return rel

    def get_relation(self, request: ApiRequest, instid: str, relname: str) -> Result:
        """A relation of one object: a page envelope (to-many, paged in SQL) or an object."""
        c = self.collection
        rel = self._relation(relname)
        key = self._instance_key(instid)
        loader = c.objects.relation(rel)
        shape = c.shapes.objects_of(rel.target, self.options.url_prefix)
        with reading(c.connect()) as conn:
            parent = c.search.by_key(conn, c.instance_key.names, key, scope_of(c.info))
            if parent is None:
                raise NotFound()
            if rel.uselist:
                result: Any = envelope(
                    request,
                    self.options,
                    lambda: loader.count_for(conn, parent),
                    lambda start, size: loader.page_for(conn, parent, start, size),
                    lambda rows: c.objects.build(conn, shape, rows),
                )
            else:
                rows = loader.page_for(conn, parent, 0, 1)
                result = c.objects.build(conn, shape, rows)[0] if rows else None
        return self._single(result)

    def get_relation_member(
        self, request: ApiRequest, instid: str, relname: str, relid: str
    ) -> Result:
        """One related object, only if it belongs to the parent's relation (a deviation)."""
        c = self.collection
        rel = self._relation(relname)
        key = self._instance_key(instid)
        target = rel.target
        target_key = c.target_key(target)
        related_key = target_key.parse(relid)
        shape = c.shapes.objects_of(target, self.options.url_prefix)
        with reading(c.connect()) as conn:
            parent = c.search.by_key(conn, c.instance_key.names, key, scope_of(c.info))
            if parent is None:
                raise NotFound()
            raw = c.objects.relation(rel).member(conn, parent, target_key.names, related_key)
            result = None if raw is None else c.objects.build(conn, shape, [raw])[0]
        return self._single(result)

    # -- GET /api/eval/<c> ----------------------------------------------------------------

    def evaluate(self, request: ApiRequest) -> Result:
        """0.17's function evaluation: ``{"<func>__<field>": value, ...}``."""
        c = self.collection
        wanted = parse_functions(request.arg("q"), c.info, c.rules, self.options.limits, c.dialect)
        if not wanted:
            return NO_CONTENT
        terms = [term for item in wanted for term in item.terms]
        with reading(c.connect()) as conn:
            stmt = where_in_scope(select(*terms).select_from(c.info.selectable), scope_of(c.info))
            row = conn.execute(stmt).one()
        return Result(200, function_results(wanted, row))
