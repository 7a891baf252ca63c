"""``GET /aggregate``: the Klein routes of the fan-out endpoint.

``source`` parameters pick configured sources by name (none: all of them);
every other parameter fills the placeholders of the picked sources' URLs.
Clients never supply URLs: an unknown source, an unknown parameter, a repeated
or missing placeholder value, or a value that fails its check is a 400.

The app routes ``/`` and is meant to be mounted at ``/aggregate``, e.g. by a
root Klein app's ``@app.route("/aggregate", branch=True)`` handler returning
``AggregateRoutes.resource()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from klein import Klein
from treq.client import HTTPClient
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from ..restless import ApiError, add_error_handling, json_reply, write_reply
from .fanout import Aggregator, Call
from .settings import AggregateSettings
from .sources import SOURCE_PARAMETER, PlaceholderError, Source


def query_arguments(request: IRequest) -> dict[str, list[str]]:
    """The request's query arguments as text (400 if they are not UTF-8)."""
    raw: Mapping[bytes, Sequence[bytes]] = request.args or {}
    try:
        return {k.decode("utf-8"): [v.decode("utf-8") for v in vs] for k, vs in raw.items()}
    except UnicodeDecodeError:
        raise ApiError(400, "Query arguments must be UTF-8", error="invalid_encoding") from None


def pick_sources(settings: AggregateSettings, names: Sequence[str]) -> list[Source]:
    """The sources named (all, when none is), each once, in the order given."""
    if not settings.sources:
        raise ApiError(404, "No aggregate sources are configured", error="no_sources")
    if not names:
        return list(settings.sources)
    picked: list[Source] = []
    for name in dict.fromkeys(names):
        source = settings.source(name)
        if source is None:
            raise ApiError(400, "Unknown source", error="unknown_source", source=name[:100])
        picked.append(source)
    return picked


def plan_calls(settings: AggregateSettings, args: Mapping[str, Sequence[str]]) -> list[Call]:
    """The upstream calls an aggregate request asks for (``ApiError`` 400/404 if it cannot be)."""
    sources = pick_sources(settings, args.get(SOURCE_PARAMETER, ()))
    known = frozenset().union(*(source.template.names for source in sources))
    values: dict[str, str] = {}
    for name, given in sorted(args.items()):
        if name == SOURCE_PARAMETER:
            continue
        if name not in known:
            raise ApiError(
                400, "Unknown parameter", error="unknown_parameter", parameter=name[:100]
            )
        if len(given) != 1:
            raise ApiError(
                400, "Parameter given more than once", error="repeated_parameter", parameter=name
            )
        values[name] = given[0]
    calls = []
    for source in sources:
        try:
            url = source.template.fill(values)
        except PlaceholderError as e:
            raise ApiError(
                400,
                f"Invalid parameter {e.parameter}: {e.reason}",
                error="invalid_parameter",
                parameter=e.parameter,
                source=source.name,
            ) from None
        calls.append(Call(source.name, url))
    return calls


class AggregateRoutes:
    """The Klein app of ``GET /aggregate``.

    Args:
        settings: the sources and limits.
        http_client: the shared upstream client (from
            :func:`~chinook_svc.aggregate.client.make_http_client`; ``StubTreq``
            in tests).
        clock: the clock deadlines run on (the reactor in the service).
    """

    app = Klein()
    log = Logger()

    def __init__(
        self, settings: AggregateSettings, http_client: HTTPClient, clock: IReactorTime
    ) -> None:
        self.settings = settings
        self.aggregator = Aggregator(settings, http_client, clock)

    def resource(self) -> IResource:
        """The ``twisted.web`` resource to mount at ``/aggregate``."""
        return self.app.resource()

    # strict_slashes=False: mounted at /aggregate, the app sees "" as well as "/".
    @app.route("/", methods=["GET"], strict_slashes=False)
    async def aggregate(self, request: IRequest) -> bytes:
        """Call the requested sources concurrently and answer with the merged report."""
        calls = plan_calls(self.settings, query_arguments(request))
        report = await self.aggregator.run(calls)
        self.log.debug(
            "aggregate of {count} sources: {status} in {elapsed_ms} ms",
            count=len(calls),
            status=report.status,
            elapsed_ms=report.elapsed_ms,
        )
        return write_reply(request, json_reply(report.status, report.to_json(), report.headers()))

    add_error_handling(app)
