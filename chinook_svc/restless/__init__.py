"""A flask-restless 0.17 compatible REST engine on Twisted and Klein.

This package knows nothing about Chinook: give it a SQLAlchemy engine and
declarative models and it serves them with flask-restless's protocol
(``docs/protocol.md``), every database call in a thread pool.

Its public surface is what this module exports; the modules with a leading
underscore are the engine's internals.
"""

from ._api import CollectionApi
from ._cost import url_cost
from ._dberrors import error_kind
from ._engines import (
    DatabaseHealth,
    call_deadline,
    check_database,
    create_database_engine,
    is_memory_sqlite,
    pool_size_for,
)
from ._errors import INTERNAL, ApiError, IllegalArgumentError, ProcessingException, ValidationError
from ._http import WellFormed, add_error_handling, api_request, render_reply, write_reply
from ._manager import APIManager
from ._messages import ApiRequest, Reply, error_reply, json_reply
from ._observe import CAPACITY, EXPIRED, INVALIDATED, UNOBSERVED, EngineObserver
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

__all__ = [
    "BUSY_TIMEOUT_MS",
    "CAPACITY",
    "EXPIRED",
    "INLINE_INFO_KEY",
    "INTERNAL",
    "INVALIDATED",
    "UNOBSERVED",
    "APIManager",
    "ApiError",
    "ApiRequest",
    "CollectionApi",
    "Cost",
    "DatabaseHealth",
    "DatabaseThreads",
    "EngineObserver",
    "IllegalArgumentError",
    "InlineRunner",
    "Limits",
    "Overloaded",
    "ProcessingException",
    "Reply",
    "Runner",
    "SqliteAccess",
    "ThreadPoolRunner",
    "ValidationError",
    "WellFormed",
    "add_error_handling",
    "api_request",
    "call_deadline",
    "check_database",
    "configure_sqlite",
    "create_database_engine",
    "database_threads",
    "default_queue_limit",
    "error_kind",
    "error_reply",
    "is_memory_sqlite",
    "json_reply",
    "pool_size_for",
    "render_reply",
    "url_cost",
    "write_reply",
]
