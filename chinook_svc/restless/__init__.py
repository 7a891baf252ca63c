"""A flask-restless 0.17 compatible REST engine on Twisted and Klein.

This package knows nothing about Chinook: give it a SQLAlchemy engine and
declarative models and it serves them with flask-restless's protocol
(``docs/protocol.md``), every database call in a thread pool.
"""

from .errors import ProcessingException, ValidationError
from .manager import APIManager
from .query import Limits

__all__ = ["APIManager", "Limits", "ProcessingException", "ValidationError"]
