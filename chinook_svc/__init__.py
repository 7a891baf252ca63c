"""chinook_svc: a Twisted/Klein JSON REST API over SQL databases.

It speaks the flask-restless 0.17 protocol (see ``chinook_svc.restless``) and
serves the Chinook music-store sample database out of the box.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
