"""chinook_svc: a Twisted/Klein JSON REST API over SQL databases.

It speaks the flask-restless 0.17 protocol (see ``chinook_svc.restless``) and
serves the Chinook music-store sample database out of the box.

Public names:

* :func:`make_resource`: the service as a ``twisted.web`` resource, to mount
  anywhere (``root.putChild(b"music", make_resource(url, reactor=reactor))``);
* :class:`ChinookApp`: the root Klein app, built from an engine, a runner and
  a clock.

Both are imported on first use, so that ``import chinook_svc`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chinook_svc._version import __version__

__all__ = ["ChinookApp", "__version__", "make_resource"]

if TYPE_CHECKING:
    from chinook_svc.web import ChinookApp, make_resource


def __getattr__(name: str) -> Any:
    if name in ("ChinookApp", "make_resource"):
        from chinook_svc import web

        return getattr(web, name)
    raise AttributeError(f"module 'chinook_svc' has no attribute {name!r}")
