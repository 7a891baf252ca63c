"""What a read is expected to cost, decided on the reactor thread before it queues.

The estimate only has to separate the calls that take milliseconds from
those that may take up to the statement timeout, so that the runner can keep
a thread for the cheap ones (``runner.Cost``):

* cheap: one row by its primary key (``/api/albums/1``), one member of a
  relation, a page of a collection without a search, no larger than the
  API's default page;
* heavy: anything with a search (``q`` other than ``{}``), a page larger
  than the default, a whole relation, functions (``/api/eval/...``).
"""

from __future__ import annotations

from .endpoint import ApiRequest
from .runner import Cost

#: Handlers (``Endpoint`` method names) that read one row by key.
_BY_KEY = frozenset({"get_single", "get_relation_member"})


def read_cost(handler: str, request: ApiRequest, results_per_page: int) -> Cost:
    """The cost of a GET served by the ``Endpoint`` method named ``handler``.

    Args:
        handler: the endpoint method's name (``get_many``, ``get_single`` ...).
        request: the request (its ``q`` and ``results_per_page``).
        results_per_page: the API's default page size.
    """
    if handler in _BY_KEY:
        return Cost.LIGHT
    if handler != "get_many":
        return Cost.HEAVY
    search = (request.arg("q") or "").strip()
    if search not in ("", "{}"):
        return Cost.HEAVY
    size = (request.arg("results_per_page") or "").strip()
    if size.isdigit() and int(size) > results_per_page:
        return Cost.HEAVY
    return Cost.LIGHT


__all__ = ["read_cost"]
