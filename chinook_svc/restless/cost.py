"""What a read is expected to cost, decided on the reactor thread before it queues.

The estimate only has to separate the calls that take milliseconds from
those that may take up to the statement timeout, so that the runner can keep
a thread for the cheap ones (``runner.Cost``):

* cheap: one row by its primary key (``/api/albums/1``), one member of a
  relation, a page of a collection without a search, no larger than the
  API's default page;
* heavy: anything with a search (``q`` other than ``{}``), a page larger
  than the default, a whole relation, functions (``/api/eval/...``).

The same estimate is made from the endpoint method about to run
(:func:`read_cost`, in the routes) and from the bare URL
(:func:`url_cost`, in front of the routing, to refuse cheaply).
"""

from __future__ import annotations

from .runner import Cost

#: The default page size (``ApiOptions.results_per_page``).
DEFAULT_PAGE = 10
#: Endpoint methods that read one row by key.
_BY_KEY = frozenset({"get_single", "get_relation_member"})
#: The endpoint method for a URL with this many segments after the collection's.
_BY_DEPTH = {0: "get_many", 1: "get_single", 2: "get_relation", 3: "get_relation_member"}


def read_cost(
    handler: str, q: str | None, results_per_page: str | None, default_page: int = DEFAULT_PAGE
) -> Cost:
    """The cost of a GET served by the ``Endpoint`` method named ``handler``.

    Args:
        handler: the endpoint method's name (``get_many``, ``get_single`` ...).
        q: the request's ``q`` argument.
        results_per_page: the request's ``results_per_page`` argument.
        default_page: the API's default page size.
    """
    if handler in _BY_KEY:
        return Cost.LIGHT
    if handler != "get_many":
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
    return read_cost(_BY_DEPTH.get(depth, "get_many"), q, results_per_page)


__all__ = ["DEFAULT_PAGE", "read_cost", "url_cost"]
