"""Hostile HTTP requests for the Chinook service, from a seeded generator (see ``test_hostile``).

:class:`HostileRequests` makes raw requests (bytes on the wire, so that
anything a client can send can be sent) from a ``random.Random``: paths with
odd segments and ids, ``q`` from the query language's grammar and beyond it,
cursors real, mutated and forged, headers of every kind, and write bodies
shaped after the models (every column's edge values, relation values of
every shape, bogus fields) or not JSON at all.  What it learns from answers
(ids created, cursors and ETags handed out) feeds later requests.
"""

from __future__ import annotations

import base64
import json
import random
import string
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from attrs import define, field, frozen
from sqlalchemy import inspect

from chinook_svc import models

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
OPERATORS = [
    "==", "eq", "equals", "equal_to", "equals_to", "!=", "ne", "neq", "not_equal_to",
    "does_not_equal", ">", "gt", "<", "lt", ">=", "ge", "gte", "geq", "<=", "le", "lte",
    "leq", "in", "not_in", "is_null", "is_not_null", "like", "ilike", "has", "any", "nope", "",
]  # fmt: skip
EDGE_INTS = [
    0, 1, -1, 2**15, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**53 + 1, 2**63 - 1, 2**63,
    -(2**63), -(2**63) - 1, 10**30, 10**400,
]  # fmt: skip
EDGE_FLOATS = [0.0, -0.0, 0.5, 0.125, 0.995, 1e300, -1e300, 1e-300, 5e-324, 1.7976931348623157e308]
EDGE_STRINGS = [
    "", " ", "x", "Rock", "日本語", "😀", "a\x00b", "\ud800", "\udfff x", "%", "_", "\\", "'; --",
    "<b>", "2009-01-01T00:00:00", "2009-01-01", "2009-13-45T25:61:61", "2009-01-01T00:00:00+05:00",
    "CURRENT_TIMESTAMP", "NaN", "1e400", "5", "-0", "true", "null", "x" * 121, "x" * 201,
    "é" * 160, "y" * 3000,
]  # fmt: skip
ACCEPTS = ["*/*", "application/json", "text/html", "application/xml;q=0.9, */*;q=0.1", "x", ""]
CONTENT_TYPES = [
    "application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
    "application/json; charset=latin-1", "text/plain", "application/x-www-form-urlencoded",
    "application/jsonx", "", None, "multipart/form-data; boundary=x", "multipart/form-data",
]  # fmt: skip
#: Bad Host headers (``None``: none at all).
HOSTS = ["a..b", ".", "x" * 64 + ".example", "", "[::1", "127.0.0.1:99999", "é.example", None]
#: Ways to break the framing of a request (see :meth:`Request.wire`).
FRAMINGS = ["dup-length", "bad-length", "bad-version", "space-target", "bare-lf", "folded"]


@frozen
class Model:
    """What the generator knows of one collection."""

    name: str
    pk: str
    columns: dict[str, Any]  # name -> SQLAlchemy type
    relations: dict[str, tuple[str, bool]]  # name -> (target collection, to-many)
    count: int  # rows in the sample
    required: tuple[str, ...]  # NOT NULL columns without a default, set by no sequence
    keys: tuple[str, ...]  # the primary-key columns


SAMPLE_ROWS = {
    "albums": 347, "artists": 275, "customers": 59, "employees": 8, "genres": 25,
    "invoices": 412, "invoice_items": 2240, "media_types": 5, "playlists": 18,
    "playlist_track": 8715, "tracks": 3503,
}  # fmt: skip


def chinook_models() -> dict[str, Model]:
    """The Chinook collections, as the service names them."""
    by_class = {model: name for name, model in models.DEFAULT.by_table().items()}
    found = {}
    for name, model in models.DEFAULT.by_table().items():
        mapper = inspect(model)
        columns = {p.key: p.columns[0].type for p in mapper.column_attrs}
        pk = sorted(p.key for p in mapper.column_attrs if p.columns[0].primary_key)[0]
        relations = {
            r.key: (by_class[r.mapper.class_], bool(r.uselist)) for r in mapper.relationships
        }
        keys = [p.key for p in mapper.column_attrs if p.columns[0].primary_key]
        required = tuple(
            p.key
            for p in mapper.column_attrs
            if not p.columns[0].nullable
            and p.columns[0].default is None
            and (len(keys) > 1 or p.key not in keys)
        )
        found[name] = Model(name, pk, columns, relations, SAMPLE_ROWS[name], required, tuple(keys))
    return found


