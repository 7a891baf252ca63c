"""The read side of one API: what each GET answers, computed in a worker thread.

An :class:`Endpoint` turns an :class:`ApiRequest` (plain data taken from the
HTTP request on the reactor thread) into a :class:`Reply` (status, headers,
encoded body).  It runs processors, compiles ``q``, talks to the database
through ``chinook_svc.restless.loader`` and encodes JSON, all synchronously;
``chinook_svc.restless.routes`` runs it in the thread pool.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from attrs import field, frozen
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from . import errors, keyset
from .aggregates import FUNCTIONS, Aggregate, aggregate, results
from .compile import CompiledSearch, Compiler, FieldRules
from .dberrors import read_error, unavailable
from .dialects import DialectRules, rules_for
from .errors import ApiError, NotFound, ProcessingException, QueryError
from .loader import SearchRunner, build_objects, relation_loader
from .options import ApiOptions
from .query import decode_json, decode_q, parse_search
from .schema import ModelInfo, model_info
from .serialize import encode
from .shape import Shape, api_shape, full_shape, parse_excludes, parse_includes, related_shape

if TYPE_CHECKING:
    from .writes import Writes

_INTEGER = re.compile(r"-?[0-9]+")
_CALLBACK = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.]{0,63}")

JSON = "application/json"


@frozen
class ApiRequest:
    """What the engine needs of an HTTP request, as plain data.

    Attributes:
        method: ``GET``, ``POST``, ...
        base_url: scheme, host and path of the request, without the query.
        args: decoded query arguments (every value of each).
        headers: request headers, names lower-cased.
        body: the request body, if any.
    """

    method: str
    base_url: str
    args: Mapping[str, Sequence[str]] = field(factory=dict)
    headers: Mapping[str, str] = field(factory=dict)
    body: bytes = b""

    def arg(self, name: str) -> str | None:
        """The first value of a query argument, as Flask's ``request.args.get``."""
        values = self.args.get(name)
        return values[0] if values else None


