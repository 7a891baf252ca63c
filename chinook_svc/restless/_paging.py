"""Pages of a collection: page size and number, the page envelope, the ``Link`` header.

flask-restless 0.17's pagination (``results_per_page``, ``page``,
``{"num_results", "objects", "page", "total_pages"}``, a ``Link`` header with
``next`` and ``last``), with two deviations: a ``page`` that is not a positive
integer is a 400, and the links keep ``q``.  Keyset pages (``_keyset``) have
only a ``next`` link, to the next cursor.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from ._errors import ApiError
from ._messages import ApiRequest
from ._options import ApiOptions

_INTEGER = re.compile(r"-?[0-9]+")

Raw = dict[str, Any]


def results_per_page(request: ApiRequest, options: ApiOptions) -> int:
    """0.17's ``_compute_results_per_page``."""
    default = options.results_per_page
    try:
        size = int(request.arg("results_per_page"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        size = default
    if size <= 0:
        size = default
    return min(size, options.max_results_per_page)


def page_number(request: ApiRequest) -> int:
    """The requested page; 400 unless it is a positive integer (a deviation)."""
    text = request.arg("page")
    if text is None:
        return 1
    text = text.strip()
    if not _INTEGER.fullmatch(text) or len(text) > 12 or int(text) < 1:
        raise ApiError(400, "page must be a positive integer")
    return int(text)


def envelope(
    request: ApiRequest,
    options: ApiOptions,
    count: Callable[[], int],
    rows: Callable[[int, int | None], list[Raw]],
    build: Callable[[list[Raw]], list[dict[str, Any]]],
    together: Callable[[int, int], tuple[int, list[Raw]]] | None = None,
) -> dict[str, Any]:
    """The page the request asks for: ``count`` rows in all, ``rows(start, size)``, built.

    With ``together(start, size)``, which gives the count and up to ``size``
    rows from ``start`` at once (one round trip, ``_together``), a sized page
    is fetched with it instead.
    """
    size = results_per_page(request, options)
    page = page_number(request) if size > 0 else 1
    if size > 0 and together is not None:
        start = (page - 1) * size
        total, found = together(start, size)
        stop = min(total, start + size)
        objects = build(found[: stop - start]) if stop > start else []
        return {
            "num_results": total,
            "objects": objects,
            "page": page,
            "total_pages": math.ceil(total / size),
        }
    total = count()
    if size > 0:
        start = (page - 1) * size
        stop = min(total, start + size)
        pages = math.ceil(total / size)
    else:
        start, stop, pages = 0, total, 1
    objects = build(rows(start, stop - start)) if stop > start else []
    return {"num_results": total, "objects": objects, "page": page, "total_pages": pages}


def _keep_q(q_text: str | None) -> str:
    return "" if q_text is None else "&q=" + quote(q_text, safe="")


def link_header(
    request: ApiRequest, options: ApiOptions, page: int, last: int, q_text: str | None
) -> str:
    """0.17's ``Link`` header; the links keep ``q`` (a deviation)."""
    size = results_per_page(request, options)
    keep = _keep_q(q_text)
    template = '<{0}?page={1}&results_per_page={2}{3}>; rel="{4}"'
    links = []
    if page < last:
        links.append(template.format(request.base_url, page + 1, size, keep, "next"))
    links.append(template.format(request.base_url, last, size, keep, "last"))
    return ", ".join(links)


def cursor_link(request: ApiRequest, cursor: str, size: int, q_text: str | None) -> str:
    """The ``Link`` header of a keyset page: the next page's cursor (and ``q``)."""
    keep = _keep_q(q_text)
    return f'<{request.base_url}?cursor={cursor}&results_per_page={size}{keep}>; rel="next"'
