"""A flask-restless 0.17 compatible REST engine on Twisted and Klein.

This package knows nothing about Chinook: give it a SQLAlchemy engine and
declarative models and it serves them with flask-restless's protocol
(``docs/protocol.md``), every database call in a thread pool.

Its public surface is what this module exports; the modules with a leading
underscore are the engine's internals.
"""

from ._api import CollectionApi
from ._cache import ResponseCache
from ._cost import url_cost
from ._engines import (
    DatabaseHealth,
    call_deadline,
    check_database,
    create_database_engine,
    is_memory_sqlite,
    pool_size_for,
)
from ._errors import INTERNAL, ApiError, IllegalArgumentError, ProcessingException, ValidationError
from ._generations import SharedGenerations, create_table
from ._http import WellFormed, add_error_handling, api_request, render_reply, write_reply
from ._invalidation import Announcer, WatchService, invalidation_for
from ._manager import APIManager
from ._messages import ApiRequest, Reply, error_reply, json_reply
from ._query import Limits
from ._runner import (
    Cost,
    InlineRunner,
    Overloaded,
    Runner,
    ThreadPoolRunner,
    default_queue_limit,
)
from ._schema import INLINE_INFO_KEY
from ._sqlite import BUSY_TIMEOUT_MS, SqliteAccess, configure_sqlite
from ._threads import DatabaseThreads, database_threads
from ._watchers import parse_redis_url

__all__ = [
    "BUSY_TIMEOUT_MS",
    "INLINE_INFO_KEY",
    "INTERNAL",
    "APIManager",
    "Announcer",
    "ApiError",
    "ApiRequest",
    "CollectionApi",
    "Cost",
    "DatabaseHealth",
    "DatabaseThreads",
    "IllegalArgumentError",
    "InlineRunner",
    "Limits",
    "Overloaded",
    "ProcessingException",
    "Reply",
    "ResponseCache",
    "Runner",
    "SharedGenerations",
    "SqliteAccess",
    "ThreadPoolRunner",
    "ValidationError",
    "WatchService",
    "WellFormed",
    "add_error_handling",
    "api_request",
    "call_deadline",
    "check_database",
    "configure_sqlite",
    "create_database_engine",
    "create_table",
    "database_threads",
    "default_queue_limit",
    "error_reply",
    "invalidation_for",
    "is_memory_sqlite",
    "json_reply",
    "parse_redis_url",
    "pool_size_for",
    "render_reply",
    "url_cost",
    "write_reply",
]
