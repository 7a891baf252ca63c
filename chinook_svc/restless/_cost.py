"""What a read is expected to cost, decided on the reactor thread before it queues.

The estimate only has to separate the calls that take milliseconds from
those that may take up to the statement timeout, so that the runner can keep
a thread for the cheap ones (``_runner.Cost``):

* cheap: one row by its primary key (``/api/albums/1``), one member of a
  relation, a page of a collection without a search, no larger than the
  API's default page;
* heavy: anything with a search (``q`` other than ``{}``), a page larger
  than the default, a whole relation, functions (``/api/eval/...``).

The same estimate is made from the URL kind the routes matched
(:func:`read_cost`, in ``_routes``) and from the bare URL (:func:`url_cost`,
in front of the routing, to refuse cheaply).
"""

from __future__ import annotations

from ._runner import Cost

#: The default page size (``ApiOptions.results_per_page``).
DEFAULT_PAGE = 10
#: URL kinds (``CollectionApi.handler``) that read one row by key.
_BY_KEY = frozenset({"instance", "member"})
#: The URL kind with this many segments after the collection's.
_BY_DEPTH = {0: "collection", 1: "instance", 2: "relation", 3: "member"}


def read_cost(
    kind: str, q: str | None, results_per_page: str | None, default_page: int = DEFAULT_PAGE
) -> Cost:
    """The cost of a GET of a URL of ``kind``.

    Args:
        kind: the URL's kind (``collection``, ``eval``, ``instance``,
            ``relation``, ``member``).
        q: the request's ``q`` argument.
        results_per_page: the request's ``results_per_page`` argument.
        default_page: the API's default page size.
    """
    if kind in _BY_KEY:
        return Cost.LIGHT
    if kind != "collection":
        return Cost.HEAVY
    if (q or "").strip() not in ("", "{}"):
        return Cost.HEAVY
    size = (results_per_page or "").strip()
    if size.isdigit() and int(size) > default_page:
        return Cost.HEAVY
    return Cost.LIGHT


def url_cost(collection: str, rest: list[str], q: str | None, results_per_page: str | None) -> Cost:
    """The cost of ``GET <prefix>/<collection>/<rest...>``, from the URL alone.

    Args:
        collection: the first segment after the API's prefix (``eval``: functions).
        rest: the segments after it (a trailing slash gives an empty last one).
        q, results_per_page: the request's arguments.
    """
    if collection == "eval":
        return Cost.HEAVY
    depth = len([segment for segment in rest if segment])
    return read_cost(_BY_DEPTH.get(depth, "collection"), q, results_per_page)


__all__ = ["DEFAULT_PAGE", "read_cost", "url_cost"]
