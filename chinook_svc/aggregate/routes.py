"""``GET /aggregate``: the Klein routes of the fan-out endpoint.

``source`` parameters pick configured sources by name (none: all of them);
every other parameter fills the placeholders of the picked sources' URLs.
Clients never supply URLs: an unknown source, an unknown parameter, a repeated
or missing placeholder value, or a value that fails its check is a 400.

A request that cannot have its upstream slots right now is refused at once
(:mod:`chinook_svc.aggregate.admission`): 429 when its client's share is
taken, 503 when the whole service's is, both with ``Retry-After``.  The client
is the peer address, or, when the peer is a loopback address (a reverse proxy
on the same machine, such as the nginx of ``deploy/``), the last address of
``X-Forwarded-For``.

The app routes ``/`` and is meant to be mounted at ``/aggregate``, e.g. by a
root Klein app's ``@app.route("/aggregate", branch=True)`` handler returning
``AggregateRoutes.resource()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import ip_address

from klein import Klein
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.iweb import IAgent, IRequest
from twisted.web.resource import IResource

from ..restless import ApiError, add_error_handling, json_reply, write_reply
from .admission import ClientBusy, Overloaded
from .fanout import Aggregator, Call
from .observe import UNWATCHED, AggregateObserver
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


#: Seconds a refused client is told to wait (``Retry-After``).
RETRY_AFTER = "1"
#: At most one log line about refused requests per this many seconds.
REFUSALS_LOG_SECONDS = 10.0


def _is_loopback(host: str) -> bool:
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def client_of(request: IRequest) -> str:
    """Who is asking: the peer's address, or a local proxy's ``X-Forwarded-For`` (the last)."""
    host = str(getattr(request.getClientAddress(), "host", "") or "")
    if _is_loopback(host):
        forwarded = request.requestHeaders.getRawHeaders(b"x-forwarded-for") or []
        if forwarded:
            last = forwarded[-1].split(b",")[-1].strip().decode("latin-1")[:64]
            if last:
                return last
    return host


class AggregateRoutes:
    """The Klein app of ``GET /aggregate``.

    Args:
        settings: the sources and limits.
        agent: the shared upstream agent (from
            :func:`~chinook_svc.aggregate.client.make_http_client`; treq's
            ``RequestTraversalAgent`` in tests).
        clock: the clock deadlines run on (the reactor in the service).
        verbose: log every aggregate request's outcome (``--debug``).
        observer: told how every upstream call ended and about every refusal.
    """

    app = Klein()
    log = Logger()

    def __init__(
        self,
        settings: AggregateSettings,
        agent: IAgent,
        clock: IReactorTime,
        *,
        verbose: bool = False,
        observer: AggregateObserver = UNWATCHED,
    ) -> None:
        self.settings = settings
        self.aggregator = Aggregator(settings, agent, clock, observer)
        self._observer = observer
        self.verbose = verbose
        self._clock = clock
        self._refused = 0
        self._refusals_logged_at: float | None = None

    def resource(self) -> IResource:
        """The ``twisted.web`` resource to mount at ``/aggregate``."""
        return self.app.resource()

    # strict_slashes=False: mounted at /aggregate, the app sees "" as well as "/".
    @app.route("/", methods=["GET"], strict_slashes=False)
    async def aggregate(self, request: IRequest) -> bytes:
        """Call the requested sources concurrently and answer with the merged report."""
        calls = plan_calls(self.settings, query_arguments(request))
        client = client_of(request)
        try:
            report = await self.aggregator.run(calls, client)
        except ClientBusy:
            self._observer.refused("client_busy")
            self._note_refusal()
            raise ApiError(
                429,
                "Too many upstream calls in flight for this client; retry shortly",
                {"Retry-After": RETRY_AFTER},
                error="client_busy",
            ) from None
        except Overloaded:
            self._observer.refused("overloaded")
            self._note_refusal()
            raise ApiError(
                503,
                "Too many upstream calls in flight; retry shortly",
                {"Retry-After": RETRY_AFTER},
                error="overloaded",
            ) from None
        if self.verbose:
            self.log.debug(
                "aggregate of {count} sources for {client}: {status} in {elapsed_ms} ms",
                count=len(calls),
                client=client,
                status=report.status,
                elapsed_ms=report.elapsed_ms,
            )
        return write_reply(request, json_reply(report.status, report.to_json(), report.headers()))

    def _note_refusal(self) -> None:
        """Count a refused request; say so in the log at most every 10 s."""
        self._refused += 1
        now = self._clock.seconds()
        last = self._refusals_logged_at
        if last is None or now - last >= REFUSALS_LOG_SECONDS:
            self.log.warn(
                "Refused {count} aggregate request(s): upstream calls in flight at the bound "
                "({used} of {limit})",
                count=self._refused,
                used=self.aggregator.budget.used,
                limit=self.settings.max_in_flight,
            )
            self._refused = 0
            self._refusals_logged_at = now

    add_error_handling(app)