@frozen
class Reply:
    """A response: status, headers and an encoded body."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str | None = JSON


def json_reply(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Reply:
    """A JSON response."""
    return Reply(status, encode(obj), tuple((headers or {}).items()))


def error_reply(error: ApiError) -> Reply:
    """The JSON response for an :class:`ApiError`."""
    return json_reply(error.status, error.body(), error.headers)


def field_rules(info: ModelInfo, options: ApiOptions) -> FieldRules:
    """Which fields clients may filter and sort on, from include/exclude options."""
    if options.include_columns is not None:
        columns, relations = parse_includes(list(options.include_columns))
        return FieldRules(
            allowed=frozenset(columns) | frozenset(relations),
            nested={r: FieldRules(allowed=frozenset(f)) for r, f in relations.items()},
        )
    if options.exclude_columns is not None:
        columns, relations = parse_excludes(list(options.exclude_columns))
        return FieldRules(
            hidden=frozenset(columns),
            nested={r: FieldRules(hidden=frozenset(f)) for r, f in relations.items()},
        )
    return FieldRules()


def coerce_key(info: ModelInfo, name: str, text: str) -> Any:
    """A URL segment as a value of primary-key column ``name`` (404 if it cannot be one)."""
    if info.python_type(name) is int:
        if not _INTEGER.fullmatch(text) or len(text) > 20:
            raise NotFound()
        return int(text)
    return text


class Endpoint:
    """The GET side of one ``create_api`` (0.17's ``API`` and ``FunctionAPI`` views)."""

    def __init__(
        self,
        engine: Engine,
        model: type,
        options: ApiOptions,
        dialect: DialectRules | None = None,
    ) -> None:
        self.engine = engine
        self.model = model
        self.options = options
        self.info = model_info(model)
        self.dialect = dialect or rules_for(engine.dialect.name)
        self.shape: Shape = api_shape(
            self.info,
            include_columns=options.include_columns,
            exclude_columns=options.exclude_columns,
            include_methods=options.include_methods,
            exclude_inline=options.exclude_inline,
        )
        self.rules = field_rules(self.info, options)
        self.compiler = Compiler(self.info, self.rules, self.dialect)
        self.search = SearchRunner(self.info)
        self.pk_name = options.primary_key or self.info.primary_key_name()
        if self.pk_name not in self.info.columns:
            raise ValueError(f"{self.info.name} has no column {self.pk_name!r}")

    @cached_property
    def writes(self) -> Writes:
        """The write side of this API."""
        from .writes import Writes

        return Writes(self)

    # -- framing ------------------------------------------------------------

    def call(self, handler: Callable[..., Reply], request: ApiRequest, *args: Any) -> Reply:
        """Run a handler, turning every expected failure into a JSON reply."""
        try:
            return handler(request, *args)
        except ApiError as e:
            return error_reply(e)
        except ProcessingException as e:
            return json_reply(e.code, {"message": e.description or str(e)})
        except OverflowError:
            # A number the database driver cannot hold: the client's doing.
            return error_reply(QueryError("a number is out of range"))
        except sa_exc.SQLAlchemyError as e:
            error = read_error(e)
            if error.status >= 500 and not isinstance(error, errors.DatabaseUnavailable):
                raise
            return error_reply(error)

    def _connect(self) -> Connection:
        try:
            return self.engine.connect()
        except sa_exc.SQLAlchemyError as e:
            raise unavailable(e) from None

    # -- pagination -------------------------------------------------------------

    def results_per_page(self, request: ApiRequest) -> int:
        """0.17's ``_compute_results_per_page``."""
        default = self.options.results_per_page
        try:
            size = int(request.arg("results_per_page"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            size = default
        if size <= 0:
            size = default
        return min(size, self.options.max_results_per_page)

    @staticmethod
    def page_number(request: ApiRequest) -> int:
        """The requested page; 400 unless it is a positive integer (a deviation)."""
        text = request.arg("page")
        if text is None:
            return 1
        text = text.strip()
        if not _INTEGER.fullmatch(text) or len(text) > 12 or int(text) < 1:
            raise ApiError(400, "page must be a positive integer")
        return int(text)

    def _envelope(
        self,
        request: ApiRequest,
        count: Callable[[], int],
        rows: Callable[[int, int | None], list[dict[str, Any]]],
        build: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    ) -> dict[str, Any]:
        size = self.results_per_page(request)
        page = self.page_number(request) if size > 0 else 1
        total = count()
        if size > 0:
            start = (page - 1) * size
            stop = min(total, start + size)
            pages = math.ceil(total / size)
        else:
            start, stop, pages = 0, total, 1
        objects = build(rows(start, stop - start)) if stop > start else []
        return {"num_results": total, "objects": objects, "page": page, "total_pages": pages}

    def link_header(self, request: ApiRequest, page: int, last: int, q_text: str | None) -> str:
        """0.17's ``Link`` header; the links keep ``q`` (a deviation)."""
        size = self.results_per_page(request)
        keep = "" if q_text is None else "&q=" + quote(q_text, safe="")
        template = '<{0}?page={1}&results_per_page={2}{3}>; rel="{4}"'
        links = []
        if page < last:
            links.append(template.format(request.base_url, page + 1, size, keep, "next"))
        links.append(template.format(request.base_url, last, size, keep, "last"))
        return ", ".join(links)

    def _finish(
        self, request: ApiRequest, status: int, result: Any, headers: dict[str, str]
    ) -> Reply:
        callback = request.arg("callback") if self.options.allow_jsonp else None
        if callback is None:
            return json_reply(status, result, headers)
        if not _CALLBACK.fullmatch(callback):
            raise ApiError(400, "Invalid JSONP callback name")
        meta: dict[str, Any] = {"status": status, **headers}
        body = callback.encode("ascii") + b"(" + encode({"meta": meta, "data": result}) + b")"
        return Reply(status, body, tuple(headers.items()), "application/javascript")

    # -- GET /api/<c> ---------------------------------------------------------------

    def get_many(self, request: ApiRequest) -> Reply:
        """Search the collection: a page envelope, or one object with ``single``."""
        q_text = request.arg("q")
        params = decode_q(q_text, self.options.limits)
        for pre in self.options.pre("GET_MANY"):
            pre(search_params=params)
        compiled = self.compiler.compile_q(params, self.options.limits)
        cursor = request.arg("cursor")
        if cursor is not None and not compiled.single:
            return self._keyset_page(request, params, compiled, cursor, q_text)
        with self._connect() as conn:
            if compiled.single:
                rows = self.search.rows(conn, compiled, 0, 2)
                if not rows:
                    raise NotFound(errors.NO_RESULT)
                if len(rows) > 1:
                    raise ApiError(400, errors.MULTIPLE_RESULTS)
                result: dict[str, Any] = build_objects(conn, self.shape, rows)[0]
                key = result.get(self.pk_name, rows[0][self.pk_name])
                headers = {"Location": f"{request.base_url}/{key}"}
            else:
                result = self._envelope(
                    request,
                    lambda: self.search.count(conn, compiled),
                    lambda start, size: self.search.rows(conn, compiled, start, size),
                    lambda rows: build_objects(conn, self.shape, rows),
                )
                headers = {
                    "Link": self.link_header(request, result["page"], result["total_pages"], q_text)
                }
        for post in self.options.post("GET_MANY"):
            post(result=result, search_params=params)
        return self._finish(request, 200, result, headers)

    def _keyset_page(
        self,
        request: ApiRequest,
        params: Any,
        compiled: CompiledSearch,
        cursor: str,
        q_text: str | None,
    ) -> Reply:
        """A page after ``cursor`` in the search's order, found by key (see ``keyset``)."""
        order = keyset.key_order(self.info, parse_search(params, self.options.limits))
        q_key = compiled.key or ""
        values = keyset.decode_cursor(cursor, self.info, order, q_key) if cursor else None
        condition = None if values is None else keyset.after(self.dialect, self.info, order, values)
        size = self.results_per_page(request) or self.options.max_results_per_page
        with self._connect() as conn:
            rows = self.search.rows_after(conn, compiled, condition, size + 1)
            objects = build_objects(conn, self.shape, rows[:size])
        following = None
        headers: dict[str, str] = {}
        if len(rows) > size:
            last = rows[size - 1]
            following = keyset.encode_cursor(tuple(last[name] for name, _ in order), q_key)
            keep = "" if q_text is None else "&q=" + quote(q_text, safe="")
            headers["Link"] = (
                f'<{request.base_url}?cursor={following}&results_per_page={size}{keep}>; rel="next"'
            )
        result: dict[str, Any] = {"next_cursor": following, "objects": objects}
        for post in self.options.post("GET_MANY"):
            post(result=result, search_params=params)
        return self._finish(request, 200, result, headers)

    # -- GET /api/<c>/<id>[/<rel>[/<relid>]] --------------------------------------------

    def _instance_id(self, instid: Any) -> Any:
        for pre in self.options.pre("GET_SINGLE"):
            changed = pre(instance_id=instid)
            if changed is not None:
                instid = changed
        return instid

    def _key(self, instid: Any) -> Any:
        if isinstance(instid, str):
            return coerce_key(self.info, self.pk_name, instid)
        return instid

    def _single(self, request: ApiRequest, result: Any) -> Reply:
        if result is None:
            raise NotFound()
        for post in self.options.post("GET_SINGLE"):
            post(result=result)
        return self._finish(request, 200, result, {})

    def get_single(self, request: ApiRequest, instid: str) -> Reply:
        """One object by primary key."""
        key = self._key(self._instance_id(instid))
        with self._connect() as conn:
            raw = self.search.by_key(conn, self.pk_name, key)
            result = None if raw is None else build_objects(conn, self.shape, [raw])[0]
        return self._single(request, result)

    def _relation(self, relname: str) -> Any:
        rel = self.info.relations.get(relname)
        if rel is None:
            raise NotFound(f"No relation {relname!r}")
        return rel

    def get_relation(self, request: ApiRequest, instid: str, relname: str) -> Reply:
        """A relation of one object: a page envelope (to-many, paged in SQL) or an object."""
        rel = self._relation(relname)
        key = self._key(self._instance_id(instid))
        loader = relation_loader(rel)
        shape = full_shape(rel.target)
        with self._connect() as conn:
            parent = self.search.by_key(conn, self.pk_name, key)
            if parent is None:
                raise NotFound()
            if rel.uselist:
                result: Any = self._envelope(
                    request,
                    lambda: loader.count_for(conn, parent),
                    lambda start, size: loader.page_for(conn, parent, start, size),
                    lambda rows: build_objects(conn, shape, rows),
                )
            else:
                rows = loader.page_for(conn, parent, 0, 1)
                result = build_objects(conn, shape, rows)[0] if rows else None
        return self._single(request, result)

    def get_relation_member(
        self, request: ApiRequest, instid: str, relname: str, relid: str
    ) -> Reply:
        """One related object, only if it belongs to the parent's relation (a deviation)."""
        rel = self._relation(relname)
        key = self._key(self._instance_id(instid))
        target = rel.target
        related_key = coerce_key(target, target.primary_key_name(), relid)
        shape = full_shape(target)
        with self._connect() as conn:
            parent = self.search.by_key(conn, self.pk_name, key)
            if parent is None:
                raise NotFound()
            raw = relation_loader(rel).member(conn, parent, related_key)
            result = None if raw is None else build_objects(conn, shape, [raw])[0]
        return self._single(request, result)

    # -- GET /api/eval/<c> ----------------------------------------------------------------

    def evaluate(self, request: ApiRequest) -> Reply:
        """0.17's function evaluation: ``{"<func>__<field>": value, ...}``."""
        text = request.arg("q")
        if not text:
            raise ApiError(400, errors.EMPTY_QUERY)
        if len(text.encode("utf-8", "surrogatepass")) > self.options.limits.max_bytes:
            raise QueryError(f"q is longer than {self.options.limits.max_bytes} bytes")
        data = decode_json(text) or {}
        if not isinstance(data, dict):
            raise QueryError("q must be a JSON object")
        functions = data.get("functions", [])
        if not isinstance(functions, list) or len(functions) > self.options.limits.max_filters:
            raise QueryError("functions must be a list")
        wanted: list[Aggregate] = []
        for entry in functions:
            if not isinstance(entry, dict):
                raise QueryError("a function is {name, field}")
            name, fieldname = entry.get("name"), entry.get("field")
            if not isinstance(name, str) or name not in FUNCTIONS:
                raise ApiError(400, f'No such function "{name}"')
            if not isinstance(fieldname, str) or not (
                (fieldname in self.info.columns or fieldname in self.info.hybrids)
                and self.rules.allows(fieldname)
            ):
                raise ApiError(400, f'No such field "{fieldname}"')
            wanted.append(aggregate(name, fieldname, getattr(self.model, fieldname), self.dialect))
        if not wanted:
            return Reply(204, b"", (), None)
        terms = [term for item in wanted for term in item.terms]
        with self._connect() as conn:
            row = conn.execute(select(*terms).select_from(self.info.selectable)).one()
        return self._finish(request, 200, results(wanted, row), {})


def related_objects_shape(info: ModelInfo) -> Shape:
    """The shape used for objects reached through a relation URL."""
    return related_shape(info)
