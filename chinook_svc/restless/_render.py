"""Renderers: the one step between what a read or write computed and the bytes sent.

Reads and writes return a :class:`Result` (status, data, and the paging and
location links); a :class:`Renderer` turns it into a
:class:`~chinook_svc.restless._messages.Reply`.  The renderer is chosen per
request by :func:`renderer_for` (datasette's ``renderer.py``, PostgREST's
media-type handlers): today flask-restless 0.17's JSON, and JSONP where an API
allows it and a GET names a ``callback``.

Rendering (and so JSON encoding) runs in the worker thread, like the query;
so do the ETag and gzip that follow (``_representation``).  A renderer's
:attr:`~Renderer.key` names everything that chose it: the response cache keeps
answers under it, so that an answer in one format is never served to a
request that chose another.

To add an output format: a :class:`Renderer` and the rule in
:func:`renderer_for` that picks it.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from attrs import frozen

from ._errors import ApiError
from ._messages import ApiRequest, Reply, json_reply
from ._serialize import encode

#: A JSONP callback name: a JavaScript identifier path, bounded.
_CALLBACK = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.]{0,63}")


@frozen
class Result:
    """What a read or a write answers, before any format is chosen.

    Attributes:
        status: the HTTP status.
        data: the JSON-able answer (ignored when ``empty``).
        link: the ``Link`` header: the next and last pages.
        location: the ``Location`` header: the URL of the object answered.
        empty: there is no body (204).
    """

    status: int
    data: Any = None
    link: str | None = None
    location: str | None = None
    empty: bool = False

    def headers(self) -> dict[str, str]:
        """The headers every format sends: ``Location`` and ``Link``, when given."""
        headers: dict[str, str] = {}
        if self.location is not None:
            headers["Location"] = self.location
        if self.link is not None:
            headers["Link"] = self.link
        return headers


#: The answer with no body.
NO_CONTENT = Result(204, empty=True)


class Renderer(Protocol):
    """Turns a :class:`Result` into a :class:`Reply` in one format."""

    @property
    def key(self) -> str:
        """Everything that chose this renderer, for the response cache's key."""

    def render(self, result: Result) -> Reply:
        """The reply for ``result``; raises :class:`ApiError` if it cannot be made."""


@frozen
class JsonRenderer:
    """flask-restless 0.17's JSON: the data as the body, sorted keys."""

    key: str = "json"

    def render(self, result: Result) -> Reply:
        """The JSON reply (no body for an empty result)."""
        if result.empty:
            return Reply(result.status, b"", (), None)
        return json_reply(result.status, result.data, result.headers())


@frozen
class JsonpRenderer:
    """0.17's JSONP: ``callback({"meta": {status, headers}, "data": ...})``.

    ``meta`` holds the status, the ``Content-Type`` and the response's other
    headers, its ``Link`` as a list of ``{"url", "rel"}`` objects (0.17's
    ``_headers_to_json``).

    Attributes:
        callback: the function name the client asked for (checked when rendering).
    """

    callback: str

    @property
    def key(self) -> str:
        """``jsonp:<callback>``: the callback is part of the body."""
        return "jsonp:" + self.callback

    def render(self, result: Result) -> Reply:
        """The JavaScript reply; 400 for a callback that is not a plain name."""
        if result.empty:
            return JSON_RENDERER.render(result)
        if not _CALLBACK.fullmatch(self.callback):
            raise ApiError(400, "Invalid JSONP callback name")
        headers = result.headers()
        meta: dict[str, Any] = {**headers, "Content-Type": JAVASCRIPT, "status": result.status}
        if result.link is not None:
            meta["Link"] = link_objects(result.link)
        body = self.callback.encode("ascii") + b"(" + encode({"meta": meta, "data": result.data})
        return Reply(result.status, body + b")", tuple(headers.items()), JAVASCRIPT)


JAVASCRIPT = "application/javascript"
#: One link of a ``Link`` header: ``<url>; rel="name"`` (the form ``_paging`` writes).
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="([^"]*)"')


def link_objects(header: str) -> list[dict[str, str]]:
    """A ``Link`` header as 0.17's JSONP ``meta`` gave it: ``[{"url": ..., "rel": ...}]``."""
    return [{"url": url, "rel": rel} for url, rel in _LINK.findall(header)]


JSON_RENDERER = JsonRenderer()


def renderer_for(request: ApiRequest, allow_jsonp: bool) -> Renderer:
    """The renderer a request asks for: JSONP for a GET naming a ``callback`` where allowed."""
    if allow_jsonp and request.method in ("GET", "HEAD"):
        callback = request.arg("callback")
        if callback is not None:
            return JsonpRenderer(callback)
    return JSON_RENDERER