@frozen
class Request:
    """One request as it goes on the wire."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    chunked: bool = False
    host: str | None = ""  # "" for the server's own; None for no Host header
    framing: str = ""  # one of FRAMINGS, or "" for a well-formed request

    @property
    def writes(self) -> bool:
        """Whether it may change the database (any method but GET, HEAD and OPTIONS)."""
        return self.method not in SAFE_METHODS

    def wire(self, host: str) -> bytes:
        """The bytes sent: request line, Host, the headers, Content-Length, the body."""
        target = self.target + (" x" if self.framing == "space-target" else "")
        version = "HTTP/9.9" if self.framing == "bad-version" else "HTTP/1.1"
        lines = [f"{self.method} {target} {version}", "Connection: close"]
        if self.host is not None:
            lines.append(f"Host: {self.host or host}")
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.framing == "dup-length":
            lines.append("Content-Length: 3")
        elif self.framing == "bad-length":
            lines.append("Content-Length: x")
        elif self.framing == "folded":
            lines.append("X-Folded: a\r\n b")
        body = self.body
        if self.chunked:
            lines.append("Transfer-Encoding: chunked")
            pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
            body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        elif body or self.method in ("POST", "PATCH", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        newline = "\n" if self.framing == "bare-lf" else "\r\n"
        head = newline.join(lines) + newline * 2
        return head.encode("utf-8") + body

    def describe(self) -> str:
        """A short, printable description for a failure message."""
        body = self.body[:300].decode("utf-8", "backslashreplace")
        odd = f" host={self.host!r}" if self.host != "" else ""
        odd += f" framing={self.framing}" if self.framing else ""
        odd += " chunked" if self.chunked else ""
        headers = [(k, v[:100]) for k, v in self.headers]
        return f"{self.method} {self.target[:300]} {headers!r}{odd} body={body!r}"


@define
class Learned:
    """What answers taught: ids that exist, cursors and ETags handed out."""

    ids: dict[str, list[Any]] = field(factory=dict)
    cursors: list[tuple[str, str]] = field(factory=list)
    etags: list[str] = field(factory=list)


class HostileRequests:
    """A seeded stream of hostile requests for the Chinook service.

    Args:
        rng: the source of every choice (seed it to replay a run).
        token: the API token (most writes carry it).
    """

    def __init__(self, rng: random.Random, token: str) -> None:
        self.rng = rng
        self.token = token
        self.models = chinook_models()
        self.learned = Learned()

    # -- building blocks -------------------------------------------------------------------

    def pick(self, options: list[Any]) -> Any:
        return options[self.rng.randrange(len(options))]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def model(self) -> Model:
        return self.pick(list(self.models.values()))

    def some_id(self, model: Model) -> Any:
        """An id of ``model``: mostly one that exists, sometimes anything at all."""
        learned = self.learned.ids.get(model.name, [])
        if self.chance(0.75):
            if learned and self.chance(0.3):
                return self.pick(learned)
            return self.rng.randint(1, model.count)
        return self.pick(
            [*EDGE_INTS, "abc", "1.5", " 1", "1 ", "", "٣", "0x10", "1e3", None, "1\x00", "%"]
        )

    def scalar(self) -> Any:
        kind = self.rng.randrange(6)
        if kind == 0:
            return self.pick(EDGE_INTS) if self.chance(0.6) else self.rng.randint(-999, 99999)
        if kind == 1:
            return self.pick(EDGE_FLOATS) if self.chance(0.6) else self.rng.uniform(-1e6, 1e6)
        if kind == 2:
            return self.pick(EDGE_STRINGS) if self.chance(0.7) else self.text()
        if kind == 3:
            return self.chance(0.5)
        return None

    def text(self, size: int = 12) -> str:
        alphabet = string.printable + "éß日😀\u0301\u202e"
        return "".join(self.pick(list(alphabet)) for _ in range(self.rng.randrange(size)))

    def value(self, depth: int = 2) -> Any:
        """Any JSON value (bounded nesting)."""
        if depth <= 0 or self.chance(0.7):
            return self.scalar()
        if self.chance(0.5):
            return [self.value(depth - 1) for _ in range(self.rng.randrange(4))]
        return {self.pick([*EDGE_STRINGS[:6], "name", "id"]): self.value(depth - 1)}

    def column_value(self, coltype: Any) -> Any:
        """A value for a column: usually of its type (at its edges), sometimes anything."""
        try:
            python = coltype.python_type
        except NotImplementedError:
            python = None
        if self.chance(0.15):
            return self.value()
        if python is int:
            return self.pick(EDGE_INTS) if self.chance(0.5) else self.rng.randint(1, 5000)
        if python is str:
            return self.pick(EDGE_STRINGS) if self.chance(0.5) else self.text(30)
        if python in (float, Decimal):
            return self.pick([*EDGE_FLOATS, 0.99, 1.98]) if self.chance(0.6) else 0.99
        return self.pick(EDGE_STRINGS[13:20])  # dates

    def related(self, target: Model) -> Any:
        """One related object: an existing row by key, a new one, or junk."""
        if self.chance(0.6):
            return {target.pk: self.some_id(target)}
        if self.chance(0.5):
            return self.fields(target, nested=False)
        return self.value(1)

    def relation_value(self, target: Model, many: bool) -> Any:
        if self.chance(0.2):
            return self.value()
        if many and self.chance(0.1):
            return {self.pick(["add", "remove"]): self.value()}
        if not many:
            return None if self.chance(0.2) else self.related(target)
        items = [self.related(target) for _ in range(self.rng.randrange(3))]
        if self.chance(0.5):
            return items
        change: dict[str, Any] = {}
        if self.chance(0.6):
            change["add"] = items if self.chance(0.8) else self.value(1)
        if self.chance(0.6):
            removed = [{target.pk: self.some_id(target)} for _ in range(self.rng.randrange(3))]
            for item in removed:
                if self.chance(0.3):
                    item["__delete__"] = self.pick([True, False, 1, "yes"])
            change["remove"] = removed if self.chance(0.8) else self.value(1)
        if self.chance(0.1):
            change[self.pick(["replace", "", "Add"])] = items
        return change

    def fields(self, model: Model, nested: bool = True) -> dict[str, Any]:
        """A body for ``model``: some of its columns and relations, now and then a bogus field."""
        body: dict[str, Any] = {}
        for name, coltype in model.columns.items():
            if self.chance(0.6) and name != model.pk:
                body[name] = self.column_value(coltype)
        if nested:
            for name, (target, many) in model.relations.items():
                if self.chance(0.3):
                    body[name] = self.relation_value(self.models[target], many)
        if self.chance(0.05):
            body[self.pick(["nope", "", "__class__", "_sa_instance_state", "q", "title__x"])] = 1
        return body

    # -- q and cursors -----------------------------------------------------------------------

    def field_name(self, model: Model) -> str:
        names = list(model.columns) + list(model.relations)
        if self.chance(0.15):
            return self.pick(["nope", "", "artist__name", "tracks__name", "__class__", "a" * 300])
        name = self.pick(names)
        if name in model.relations and self.chance(0.5):
            target = self.models[model.relations[name][0]]
            return f"{name}__{self.pick(list(target.columns))}"
        return name

    def a_filter(self, model: Model, depth: int) -> Any:
        if depth > 0 and self.chance(0.15):
            kind = self.pick(["and", "or", "AND", "not"])
            return {kind: [self.a_filter(model, depth - 1) for _ in range(self.rng.randrange(3))]}
        name = self.field_name(model)
        op = self.pick(OPERATORS)
        item: dict[str, Any] = {"name": name, "op": op}
        if op in ("has", "any") and name in model.relations and self.chance(0.6):
            target = self.models[model.relations[name][0]]
            item["val"] = self.a_filter(target, depth - 1)
        elif op in ("in", "not_in") and self.chance(0.7):
            item["val"] = [self.scalar() for _ in range(self.rng.randrange(5))]
        elif self.chance(0.1):
            item["field"] = self.field_name(model)
        elif self.chance(0.9):
            item["val"] = (
                self.column_value(model.columns.get(name))
                if name in model.columns
                else self.scalar()
            )
        return item

    def functions(self, model: Model) -> list[Any]:
        """``eval`` functions: real ones on real fields, mostly."""
        names = ["count", "sum", "avg", "min", "max", "nope", "", "count_distinct", "SUM"]
        found: list[Any] = []
        for _ in range(self.rng.randrange(4)):
            item = {"name": self.pick(names), "field": self.field_name(model)}
            found.append(item if self.chance(0.9) else self.value(1))
        return found

    def q(self, model: Model, evaluate: bool = False) -> str:
        """A ``q``: usually from the grammar, sometimes broken JSON or another type."""
        if evaluate and self.chance(0.8):
            return json.dumps({"functions": self.functions(model)})
        if self.chance(0.1):
            return self.pick(
                ["{", "[]", "null", "1", '"x"', "{'a': 1}", "NaN", '{"filters": 5}', self.text()]
            )
        query: dict[str, Any] = {}
        if self.chance(0.7):
            query["filters"] = [self.a_filter(model, 2) for _ in range(self.rng.randrange(4))]
        if self.chance(0.3):
            direction = self.pick(["asc", "desc", "DESC", "up", None])
            query["order_by"] = [{"field": self.field_name(model), "direction": direction}]
        if self.chance(0.1):
            query["group_by"] = [{"field": self.field_name(model)}]
        for key in ("limit", "offset"):
            if self.chance(0.1):
                query[key] = self.pick([0, 5, -1, 2**40, "5", None, 1.5])
        if self.chance(0.1):
            query["single"] = self.pick([True, False, "yes", 1])
        if self.chance(0.05):
            query[self.pick(["functions", "x", ""])] = self.value()
        return json.dumps(query)

    def cursor(self) -> str:
        """A real cursor, a mutated one, a forged one, or junk."""
        learned = self.learned.cursors
        if learned and self.chance(0.6):
            _, real = self.pick(learned)
            if self.chance(0.4):
                return real
            if self.chance(0.5) and real:
                at = self.rng.randrange(len(real))
                return real[:at] + self.pick(list("AZaz09-_=.!~")) + real[at + 1 :]
            payload = json.loads(base64.urlsafe_b64decode(real + "=" * (-len(real) % 4)))
            payload["v"] = [self.scalar() for _ in payload["v"]]
            text = json.dumps(payload).encode()
            return base64.urlsafe_b64encode(text).decode().rstrip("=")
        junk = json.dumps(self.value()).encode() if self.chance(0.5) else self.rng.randbytes(12)
        return base64.urlsafe_b64encode(junk).decode().rstrip("=")

    # -- requests -------------------------------------------------------------------------------

    def segment(self, value: Any) -> str:
        return quote(str(value), safe="") if self.chance(0.9) else quote(str(value), safe="/%")

    def path(self, model: Model, kind: str) -> str:
        """A URL of ``kind`` (``collection``, ``instance``, ``relation``, ``member``, ``eval``)."""
        name = model.name
        if self.chance(0.08):
            name = self.pick([name.upper(), name.title(), "nope", "", "..", "%2e%2e", "eval"])
        base = f"/api/{self.segment(name)}"
        if kind == "collection":
            return base
        if kind == "eval":
            return f"/api/eval/{self.segment(name)}"
        instance = f"{base}/{self.segment(self.some_id(model))}"
        if kind == "instance":
            return instance
        relation = self.pick([*model.relations, "nope"]) if model.relations else "nope"
        if self.chance(0.9) and model.relations:
            relation = self.pick(list(model.relations))
        rel_path = f"{instance}/{self.segment(relation)}"
        if kind == "relation" or relation not in model.relations:
            return rel_path
        target = self.models[model.relations[relation][0]]
        return f"{rel_path}/{self.segment(self.some_id(target))}"

    def query_string(self, model: Model, evaluate: bool = False) -> str:
        params = []
        if self.chance(0.5) or evaluate:
            params.append(("q", self.q(model, evaluate)))
        if self.chance(0.2):
            params.append(("page", self.pick(["1", "2", "0", "-1", "abc", "99999999999999", ""])))
        if self.chance(0.2):
            params.append(("results_per_page", self.pick(["1", "100", "0", "-5", "x", "1e9"])))
        if self.chance(0.15):
            params.append(("cursor", self.cursor()))
        if self.chance(0.05):
            params.append(("callback", self.pick(["cb", "alert(1)", ""])))
        if self.chance(0.05):
            params.append((self.text(6), self.text(6)))
        if params and self.chance(0.05):
            params.append(self.pick(params))  # a parameter twice
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
        if self.chance(0.03):
            query += self.pick(["&", "&&", "&q", "&=x", ";page=2", "&page=1+1"])
        return query

    def headers(self, write: bool) -> list[tuple[str, str]]:
        headers = []
        if write and self.chance(0.9):
            headers.append(("Authorization", f"Bearer {self.token}"))
        elif self.chance(0.1):
            headers.append(
                ("Authorization", self.pick(["Bearer", "Bearer x", "Basic eA==", "x" * 200]))
            )
        if self.chance(0.3):
            headers.append(("Accept", self.pick(ACCEPTS)))
        if self.chance(0.2):
            headers.append(("Accept-Encoding", self.pick(["gzip", "deflate, gzip;q=0", "br", "x"])))
        if self.chance(0.1):
            etag = self.pick(self.learned.etags) if self.learned.etags else '"x"'
            headers.append(("If-None-Match", self.pick([etag, "*", "garbage", f"W/{etag}"])))
        if self.chance(0.1):
            name = self.pick(["X-Forwarded-For", "X-Forwarded-Proto", "Origin", "Cookie", "Range",
                              "If-Modified-Since", "X-Custom", "Referer"])  # fmt: skip
            headers.append((name, self.text(20).replace("\r", "").replace("\n", "")))
        return headers

    def body(self, model: Model, method: str) -> tuple[bytes, str | None]:
        content_type = "application/json" if self.chance(0.8) else self.pick(CONTENT_TYPES)
        if self.chance(0.8):
            data = self.fields(model) if self.chance(0.9) else self.value()
            return json.dumps(data).encode(), content_type
        if self.chance(0.03):
            return b'{"name": "' + b"x" * (1 << 20) + b'"}', content_type  # over the limit
        raw = self.pick([
            b"", b"{", b"[1, 2]", b"null", b"\xff\xfe{}", b"\xef\xbb\xbf{}", b"[" * 3000,
            b'{"name": NaN}', b'{"name": "\\ud800"}', b'{"a": 1, "a": 2}', self.rng.randbytes(40),
        ])  # fmt: skip
        return raw, content_type

    def next(self) -> Request:
        """The next request: mostly reads, a third writes, aimed at the URLs that take them."""
        model = self.model()
        method = self.pick(
            ["GET"] * 10 + ["HEAD", "OPTIONS"] + ["POST"] * 3 + ["PATCH"] * 3
            + ["PUT", "DELETE", "DELETE", self.pick(["get", "TRACE", "FOO", "PATCH "])]
        )  # fmt: skip
        usual = {"POST": "collection", "PATCH": "instance", "PUT": "instance"}
        if method == "DELETE":
            kind = self.pick(["instance", "instance", "member"])
        else:
            kind = usual.get(method, self.pick(["collection"] * 4 + ["instance"] * 2 + [
                "relation", "member", "eval"]))  # fmt: skip
        if self.chance(0.1):
            kind = self.pick(["collection", "instance", "relation", "member", "eval"])
        if self.chance(0.04):
            target = self.pick(
                ["/", "/healthz", "/api", "/api/", "/nope", "//api//albums", "/healthz/x"]
            )
        elif self.chance(0.02):
            ident = self.segment(self.some_id(self.models["artists"]))
            target = self.pick([f"/aggregate?id={ident}", "/aggregate", f"/aggregate/x?id={ident}"])
        else:
            target = self.path(model, kind)
        if method in SAFE_METHODS or self.chance(0.1):
            query = self.query_string(model, "/api/eval/" in target)
            if query:
                target = f"{target}?{query}"
        headers = self.headers(method not in SAFE_METHODS)
        body = b""
        if method in ("POST", "PATCH", "PUT") or self.chance(0.03):
            body, content_type = self.body(model, method.strip())
            if content_type is not None:
                headers.append(("Content-Type", content_type))
        target = self.oddities(target, headers)
        return Request(
            method.strip(),
            target,
            tuple(headers),
            body,
            chunked=self.chance(0.05),
            host=self.pick(HOSTS) if self.chance(0.03) else "",
            framing=self.pick(FRAMINGS) if self.chance(0.03) else "",
        )

    def oddities(self, target: str, headers: list[tuple[str, str]]) -> str:
        """Now and then: ``*``, bytes that are not UTF-8, a line or a header past 16 KiB."""
        if self.chance(0.02):
            return "*"
        if self.chance(0.03):
            at = self.rng.randrange(len(target) + 1)
            target = target[:at] + self.pick(["%ff", "%c3%28", "%ed%a0%80", "%80"]) + target[at:]
        if self.chance(0.02):
            glue = "&" if "?" in target else "?"
            target += f"{glue}pad={'p' * self.rng.randint(8000, 20000)}"
        if self.chance(0.02):
            headers.append(("X-Long", "h" * self.rng.randint(8000, 20000)))
        return target

    # -- learning --------------------------------------------------------------------------------

    def learn(self, request: Request, status: int, headers: dict[str, str], body: Any) -> None:
        """Remember ids created or deleted, and cursors and ETags handed out."""
        if "etag" in headers:
            self.learned.etags = [*self.learned.etags[-20:], headers["etag"]]
        if not isinstance(body, dict):
            return
        if body.get("next_cursor"):
            self.learned.cursors = [
                *self.learned.cursors[-20:],
                (request.target, body["next_cursor"]),
            ]
        segments = request.target.split("?")[0].split("/")
        if request.method == "POST" and status == 201 and len(segments) == 3:
            model = self.models.get(segments[2])
            if model is not None and model.pk in body:
                self.learned.ids.setdefault(model.name, []).append(body[model.pk])
