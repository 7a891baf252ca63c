"""The service's HTTP side: the root Klein app, mounting, request tracking.

``ChinookApp`` serves the index, ``/healthz`` and the engine under ``/api``;
``make_resource`` builds one ready to mount in any ``twisted.web`` tree.
"""

from .app import ChinookApp
from .mount import make_resource

__all__ = ["ChinookApp", "make_resource"]
