"""The fan-out ``GET /aggregate`` endpoint: many upstream calls at once on an Agent, merged.

Sources are configured on the server (``--aggregate-source NAME=URL`` or the
``[aggregate]`` table), never given by clients.  Every call of a request
starts at once (up to a per-request bound), within bounds shared fairly by all
requests and clients (:mod:`.admission`), each with its own timeout covering
connect, headers and body, a size cap (decompression included), and the
request's overall deadline; the answers are merged by source name, with
partial failures reported.

Wiring (only ``chinook_svc.tap`` picks the reactor)::

    settings = AggregateSettings.from_options(..., defaults=AggregateSettings.from_table(toml))
    settings = settings.or_demo(local_base_url(listen))
    settings = settings.within_descriptors(raise_open_file_limit().after)
    agent, pool = make_http_client(reactor, settings)
    aggregate = AggregateRoutes(settings, agent, reactor, verbose=debug)
    ConnectionPoolService(pool).setServiceParent(multi_service)  # closes idle connections
    # and mount aggregate.resource() at /aggregate
"""

from .client import ConnectionPoolService, make_http_client
from .demo import demo_sources, local_base_url
from .fdlimit import OpenFileLimit, raise_open_file_limit
from .observe import UNWATCHED, AggregateObserver
from .routes import AggregateRoutes
from .settings import AggregateSettings
from .sources import Source

__all__ = [
    "UNWATCHED",
    "AggregateObserver",
    "AggregateRoutes",
    "AggregateSettings",
    "ConnectionPoolService",
    "OpenFileLimit",
    "Source",
    "demo_sources",
    "local_base_url",
    "make_http_client",
    "raise_open_file_limit",
]
