"""Keyset ("cursor") pagination: page 10,000 costs what page 1 costs.

Offset pagination makes the database walk past every skipped row, so deep
pages get slower and slower.  A request carrying ``cursor`` (empty for the
first page) is served by key instead: the page is the ``results_per_page``
rows that come after the cursor's row in the search's order (``order_by``
plus the primary key), found with a ``WHERE (k1, k2, ...) > (v1, v2, ...)``
condition an index can serve, and no count is made.  The answer is
``{"objects": [...], "next_cursor": "..."}`` (``null`` on the last page) and a
``Link: <...?cursor=...>; rel="next"`` header.

A cursor is opaque to clients: the last row's key values and a fingerprint of
the ``q`` it belongs to (a cursor used with another ``q`` is a 400).  It is
not signed, on purpose: it holds nothing a client could not ask for with a
filter (``{"name": "title", "op": ">", "val": ...}``), so a forged cursor can
reach no row a filter could not, and an unsigned cursor stays valid on every
worker process, every instance behind a load balancer and across restarts,
with no key to share or rotate.  Instead it is validated whole: base64url of
at most ``MAX_CURSOR`` characters, strict JSON (:func:`decode_json`: no lone
surrogate, no NaN), exactly the keys ``q`` and ``v``, one scalar per key
column, each a value its column can hold (``_coerce.cursor_value``); anything
else is a 400, never a 500.  Keyset order is limited to the model's own columns: ``rel__field``
and hybrid properties are not supported, nor are ``group_by``, ``limit`` and
``offset``, which have no meaning here.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import operator
import re
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, false, or_, true

from ._coerce import cursor_value
from ._dialects import DialectRules
from ._errors import QueryError
from ._query import Search, decode_json
from ._schema import ModelInfo

KeyOrder = tuple[tuple[str, str], ...]

#: The longest cursor accepted, in characters (a request line holds no more anyway).
MAX_CURSOR = 16384
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_SCALARS = (str, int, float, bool)


def key_order(info: ModelInfo, search: Search) -> KeyOrder:
    """The (column, direction) order of a keyset page: ``order_by`` plus the primary key."""
    if search.group_by or search.limit is not None or search.offset is not None:
        raise QueryError("a cursor cannot be combined with group_by, limit or offset")
    order = []
    for entry in search.order_by:
        if entry.field not in info.columns:
            raise QueryError(f"a cursor can only follow the model's own columns ({entry.field!r})")
        order.append((entry.field, entry.direction))
    given = {name for name, _ in order}
    order += [(pk, "asc") for pk in info.pk_names if pk not in given]
    return tuple(order)


def _fingerprint(q_key: str) -> str:
    return hashlib.blake2b(q_key.encode("utf-8"), digest_size=6).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def encode_cursor(values: tuple[Any, ...], q_key: str) -> str:
    """The opaque cursor for the row with these key values."""
    payload = json.dumps({"q": _fingerprint(q_key), "v": [_plain(v) for v in values]})
    return base64.urlsafe_b64encode(payload.encode("utf-8")).decode("ascii").rstrip("=")


def _payload(token: str) -> Any:
    if len(token) > MAX_CURSOR or not _BASE64URL.fullmatch(token):
        raise QueryError("invalid cursor")
    try:
        return decode_json(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, QueryError):
        raise QueryError("invalid cursor") from None


def decode_cursor(token: str, info: ModelInfo, order: KeyOrder, q_key: str) -> tuple[Any, ...]:
    """The key values a cursor holds, typed like their columns (400 if it is not one of ours)."""
    payload = _payload(token)
    if not isinstance(payload, dict) or set(payload) != {"q", "v"}:
        raise QueryError("invalid cursor")
    fingerprint, values = payload["q"], payload["v"]
    if fingerprint != _fingerprint(q_key):
        raise QueryError("this cursor belongs to another query")
    if not isinstance(values, list) or len(values) != len(order):
        raise QueryError("invalid cursor")
    if not all(v is None or isinstance(v, _SCALARS) for v in values):
        raise QueryError("invalid cursor")
    return tuple(
        cursor_value(info, name, value) for (name, _), value in zip(order, values, strict=True)
    )


def after(dialect: DialectRules, info: ModelInfo, order: KeyOrder, values: tuple[Any, ...]) -> Any:
    """``WHERE`` rows that come strictly after ``values`` in ``order``.

    NULLs sort first ascending and last descending (the engine's order on
    every database), so the comparison treats them as the smallest value.
    """

    def equal(expr: Any, value: Any) -> Any:
        return expr.is_(None) if value is None else dialect.compare(operator.eq, expr, value)

    def later(expr: Any, value: Any, direction: str) -> Any:
        if direction == "asc":
            return expr.is_not(None) if value is None else dialect.compare(operator.gt, expr, value)
        if value is None:
            return false()
        return or_(dialect.compare(operator.lt, expr, value), expr.is_(None))

    terms = []
    for i, (name, direction) in enumerate(order):
        expr = info.columns[name]
        same = [equal(info.columns[n], v) for (n, _), v in zip(order[:i], values, strict=False)]
        terms.append(and_(true(), *same, later(expr, values[i], direction)))
    return or_(*terms)
