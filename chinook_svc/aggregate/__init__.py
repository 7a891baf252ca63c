"""The fan-out ``GET /aggregate`` endpoint: many upstream calls at once on treq, merged.

Sources are configured on the server (``--aggregate-source NAME=URL`` or the
``[aggregate]`` table), never given by clients.  Every call runs concurrently
under a shared concurrency cap, each with its own timeout covering connect,
headers and body, a size cap, and the request's overall deadline; the answers
are merged by source name, with partial failures reported.

Wiring (only ``chinook_svc.tap`` picks the reactor)::

    settings = AggregateSettings.from_options(..., defaults=AggregateSettings.from_table(toml))
    settings = settings.or_demo(local_base_url(listen))
    http, pool = make_http_client(reactor, settings)
    aggregate = AggregateRoutes(settings, http, reactor)
    ConnectionPoolService(pool).setServiceParent(multi_service)  # closes idle connections
    # and mount aggregate.resource() at /aggregate
"""

from .client import ConnectionPoolService, make_http_client
from .demo import demo_sources, local_base_url
from .routes import AggregateRoutes
from .settings import AggregateSettings
from .sources import Source

__all__ = [
    "AggregateRoutes",
    "AggregateSettings",
    "ConnectionPoolService",
    "Source",
    "demo_sources",
    "local_base_url",
    "make_http_client",
]
